"""Episodic fine-tuning of a trained encoder on labelled support sets, with a held-out split.

    sets = [(image (H, W), ChipGrid, {class_id: [(row, col), ...]}), ...]
    train_sets, held_out = split_support_sets(sets, holdout_fraction=0.25, seed=0)
    result = finetune(encoder, train_sets, held_out, FinetuneConfig(epochs=10))
    result.encoder            # a fine-tuned copy (the input encoder is not modified)
    evaluate_encoder(other, result.holdout)  # the same held-out episodes, any encoder

Chips are cut once per image (only the labelled ones). An episode picks one group (chip size)
and, by default, one image of it (scope="image": a class's absolute orientation or contrast may
differ between micrographs, and segmentation classifies one micrograph at a time), and splits
each class's chips into support (<= k_shot, leaving a query) and query chips. Training episodes
get photometric jitter drawn once per image (augment="photometric"; no rot90 / flips by
default: orientation and handedness are often exactly what separates a lab's classes).
By default only the head trains (conv trunk frozen), and BatchNorm statistics and affine
weights stay frozen (eval mode): support sets are far too small to re-estimate them. The epoch
kept is the one best on held-out images (select="both": higher accuracy AND lower NLL).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workers.fewshot.chipping import normalise
from workers.fewshot.encoders.base import Encoder, extract_chips
from workers.fewshot.episodes import Episode
from workers.fewshot.pipeline import torch_threads

__all__ = [
    "FinetuneConfig",
    "FinetuneResult",
    "Pool",
    "SupportSet",
    "build_pools",
    "evaluate_encoder",
    "finetune",
    "make_episodes",
    "split_support_sets",
    "trainable_module",
]

#: (image (H, W), grid, {class: [(row, col), ...]}) with an optional 4th element, a group key:
#: episodes never mix groups (e.g. one group per support-set version, so that two labs'
#: "vacuum" classes are never asked to be told apart). Without it the group is the chip size.
SupportSet = tuple


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning options (all randomness derives from ``seed``)."""

    epochs: int = 10
    episodes_per_epoch: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-4
    k_shot: int = 3
    n_query: int = 12
    holdout_fraction: float = 0.25
    holdout_episodes: int = 16
    seed: int = 0
    threads: int = 2
    #: training-episode augmentation: "photometric" (gamma / contrast / offset jitter per image,
    #: no geometry: orientation and handedness are often the very cue that separates a lab's
    #: classes, e.g. rotated domains or twins), "geometric" (photometric plus one rot90 / flip
    #: per episode) or "none"
    augment: str = "photometric"
    #: which weights train: "head" (everything after the conv trunk: spectral / statistics
    #: MLPs, the fusion head, the Fourier-descriptor weight and the temperature; the conv trunk
    #: and all BatchNorm layers stay frozen) or "all"
    trainable: str = "head"
    #: episodes draw support and query chips from one image ("image", as when segmenting a
    #: micrograph) or pool each class's chips over images ("pool"); see make_episodes
    scope: str = "image"
    #: model selection on the held-out episodes: "both" or "acc" (see _better)
    select: str = "both"

    def to_json(self) -> dict:
        return asdict(self)


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


@dataclass
class FinetuneResult:
    encoder: Encoder
    history: list[dict]
    best: dict
    before: dict
    holdout: list[Episode]
    seconds: float
    stopped: bool = False


def trainable_module(encoder: Encoder) -> nn.Module:
    """The nn.Module holding an encoder's learned weights; ValueError for training-free ones."""
    for attr in ("net", "model"):
        module = getattr(encoder, attr, None)
        if isinstance(module, nn.Module) and any(True for _ in module.parameters()):
            return module
    raise ValueError(f"the {encoder.name!r} encoder has no trainable weights")


def trainable_parameters(encoder: Encoder, module: nn.Module, mode: str) -> list[nn.Parameter]:
    """The parameters fine-tuning updates (see ``FinetuneConfig.trainable``).

    "head": BatchNorm layers always stay frozen; for the default encoder's ChipNet the conv
    trunk too (its spectral / statistics MLPs, fusion head, Fourier weight and temperature
    train); for a ResNet only the last stage used for the embedding (``cfg.layer``) trains.
    """
    if mode not in TRAINABLE:
        raise ValueError(f"trainable must be one of {TRAINABLE}, not {mode!r}")
    if mode == "all":
        return list(module.parameters())
    frozen = {
        id(p)
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
    }
    layer = getattr(getattr(encoder, "cfg", None), "layer", None)
    if isinstance(getattr(module, "cnn", None), nn.Module):
        frozen |= {id(p) for p in module.cnn.parameters()}
    elif isinstance(layer, str) and isinstance(getattr(module, layer, None), nn.Module):
        keep = {id(p) for p in getattr(module, layer).parameters()}
        frozen |= {id(p) for p in module.parameters() if id(p) not in keep}
    out = [p for p in module.parameters() if id(p) not in frozen]
    if not out:
        raise ValueError(f"the {encoder.name!r} encoder has no trainable head weights")
    return out


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


# --- loss and evaluation -----------------------------------------------------------------
def _fixed_scale(encoder: Encoder, emb: torch.Tensor, ep: Episode) -> torch.Tensor:
    """The encoder's trained inverse temperature, or 1 / mean query-prototype distance."""
    t = encoder.default_temperature
    if t:
        return torch.tensor(1.0 / t)
    d = -ep.logits(emb, torch.tensor(1.0))
    return 1.0 / d.mean().clamp_min(1e-6)


@torch.inference_mode()
def evaluate_encoder(encoder: Encoder, episodes: Sequence[Episode]) -> dict[str, float]:
    """Query accuracy and NLL of prototypical classification over fixed episodes."""
    accs, losses, n = [], [], 0
    for ep in episodes:
        emb = encoder.embed_chips(ep.chips.to(encoder.device)).float().cpu()
        logits = ep.logits(emb, _fixed_scale(encoder, emb, ep))
        yq = ep.query_labels
        accs.append(float((logits.argmax(1) == yq).float().mean()))
        losses.append(float(F.cross_entropy(logits, yq)))
        n += len(yq)
    return {
        "acc": float(np.mean(accs)),
        "loss": float(np.mean(losses)),
        "episodes": len(episodes),
        "queries": n,
    }


# --- training ----------------------------------------------------------------------------
def _better(v: dict, best: dict, select: str) -> bool:
    """Model selection on the held-out episodes: "acc" (ties broken by lower NLL) or "both"
    (higher accuracy AND lower NLL: with small held-out sets an accuracy gain of a query or two
    alone is often noise, and a lower NLL at equal accuracy can be a sharper temperature only)."""
    if select == "both":
        return v["acc"] > best["holdout_acc"] and v["loss"] < best["holdout_loss"]
    return (v["acc"], -v["loss"]) > (best["holdout_acc"], -best["holdout_loss"])


def finetune(
    encoder: Encoder,
    train_sets: Sequence[SupportSet],
    holdout_sets: Sequence[SupportSet],
    cfg: FinetuneConfig,
    *,
    callback: Callable[[int, dict], bool] | None = None,
) -> FinetuneResult:
    """Fine-tune a copy of ``encoder``; keeps the epoch with the best held-out accuracy.

    ``callback(epoch, row)`` is called after every epoch with the history row; returning False
    stops training (cancellation). Epoch 0 is the base encoder. Torch runs on ``cfg.threads``
    threads meanwhile; the process's setting is restored after.
    """
    with torch_threads(cfg.threads):
        return _finetune(encoder, train_sets, holdout_sets, cfg, callback=callback)


def _finetune(
    encoder: Encoder,
    train_sets: Sequence[SupportSet],
    holdout_sets: Sequence[SupportSet],
    cfg: FinetuneConfig,
    *,
    callback: Callable[[int, dict], bool] | None,
) -> FinetuneResult:
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    enc = copy.deepcopy(encoder)
    module = trainable_module(enc)
    module.eval()
    params = trainable_parameters(enc, module, cfg.trainable)
    if cfg.augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, not {cfg.augment!r}")
    if cfg.select not in ("acc", "both"):
        raise ValueError(f"select must be 'acc' or 'both', not {cfg.select!r}")
    for p in module.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    train_pools = build_pools(train_sets, enc.margin)
    holdout = make_episodes(
        build_pools(holdout_sets, enc.margin),
        np.random.default_rng(cfg.seed + 7919),
        n=cfg.holdout_episodes,
        k_shot=cfg.k_shot,
        n_query=cfg.n_query,
        augment=False,
        scope=cfg.scope,
    )
    before = evaluate_encoder(enc, holdout)
    log_scale = getattr(module, "log_scale", None)
    if not isinstance(log_scale, nn.Parameter):
        first = make_episodes(
            train_pools,
            np.random.default_rng(cfg.seed),
            n=1,
            k_shot=cfg.k_shot,
            n_query=cfg.n_query,
            augment=False,
        )[0]
        with torch.no_grad():
            emb = enc.embed_chips(first.chips.to(enc.device)).float()
            d = -first.logits(emb.cpu(), torch.tensor(1.0)).mean()
        log_scale = nn.Parameter(torch.tensor(-math.log(max(float(d), 1e-6)) + math.log(4.0)))
        params.append(log_scale)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    best_state = copy.deepcopy(module.state_dict())
    best = {"epoch": 0, "holdout_acc": before["acc"], "holdout_loss": before["loss"]}
    history = [
        {
            "epoch": 0,
            "train_loss": None,
            "train_acc": None,
            "holdout_loss": before["loss"],
            "holdout_acc": before["acc"],
            "seconds": 0.0,
        }
    ]
    stopped = False
    if callback is not None and callback(0, history[0]) is False:
        stopped = True
    for epoch in range(1, cfg.epochs + 1):
        if stopped:
            break
        losses, accs = [], []
        for ep in make_episodes(
            train_pools,
            rng,
            n=cfg.episodes_per_epoch,
            k_shot=cfg.k_shot,
            n_query=cfg.n_query,
            augment=cfg.augment,
            scope=cfg.scope,
        ):
            emb = enc.embed_chips(ep.chips.to(enc.device)).float().cpu()
            logits = ep.logits(emb, log_scale.exp().cpu())
            yq = ep.query_labels
            value = F.cross_entropy(logits, yq)
            opt.zero_grad(set_to_none=True)
            value.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            losses.append(float(value.detach()))
            accs.append(float((logits.argmax(1) == yq).float().mean()))
        module.eval()
        v = evaluate_encoder(enc, holdout)
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "train_acc": float(np.mean(accs)),
            "holdout_loss": v["loss"],
            "holdout_acc": v["acc"],
            "seconds": round(time.perf_counter() - t0, 3),
        }
        history.append(row)
        if _better(v, best, cfg.select):
            best = {"epoch": epoch, "holdout_acc": v["acc"], "holdout_loss": v["loss"]}
            best_state = copy.deepcopy(module.state_dict())
        if callback is not None and callback(epoch, row) is False:
            stopped = True
    module.load_state_dict(best_state)
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    return FinetuneResult(
        encoder=enc,
        history=history,
        best=best,
        before=before,
        holdout=holdout,
        seconds=time.perf_counter() - t0,
        stopped=stopped,
    )
