"""Fine-tuning data: support sets split into train / held-out, chips cut once per image
(pools), and episodes drawn from them (with photometric / geometric augmentation)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from workers.fewshot.chipping import normalise
from workers.fewshot.encoders.base import extract_chips
from workers.fewshot.episodes import Episode

#: (image (H, W), grid, {class: [(row, col), ...]}) with an optional 4th element, a group key:
#: episodes never mix groups (e.g. one group per support-set version, so that two labs'
#: "vacuum" classes are never asked to be told apart). Without it the group is the chip size.
SupportSet = tuple


@dataclass
class Pool:
    """Labelled chips of one chip size: per image, {class: (n, 1, w, w) normalised windows}.

    w = chip_size + 2 * margin: the chip and the context the encoder reads around it.
    """

    chip_size: int
    margin: int = 0
    images: list[dict[int, torch.Tensor]] = field(default_factory=list)
    #: per image: (normalised image (H, W), {class: (n, 2) chip origins (y0, x0)}), so that
    #: "rotate" augmentation can resample chips at any angle from their surroundings
    sources: list[tuple[torch.Tensor, dict[int, torch.Tensor]]] = field(default_factory=list)

    def class_counts(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for per_class in self.images:
            for cls, chips in per_class.items():
                out[cls] = out.get(cls, 0) + len(chips)
        return out

    def usable(self) -> bool:
        return sum(n >= 2 for n in self.class_counts().values()) >= 2


# --- data --------------------------------------------------------------------------------
def split_support_sets(
    sets: Sequence[SupportSet], *, holdout_fraction: float = 0.25, seed: int = 0
) -> tuple[list[SupportSet], list[SupportSet]]:
    """Split labelled chips into a training and a held-out part.

    With >= 3 images, whole images are held out (tried over a few shuffles until both parts
    have >= 2 classes with >= 2 chips); otherwise chips are split per class (classes with
    < 4 chips stay in training only). Raises ValueError when no valid split exists.
    """
    rng = np.random.default_rng(seed)
    if len(sets) >= 3:
        n_hold = max(1, round(holdout_fraction * len(sets)))
        for _ in range(32):
            order = rng.permutation(len(sets))
            hold = [sets[i] for i in order[:n_hold]]
            train = [sets[i] for i in order[n_hold:]]
            if _valid(hold) and _valid(train):
                return train, hold
    train_sets, hold_sets = [], []
    totals: dict[int, int] = {}
    for s in sets:
        for cls, rc in s[2].items():
            totals[int(cls)] = totals.get(int(cls), 0) + len(rc)
    flat = [
        (i, int(cls), rc) for i, s in enumerate(sets) for cls, rcs in s[2].items() for rc in rcs
    ]
    chosen: set[tuple[int, int, tuple[int, int]]] = set()
    for cls, total in totals.items():
        if total < 4:
            continue
        items = [f for f in flat if f[1] == cls]
        n_h = min(total - 2, max(2, round(holdout_fraction * total)))
        for j in rng.permutation(len(items))[:n_h]:
            chosen.add((items[j][0], cls, tuple(items[j][2])))
    for i, (image, grid, support, *rest) in enumerate(sets):
        tr = {
            int(c): [tuple(rc) for rc in rcs if (i, int(c), tuple(rc)) not in chosen]
            for c, rcs in support.items()
        }
        ho = {
            int(c): [tuple(rc) for rc in rcs if (i, int(c), tuple(rc)) in chosen]
            for c, rcs in support.items()
        }
        if any(tr.values()):
            train_sets.append((image, grid, {c: v for c, v in tr.items() if v}, *rest))
        if any(ho.values()):
            hold_sets.append((image, grid, {c: v for c, v in ho.items() if v}, *rest))
    if not (_valid(hold_sets) and _valid(train_sets)):
        raise ValueError(
            "not enough labelled chips for a held-out split: at least two classes need "
            "4 or more chips"
        )
    return train_sets, hold_sets


def _valid(sets: Sequence[SupportSet]) -> bool:
    counts: dict[int, int] = {}
    for s in sets:
        for cls, rc in s[2].items():
            counts[int(cls)] = counts.get(int(cls), 0) + len(rc)
    return sum(n >= 2 for n in counts.values()) >= 2


def build_pools(
    sets: Sequence[SupportSet], margin: Callable[[int], int] = lambda chip_size: 0
) -> dict:
    """Cut the labelled chips of each image once: {group key: Pool}.

    ``margin(chip_size)`` is the context the encoder reads around a chip (``Encoder.margin``).
    """
    pools: dict = {}
    for image, grid, support, *rest in sets:
        img = normalise(np.asarray(image, dtype=np.float32))
        if img.ndim == 3:
            img = img[0]
        m = margin(grid.chip_size)
        chips, _ = extract_chips(
            torch.from_numpy(np.ascontiguousarray(img)),
            chip_size=grid.chip_size,
            offset=grid.offset,
            margin=m,
        )
        per_class, origins = {}, {}
        for cls, rc in support.items():
            if rc:
                rows = torch.tensor([grid.index(r, c) for r, c in rc])
                per_class[int(cls)] = chips[rows].clone()
                origins[int(cls)] = (
                    torch.tensor([grid.chip_box(r, c)[:2] for r, c in rc], dtype=torch.float32) - m
                )
        key = rest[0] if rest else grid.chip_size
        pool = pools.setdefault(key, Pool(grid.chip_size, m))
        pool.images.append(per_class)
        pool.sources.append((torch.from_numpy(np.ascontiguousarray(img)), origins))
    return {s: p for s, p in pools.items() if p.class_counts()}


AUGMENTS = ("photometric", "rotate", "geometric", "none")
TRAINABLE = ("head", "all")
SCOPES = ("image", "pool")


def _augment(chips: torch.Tensor, k: int, flip: bool, jitter: tuple[float, ...]) -> torch.Tensor:
    """rot90 ``k`` / flip (shared by the whole episode), then photometric ``jitter``
    (gamma, contrast, offset: drawn once per image, so that classes of one image keep their
    contrast relation and cannot be told apart by the jitter itself)."""
    x = torch.rot90(chips, k=k, dims=(-2, -1)) if k else chips
    if flip:
        x = x.flip(-1)
    gamma, contrast, offset = jitter
    x = x.clamp(0, 1) ** gamma
    return (x - 0.5) * contrast + 0.5 + offset


def _rotated_chips(
    image: torch.Tensor, origins: torch.Tensor, size: int, angle: float
) -> torch.Tensor:
    """Chips (n, 1, size, size) resampled from ``image`` about the chip centres, rotated by
    ``angle`` (radians; bilinear, border padding)."""
    h, w = image.shape
    u = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    vy, vx = torch.meshgrid(u, u, indexing="ij")
    c, s = math.cos(angle), math.sin(angle)
    ry, rx = c * vy + s * vx, -s * vy + c * vx
    cy = origins[:, 0, None, None] + (size - 1) / 2 + ry
    cx = origins[:, 1, None, None] + (size - 1) / 2 + rx
    grid = torch.stack([2 * cx / (w - 1) - 1, 2 * cy / (h - 1) - 1], dim=-1)
    src = image[None, None].expand(len(origins), 1, h, w)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _jitter(rng: np.random.Generator) -> tuple[float, float, float]:
    return (
        float(np.exp(rng.normal(0, 0.2))),
        float(rng.uniform(0.8, 1.2)),
        float(rng.uniform(-0.05, 0.05)),
    )


def _usable(per_class: dict[int, torch.Tensor]) -> bool:
    return sum(len(c) >= 2 for c in per_class.values()) >= 2


def make_episodes(
    pools: dict,
    rng: np.random.Generator,
    *,
    n: int,
    k_shot: int,
    n_query: int,
    augment: bool | str,
    scope: str = "image",
) -> list[Episode]:
    """``n`` episodes, each from one group (groups drawn in proportion to their chips).

    ``augment``: False / "none", "photometric" (per-image intensity jitter only) or True /
    "geometric" (also one rot90 / flip shared by the whole episode).
    ``scope``: "image" draws the support and query chips of an episode from one image, like
    segmenting one micrograph (a class's absolute orientation, contrast or dose may differ
    between micrographs, so pooling images can pose a task segmentation never meets); groups
    with no image holding two classes of >= 2 chips fall back to "pool" (chips of the
    group's images pooled per class).
    """
    mode = {True: "geometric", False: "none"}.get(augment, augment)  # type: ignore[arg-type]
    if mode not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, not {augment!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
    usable = [p for p in pools.values() if p.usable()]
    if not usable:
        raise ValueError("support sets need at least two classes with >= 2 chips each")
    weights = np.array([sum(p.class_counts().values()) for p in usable], dtype=float)
    out = []
    for _ in range(n):
        pool = usable[int(rng.choice(len(usable), p=weights / weights.sum()))]
        images = pool.images
        if scope == "image":
            single = [im for im in pool.images if _usable(im)]
            if single:
                w = np.array([sum(len(c) for c in im.values()) for im in single], dtype=float)
                images = [single[int(rng.choice(len(single), p=w / w.sum()))]]
        per_class: dict[int, list[torch.Tensor]] = {}
        # one geometric transform per episode: orientation differences between classes (and
        # between images of one class) are real cues and must survive augmentation
        k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        if mode in ("photometric", "rotate"):
            k, flip = 0, False
        for image in images:
            jitter = _jitter(rng)
            angle = float(rng.uniform(0, 2 * math.pi))
            idx = next(i for i, im in enumerate(pool.images) if im is image)
            src = pool.sources[idx] if mode == "rotate" and pool.sources else None
            for cls, chips in image.items():
                if src is not None:
                    size = pool.chip_size + 2 * pool.margin
                    chips = _rotated_chips(src[0], src[1][cls], size, angle)
                per_class.setdefault(cls, []).append(
                    chips if mode == "none" else _augment(chips, k, flip, jitter)
                )
        chips_l, labels, sup = [], [], []
        way = 0
        for cls in sorted(per_class):
            c = torch.cat(per_class[cls])
            if len(c) < 2:
                continue
            c = c[torch.from_numpy(rng.permutation(len(c)))]
            k = min(k_shot, len(c) - 1)
            q = min(n_query, len(c) - k)
            chips_l.append(c[: k + q])
            labels += [way] * (k + q)
            sup += [True] * k + [False] * q
            way += 1
        out.append(Episode(torch.cat(chips_l), torch.tensor(labels), torch.tensor(sup)))
    return out
