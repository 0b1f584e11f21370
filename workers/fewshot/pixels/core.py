"""pixel_map: one frame's chip segmentation to full-resolution labels and confidence;
chip_shares: each chip's share of the classes in a pixel map."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from workers.fewshot.boundary import FrameSpectrum
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.objects.kinds import kind_per_object
from workers.fewshot.pixels.classifier import (
    background_outliers,
    blend,
    blob_excess,
    interior,
    lda,
    log_lik,
)
from workers.fewshot.pixels.edges import refine_object_edges
from workers.fewshot.pixels.features import PixelConfig, PixelFeatures, Support, gauss
from workers.fewshot.pixels.upsample import full_resolution, spot_field

if TYPE_CHECKING:
    from workers.fewshot.pipeline import Segmentation

#: the background's noise test (``classifier.background_outliers``): hysteresis thresholds
#: in robust spreads of the background's fine intensity, the share of a spot's peak that
#: bounds it, and the margin (log odds) its samples get over the background. Chosen on the
#: seen particle scenes (bench.objects, bench.pixels): (3, 6) over (4, 7) and (3, 8)
#: (particles_mixed_thickness 59 vs 46 and 40 of 74 particles), 0.15 over 0.5 (pixel mIoU
#: 0.702 vs 0.688 at k = 3) and over 0 (same mIoU, a sharp disc's rim no longer grows).
BACKGROUND_Z = (3.0, 6.0)
BACKGROUND_PEAK = 0.15
BACKGROUND_MARGIN = 1.0


@dataclass
class PixelMap:
    """labels (H, W) int16 class ids, -1 outside the area the grid covers; confidence (H, W)
    float32 in [0, 1], 0 outside; classes: the ids; timings (s)."""

    labels: np.ndarray
    confidence: np.ndarray
    classes: tuple[int, ...]
    timings: dict[str, float]


def pixel_map(
    frame: np.ndarray,
    seg: Segmentation,
    *,
    frequencies: np.ndarray | None,
    support: Support | None = None,
    config: PixelConfig | None = None,
    spectrum: FrameSpectrum | None = None,
    features: PixelFeatures | None = None,
    object_classes: Sequence[int] = (),
    object_kinds: Sequence[int] = (),
) -> PixelMap:
    """Full-resolution labels and confidence for one frame from its chip segmentation.

    frame: the normalised frame (H, W) that ``seg.grid`` cuts (``Embedded.frames[0]``).
    seg: a ``pipeline.Segmentation`` of that frame (labels, probs, confidence, grid, classes).
    frequencies: the support chips' spectral peaks (F, 2) (``Segmenter.frequencies``, or
        ``frequencies.support_frequencies``); None or empty: no Gabor features.
    support: the clicked chips {class id: [(row, col)]} on this grid; they train the pixel
        classifier whatever their predicted label.
    spectrum: ``boundary.frame_spectrum(frame, seg.grid)`` where already computed.
    features: ``PixelFeatures(seg.grid, config=config)`` kept from an earlier map of the
        frame (it keeps the features computed here).
    object_classes: classes marked as objects (particles): their edges are moved to where the
        frame's intensity crosses between them and their surroundings (half the contrast to
        join, a quarter to stay: ``edges.refine_object_edges``).
    object_kinds: classes that are kinds of object (particles of several kinds): with two or
        more of them in the map, every particle gets one kind from its pixels and its shape
        and intensity profile (``objects.kinds``); a relabelled pixel's confidence is at most
        its particle's posterior for the new kind.
    """
    cfg = config or PixelConfig()
    t0 = time.perf_counter()
    grid: ChipGrid = seg.grid
    classes = tuple(int(k) for k in seg.classes)
    K = len(classes)
    if features is None:
        features = PixelFeatures(grid, config=cfg)
    elif not features.fits(grid, cfg):
        raise ValueError(f"pixel features of grid {features.grid} used for grid {grid}")
    n = features.samples
    R, C = grid.rows, grid.cols
    h, w = R * n, C * n
    freqs = np.zeros((0, 2)) if frequencies is None else np.asarray(frequencies).reshape(-1, 2)
    x = features.matrix(frame, freqs, spectrum)  # (F, N) standardised
    t_feat = time.perf_counter()

    ytrain = _training_labels(seg, classes, support, cfg, n)
    ll, class_means = _fit_log_lik(x, ytrain, K, cfg)
    ll = ll.reshape(K, h, w)
    t_fit = time.perf_counter()

    score = _scores(ll, seg, cfg, (h, w))
    if class_means is not None and K > 1:
        _background_outliers(score, x[0], ytrain)
    # a compact spot that stands out of its class towards another (a faint particle in a
    # confident support chip, which neither the chip nor the pixel classifier calls a
    # particle) is not shown as certain: the whole spot, to its own outline, gets about 1 / 2
    spots = None
    if class_means is not None and cfg.blob_z > 0:
        z = blob_excess(x, score.reshape(K, h * w).argmax(0), class_means).reshape(h, w)
        spots = spot_field(z, cfg.blob_z, cfg.blob_extent, cfg.blob_snr)

    # full resolution: bilinearly upsampled scores give the labels and, from the margin
    # between the best two classes, the confidence (the posterior for two classes, an upper
    # bound of it for more)
    full, conf = full_resolution(score, spots, (R * grid.chip_size, C * grid.chip_size))
    labels, confidence = _on_frame(full, conf, grid, classes)
    t_map = time.perf_counter()
    present = [k for k in object_classes if k in classes]
    if present and len(present) < K:
        refine_object_edges(labels, confidence, frame, grid, present)
    t_edges = time.perf_counter()
    kinds = [k for k in object_kinds if k in classes]
    if len(kinds) >= 2:
        labels, posterior = kind_per_object(labels, frame, grid, support, kinds)
        confidence = np.minimum(confidence, posterior)
    stamps = {"features": t_feat, "fit": t_fit, "map": t_map, "edges": t_edges}
    timings = _laps(t0, {**stamps, "objects": time.perf_counter()})
    return PixelMap(labels, confidence, classes, timings)


def _laps(t0: float, stamps: dict[str, float]) -> dict[str, float]:
    """Seconds per stage from the time each ended (in order, the first began at ``t0``), and
    the total."""
    ends = list(stamps.values())
    starts = [t0, *ends[:-1]]
    laps = {k: round(e - b, 4) for k, e, b in zip(stamps, ends, starts, strict=True)}
    return {**laps, "total": round(ends[-1] - t0, 4)}


def _training_labels(
    seg: Segmentation, classes: tuple[int, ...], support: Support | None, cfg: PixelConfig, n: int
) -> np.ndarray:
    """Each sample's training class column (flat, -1 = not a training sample): the support
    chips' and the confident interior chips' samples."""
    col_of = {k: i for i, k in enumerate(classes)}
    chip_col = np.searchsorted(np.asarray(classes), np.asarray(seg.labels))
    train = np.full(chip_col.shape, -1)
    keep = (np.asarray(seg.confidence) >= cfg.confident) & interior(chip_col)
    train[keep] = chip_col[keep]
    for k, chips in (support or {}).items():
        for r, c in chips:
            train[r, c] = col_of[int(k)]
    return np.repeat(np.repeat(train, n, 0), n, 1).ravel()


def _fit_log_lik(
    x: np.ndarray, ytrain: np.ndarray, K: int, cfg: PixelConfig
) -> tuple[np.ndarray, np.ndarray | None]:
    """The pixel classifier's log likelihoods (K, N) of every sample, and its class means
    (None where no sample trains it: then the log likelihoods are all 0)."""
    idx = np.flatnonzero(ytrain >= 0)
    if len(idx) > 40_000:  # a fixed, evenly spread subsample: deterministic
        idx = idx[:: len(idx) // 40_000 + 1]
    if not idx.size:  # no training pixel (no support chip or confident interior chip here):
        # the chip map alone decides
        return np.zeros((K, x.shape[1]), np.float32), None
    xs = np.ascontiguousarray(x[:, idx])
    xi, yi = xs.T.astype(np.float64), ytrain[idx]
    means, white, white_diagonal = lda(xi, yi, K, cfg.shrinkage)
    # second pass: a mixed training chip (a particle chip is partly support) keeps only the
    # pixels that look like its class
    agree = log_lik(xs, means, white).argmax(0) == yi
    if agree.sum() > 10 * x.shape[0]:
        means2, white2, diagonal2 = lda(xi[agree], yi[agree], K, cfg.shrinkage)
        if np.isfinite(means2[:, 0]).sum() == np.isfinite(means[:, 0]).sum():
            means, white, white_diagonal = means2, white2, diagonal2
    if cfg.diagonal > 0:
        white = blend(white, white_diagonal, cfg.diagonal)
    ll = log_lik(x, means, white)
    missing = ~np.isfinite(ll[:, 0])
    if missing.any():
        # a class with no training pixels: the pixel classifier has no say, its chips decide
        ll[missing] = ll[~missing].max(0)
    return ll, means


def _background_outliers(score: np.ndarray, intensity: np.ndarray, ytrain: np.ndarray) -> None:
    """Give a spot that the background's own noise does not explain (``background_outliers``)
    to another class, in place on the scores (K, h, w): a faint particle, dimmer than the
    midpoint between the background and the bright particles that trained the classifier,
    is not background. Its class: that of the nearest sample of another class (a particle's
    faint rim continues its particle), or, for a spot on its own, the best summed score."""
    K, h, w = score.shape
    best = score.reshape(K, h * w).argmax(0)
    out = background_outliers(intensity, ytrain, best, (h, w), BACKGROUND_Z, BACKGROUND_PEAK)
    if out is None:
        return
    bg, lab = out
    sel, best = lab > 0, best.reshape(h, w)
    sums = np.stack([np.bincount(lab.ravel(), weights=score[j].ravel()) for j in range(K)])
    sums[bg] = -np.inf
    target = sums.argmax(0)[lab]
    if (best != bg).any():
        whole, _ = ndimage.label(sel | (best != bg), np.ones((3, 3), bool))
        joined = np.bincount(whole[best != bg], minlength=whole.max() + 1) > 0
        _, (iy, ix) = ndimage.distance_transform_edt(best == bg, return_indices=True)
        near = joined[whole] & sel
        target[near] = best[iy[near], ix[near]]
    yy, xx = np.nonzero(sel)
    tgt = target[sel]
    score[tgt, yy, xx] = np.maximum(score[tgt, yy, xx], score[bg, yy, xx] + BACKGROUND_MARGIN)


def _scores(
    ll: np.ndarray, seg: Segmentation, cfg: PixelConfig, shape: tuple[int, int]
) -> np.ndarray:
    """The combined scores (K, h, w) on the sample grid: weighted pixel log likelihoods plus
    the log chip prior, smoothed."""
    # chip prior spread bilinearly over the samples (edge-replicated at the border), a class
    # at a time (torch's bilinear kernel is ~10x slower per value on several channels)
    probs = torch.from_numpy(
        np.ascontiguousarray(np.moveaxis(np.asarray(seg.probs, np.float32), -1, 0))
    )
    prior = torch.cat(
        [
            F.interpolate(p[None, None], size=shape, mode="bilinear", align_corners=False)[0]
            for p in probs
        ]
    ).numpy()
    prior = prior.clip(1e-4, 1)
    prior /= prior.sum(0, keepdims=True)
    score = cfg.pixel_weight * ll + cfg.prior_weight * np.log(prior)
    return gauss(score, cfg.smooth, channels_first=True)


def _on_frame(
    full: np.ndarray, conf: np.ndarray, grid: ChipGrid, classes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Class-column labels and confidence of the covered area as class ids and confidence on
    the whole frame (-1 and 0 outside the covered area)."""
    K = len(classes)
    ids = np.asarray(classes, np.int16)
    if not np.array_equal(ids, np.arange(K)):  # class ids other than 0..K-1
        full = ids[full]
    if full.shape == (grid.height, grid.width):  # the grid covers the frame: no copies
        return full, conf
    labels = np.full((grid.height, grid.width), -1, np.int16)
    confidence = np.zeros((grid.height, grid.width), np.float32)
    labels[grid.covered] = full
    confidence[grid.covered] = conf
    return labels, confidence


def chip_shares(labels: np.ndarray, grid: ChipGrid, classes: tuple[int, ...]) -> np.ndarray:
    """Each chip's share of pixels of each class in a pixel map (H, W) (class ids, -1 =
    uncovered, not counted): (rows * cols, K) float32, columns in the order of ``classes``;
    a row of zeros where no pixel of the chip is covered."""
    s, R, C = grid.chip_size, grid.rows, grid.cols
    bands = np.asarray(labels)[grid.covered].reshape(R, s, C * s)
    # one comparison per class (a per-pixel scatter took 0.5 s on a 4096^2 map), summed over
    # each chip's rows first (whole rows at a time: 2.5x faster than over both axes at once)
    counts = np.stack(
        [
            np.add.reduce(bands == k, axis=1, dtype=np.uint16 if s < 1 << 16 else np.int64)
            .reshape(R, C, s)
            .sum(axis=2, dtype=np.int64)
            for k in classes
        ],
        -1,
    )
    return (counts.reshape(R * C, len(classes)) / (s * s)).astype(np.float32)
