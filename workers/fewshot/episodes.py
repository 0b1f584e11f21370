"""Episodes for prototypical training: from simulator scenes, procedural scenes and support sets.

An episode is one micrograph: a chip grid of a random size and offset is laid over it and
K-shot support and query chips are drawn per class. Augmentations act on the whole scene
(rot90, flips, gamma/contrast, noise), so relative orientations between classes, a real class
cue, are preserved. Besides simulator scenes, training mixes in procedural texture mosaics and
scenes with a rotated half (same material, two orientations -> two classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import ndimage

from workers.fewshot.chipping import ChipGrid, chip_truth, normalise
from workers.fewshot.encoders.base import extract_chips

if TYPE_CHECKING:
    from workers.fewshot.train import TrainConfig

__all__ = [
    "Episode",
    "ScenePool",
    "augment",
    "episode_from_scene",
    "random_texture",
    "rotated_halves",
    "scaled_halves",
    "texture_mosaic",
]


@dataclass
class Episode:
    """Chips (N, 1, w, w) float32, labels (N,) int64 in 0..n_way-1, support mask (N,) bool.

    w is the chip size plus twice the encoder's context margin (``Encoder.margin``). Training
    (``train``) and fine-tuning (``finetune``) both use this type.
    """

    chips: torch.Tensor
    labels: torch.Tensor
    support: torch.Tensor

    @property
    def n_way(self) -> int:
        """Number of classes."""
        return int(self.labels.max()) + 1

    @property
    def query_labels(self) -> torch.Tensor:
        """Labels of the query chips (those not in the support), in order."""
        return self.labels[~self.support]

    def logits(self, emb: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Prototypical logits of the query chips: -scale x squared distance to each class's
        mean support embedding. ``emb`` (N, D): the embeddings of ``chips``, in order. The one
        loss of training, fine-tuning and their evaluation (cross-entropy on these)."""
        zs, ys = emb[self.support], self.labels[self.support]
        protos = torch.stack([zs[ys == k].mean(0) for k in range(self.n_way)])
        d = (emb[~self.support][:, None, :] - protos[None]).square().sum(-1)
        return -scale * d


def augment(
    image: np.ndarray, truth: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-scene augmentation of a normalised image (H, W) + truth: rot90, flip, photometric."""
    k = int(rng.integers(4))
    img, tru = np.rot90(image, k=k), np.rot90(truth, k=k)
    if rng.random() < 0.5:
        img, tru = img[:, ::-1], tru[:, ::-1]
    return _photometric(np.ascontiguousarray(img), rng), np.ascontiguousarray(tru)


def _draw(
    labels: np.ndarray,
    purity: np.ndarray,
    rng: np.random.Generator,
    *,
    k_shot: int,
    n_query: int,
    support_purity: float,
) -> tuple[list[int], list[int], list[int]] | None:
    """Pick support/query chip indices per class from flat chip labels; None if < 2 classes."""
    idx, lab, sup = [], [], []
    way = 0
    for cls in np.unique(labels):
        pure = np.flatnonzero((labels == cls) & (purity >= support_purity))
        if len(pure) < k_shot + 1:
            continue
        s = rng.choice(pure, size=k_shot, replace=False)
        rest = np.setdiff1d(np.flatnonzero(labels == cls), s)
        q = rng.choice(rest, size=min(n_query, len(rest)), replace=False)
        idx += [*s.tolist(), *q.tolist()]
        lab += [way] * (len(s) + len(q))
        sup += [True] * len(s) + [False] * len(q)
        way += 1
    return (idx, lab, sup) if way >= 2 else None


def episode_from_scene(
    image: np.ndarray,
    truth: np.ndarray,
    rng: np.random.Generator,
    *,
    chip_size: int,
    k_shot: int,
    n_query: int,
    support_purity: float = 0.85,
    do_augment: bool = True,
    normalised: bool = False,
    margin: int = 0,
) -> Episode | None:
    """One episode from a scene (H, W) with pixel truth; None when < 2 classes have enough chips.

    Chips are labelled by their own pixels; with ``margin`` each comes with that much context.
    """
    img = image if normalised else normalise(image)
    if do_augment:
        img, truth = augment(img, truth, rng)
    offset = (int(rng.integers(chip_size)), int(rng.integers(chip_size)))
    try:
        grid = ChipGrid.for_shape(img.shape, chip_size, offset)
    except ValueError:
        return None
    labels, purity = chip_truth(truth, grid, return_purity=True)
    pick = _draw(
        labels.ravel(),
        purity.ravel(),
        rng,
        k_shot=k_shot,
        n_query=n_query,
        support_purity=support_purity,
    )
    if pick is None:
        return None
    idx, lab, sup = pick
    chips, _ = extract_chips(
        torch.from_numpy(img), chip_size=chip_size, offset=offset, margin=margin
    )
    return Episode(chips[torch.tensor(idx)].clone(), torch.tensor(lab), torch.tensor(sup))


def _photometric(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma, contrast/offset and additive-noise jitter of a normalised image."""
    x = np.clip(x, 0, 1) ** float(np.exp(rng.normal(0, 0.25)))
    x = (x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.1, 0.1)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0, 0.06), size=x.shape)
    return x.astype(np.float32)


def random_texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A random stationary texture (H, W), zero mean and unit std.

    Gaussian noise through an anisotropic band-pass (random scale, bandwidth, orientation,
    elongation) and a random point non-linearity (none, abs, threshold, exp, cube): grains,
    fibres, blobs, cells. Procedural, so no test texture is ever seen in training.
    """
    h, w = shape
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    t = rng.uniform(0, np.pi)
    u, v = fx * np.cos(t) + fy * np.sin(t), -fx * np.sin(t) + fy * np.cos(t)
    f0 = float(np.exp(rng.uniform(np.log(0.015), np.log(0.3))))
    r = np.sqrt(u**2 + (rng.uniform(1, 4) * v) ** 2)
    bw = rng.uniform(0.2, 1.0) * f0
    spectrum = np.fft.rfft2(rng.normal(size=shape)) * np.exp(
        -((r - f0 * rng.uniform(0, 1)) ** 2) / (2 * bw**2)
    )
    x = np.fft.irfft2(spectrum, s=shape)
    x = (x - x.mean()) / (x.std() + 1e-12)
    kind = int(rng.integers(5))
    if kind == 1:
        x = np.abs(x)
    elif kind == 2:
        x = (x > rng.uniform(-0.8, 0.8)).astype(np.float64)
    elif kind == 3:
        x = np.exp(x)
    elif kind == 4:
        x = x**3
    return ((x - x.mean()) / (x.std() + 1e-12)).astype(np.float32)


def texture_mosaic(
    rng: np.random.Generator, *, size: tuple[int, int] = (256, 256)
) -> SimpleNamespace:
    """A scene of 2-4 random textures with equal mean/std in Voronoi cells (image, truth)."""
    h, w = size
    n = int(rng.integers(2, 5))
    seeds = rng.uniform(0, 1, (int(rng.integers(n, 3 * n + 1)), 2)) * (h, w)
    owner = rng.permutation(np.arange(len(seeds)) % n)
    yy, xx = np.indices(size)
    nearest = ((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2).argmin(-1)
    truth = owner[nearest].astype(np.int32)
    textures = np.stack([random_texture(rng, size) for _ in range(n)])
    image = np.take_along_axis(textures, truth[None], 0)[0]
    image = image + rng.normal(0, rng.uniform(0, 0.5), size)
    return SimpleNamespace(image=image.astype(np.float32), truth=truth)


def _half_plane_merge(
    base: tuple[np.ndarray, np.ndarray],
    other: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Show ``other`` on a random half-plane over ``base`` (same shape); its classes get new ids."""
    (image, truth), (img2, tru2) = base, other
    h, w = image.shape
    yy, xx = np.indices((h, w))
    phi = rng.uniform(0, np.pi)
    cy, cx = rng.uniform(0.3, 0.7, 2) * (h, w)
    side = (xx - cx) * np.cos(phi) + (yy - cy) * np.sin(phi) > 0
    n = int(truth.max()) + 1
    img = np.where(side, img2, image).astype(np.float32)
    return img, np.where(side, tru2 + n, truth).astype(np.int32)


def rotated_halves(
    image: np.ndarray, truth: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Same material, two orientations: a half-plane shows the scene rotated by 3-25 degrees.

    Classes of the rotated half get new ids, so episodes must tell orientations apart (lattice
    domains, twins). Both images are cropped to the central square free of rotation borders.
    """
    theta = float(rng.uniform(3, 25) * rng.choice([-1, 1]))
    rot = ndimage.rotate(image, theta, reshape=False, order=1)
    rot_truth = ndimage.rotate(truth, theta, reshape=False, order=0)
    h, w = image.shape
    keep = int(min(h, w) / (np.cos(np.radians(abs(theta))) + np.sin(np.radians(abs(theta))))) - 2
    y0, x0 = (h - keep) // 2, (w - keep) // 2
    crop = (slice(y0, y0 + keep), slice(x0, x0 + keep))
    return _half_plane_merge((image[crop], truth[crop]), (rot[crop], rot_truth[crop]), rng)


def scaled_halves(
    image: np.ndarray, truth: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Same material, two lattice spacings: a half-plane shows the scene magnified 5-20 %.

    Classes of the magnified half get new ids (strained / different-parameter domains).
    """
    f = float(rng.uniform(1.05, 1.2))
    h, w = image.shape
    big = ndimage.zoom(image, f, order=1)
    big_truth = ndimage.zoom(truth, f, order=0)
    y0, x0 = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    crop = (slice(y0, y0 + h), slice(x0, x0 + w))
    return _half_plane_merge((image, truth), (big[crop], big_truth[crop]), rng)


class ScenePool:
    """Normalised simulator scenes kept in memory, so one scene serves many episodes (random crops).

    Scene generation dominates an episode's cost; each training step replaces one scene.
    """

    def __init__(
        self, cfg: TrainConfig, source: Callable, rng: np.random.Generator, n: int
    ) -> None:
        self.cfg, self.source = cfg, source
        self.scenes = [self._new(rng) for _ in range(n)]

    def _new(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        side = self.cfg.pool_scene_size
        if rng.random() < self.cfg.textures:
            scene = texture_mosaic(rng, size=(side, side))
        else:
            scene = self.source(rng, size=(side, side))
        image = normalise(scene.image)
        # guarded so that a zero fraction leaves the random stream (and old runs) unchanged
        if self.cfg.invert_fraction > 0 and rng.random() < self.cfg.invert_fraction:
            image = 1.0 - image  # bright field: the same scene in inverted contrast
        return image, np.ascontiguousarray(scene.truth)

    def refresh(self, rng: np.random.Generator) -> None:
        """Replace a random scene by a new one."""
        self.scenes[int(rng.integers(len(self.scenes)))] = self._new(rng)

    def episodes(self, rng: np.random.Generator, *, chip_size: int, n: int) -> list[Episode]:
        """``n`` episodes of one chip size, each from a random crop of a random pooled scene."""
        cfg = self.cfg
        side = int(np.clip(cfg.chips_per_side * chip_size, *cfg.crop_size))
        out: list[Episode] = []
        for _ in range(50 * n):
            img, truth = self.scenes[int(rng.integers(len(self.scenes)))]
            if rng.random() < cfg.rotate_fraction:
                img, truth = rotated_halves(img, truth, rng)
            # guarded so that a zero fraction leaves the random stream (and old runs) unchanged
            elif cfg.scale_fraction > 0 and rng.random() < cfg.scale_fraction:
                img, truth = scaled_halves(img, truth, rng)
            h = min(side, img.shape[0])
            w = min(side, img.shape[1])
            y, x = int(rng.integers(img.shape[0] - h + 1)), int(rng.integers(img.shape[1] - w + 1))
            ep = episode_from_scene(
                img[y : y + h, x : x + w],
                truth[y : y + h, x : x + w],
                rng,
                chip_size=chip_size,
                k_shot=int(rng.integers(cfg.k_shot[0], cfg.k_shot[1] + 1)),
                n_query=cfg.n_query,
                support_purity=cfg.support_purity,
                normalised=True,
                margin=cfg.arch.margin(chip_size),
            )
            if ep is not None:
                out.append(ep)
            if len(out) == n:
                return out
        raise RuntimeError(
            f"could not draw {n} episodes with {chip_size}px chips from the scene pool"
        )
