"""Pixel-accurate maps from a chip-level segmentation: labels and confidence per pixel.

A chip map is one label per chip: boundaries are staircases and anything smaller than a chip
is lost. Here the chip classifier's result trains a small per-image pixel classifier
(transductive, few-shot), whose scores are combined with the chip map as a prior:

1. Per-pixel features on a reduced grid (``samples`` per chip side, area-averaged: 4 px cells
   for 32 px chips): intensity and local variance smoothed at s / 16 and s / 4 (s the chip
   size), and the amplitudes of complex Gabor filters tuned to the support chips' spectral
   peaks (``boundary.support_frequencies``: what tells lattice domains apart), from one FFT
   of the zero-padded frame and one small inverse FFT per peak (``boundary.gabor_amplitudes``:
   no wrap-around, which put a strip of the opposite edge's class along the frame's border:
   seen lattices at k = 1, mean boundary error 3.5 -> 2.7 px). Amplitudes, not log
   amplitudes: features that mix about linearly with class area put the boundary where the
   areas are equal (with log features, boundaries moved towards the weaker class: 4.0 vs
   1.6 px mean boundary error on three seen lattice cases).
2. Class statistics from the pixels of the support chips and of confidently labelled interior
   chips (confidence >= ``confident`` and 8 neighbours with the same label), re-estimated once
   with only the pixels that the first pass gives to their chip's class (a particle chip is
   partly support). A Gaussian classifier (class means, one shrunk covariance, the classes
   weighted alike) scores every pixel, blended with the same model on a diagonal covariance
   (``diagonal``), which extrapolates better to objects smaller than the coarse scale.
3. Scores: ``pixel_weight * log p_pixel + prior_weight * log p_chip``, the chip probabilities
   spread bilinearly over the pixels. Inside confident chips the prior keeps the chip's label
   unless the pixel evidence is strong (a particle smaller than a chip); where neighbouring
   chips disagree the prior is flat and the pixels decide. A pixel that the pixel classifier
   cannot tell apart (two particle classes of one material) takes its chip's class.
4. Scores are smoothed slightly (``smooth``) and bilinearly upsampled to full resolution;
   the label is the best class, the confidence the logistic of the margin between the best
   two (the combined posterior for two classes, an upper bound of it for more).

Confidence therefore follows the chip's calibrated probability in a chip interior where the
pixels agree with it, rises where pixel evidence and chip agree, and falls to about 1 / 2 on
boundaries. Capping it by the chip probability (the first design) was under-confident on
the seen cases: expected calibration error 0.08 vs 0.02.

A faint spot flagged as uncertain (``blob_z``) is flagged to its own outline (hysteresis on
its contrast, traced by bilinear upsampling), not as squares of samples.

Speed (a 4096^2 frame at 32 px chips: 1.6 s -> 0.2-0.45 s of CPU, labels identical on the seen
cases and the speed bench's images, confidence within 4e-5): the features that do not depend
on the support set are kept in :class:`PixelFeatures`, which a worker caches per frame and
grid, so a re-run after a support-set edit only classifies; the classifier runs on the
reduced grid (float32, feature-major, one quadratic form for the blended models); and only
the blocks between samples that disagree or are unsure are upsampled pixel by pixel
(:func:`_full_resolution`; K full-size score planes before).

Not done: an edge-aware step (superpixels, CRF). The features are smoothed at s / 16 (2 px for
32 px chips) and sampled every s / 8 px, which bounds how small an object can be found:
about a third of a chip in area (tests/fewshot/test_pixels.py).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from workers.fewshot.boundary import (
    FrameSpectrum,
    chip_features,
    frame_spectrum,
    gabor_amplitudes,
    gabor_sigma,
)
from workers.fewshot.chipping import ChipGrid

if TYPE_CHECKING:
    from workers.fewshot.pipeline import Segmentation

__all__ = [
    "PixelConfig",
    "PixelFeatures",
    "PixelMap",
    "chip_shares",
    "pixel_features",
    "pixel_map",
]

Support = dict[int, list[tuple[int, int]]]


@dataclass(frozen=True)
class PixelConfig:
    """Pixel-map settings (chosen on the seen sim cases with ``bench.pixels``).

    samples: feature samples per chip side (reduced grid); max_samples caps their total
        (4096^2 px at 32 px chips: 4 per side).
    confident: chips at or above this confidence whose 8 neighbours share their label train
        the pixel classifier (with the support chips).
    pixel_weight, prior_weight: weights of the pixel classifier's log likelihoods and of the
        chip map's log probabilities.
    diagonal: weight of the diagonal-covariance model in the blend (0: full covariance only).
    gabor_scale: Gabor sigma as a multiple of ``boundary.gabor_sigma`` (6 px for 32 px chips).
    coarse: the coarse smoothing scale as a fraction of the chip (the fine one is 1 / 16).
    smooth: sigma of the score smoothing, in samples.
    shrinkage: covariance shrinkage towards its diagonal.
    blob_z: a sample whose local contrast stands out of its class's by more than this many
        robust standard deviations, towards another class, is shown as uncertain with its
        neighbours (0: off; ``_blob_excess``).
    blob_extent: a flagged spot extends over its connected samples above this fraction of
        ``blob_z`` (``_spot_field``).
    """

    samples: int = 8
    max_samples: int = 1 << 18
    confident: float = 0.6
    pixel_weight: float = 0.1
    prior_weight: float = 1.0
    diagonal: float = 0.5
    gabor_scale: float = 1.0
    coarse: float = 0.25
    smooth: float = 0.7
    shrinkage: float = 0.1
    blob_z: float = 3.0
    blob_extent: float = 0.5


@dataclass
class PixelMap:
    """labels (H, W) int16 class ids, -1 outside the area the grid covers; confidence (H, W)
    float32 in [0, 1], 0 outside; classes: the ids; timings (s)."""

    labels: np.ndarray
    confidence: np.ndarray
    classes: tuple[int, ...]
    timings: dict[str, float]


def _samples_per_side(grid: ChipGrid, cfg: PixelConfig) -> int:
    n = min(grid.chip_size, cfg.samples)
    cap = int(math.sqrt(cfg.max_samples / grid.n_chips))
    return max(1, min(n, cap))


def _gauss(x: np.ndarray, sigma: float, *, channels_first: bool = False) -> np.ndarray:
    """Gaussian smoothing over the two spatial axes of (h, w[, F]), or of (F, h, w) with
    ``channels_first``."""
    if sigma <= 0:
        return x
    if channels_first:
        sig = (0,) * (x.ndim - 2) + (sigma, sigma)
    else:
        sig = (sigma, sigma) + (0,) * (x.ndim - 2)
    return ndimage.gaussian_filter(x, sig, mode="reflect", truncate=3.0)


def _intensity_features(
    frame: np.ndarray, grid: ChipGrid, *, samples: int, coarse: float
) -> list[np.ndarray]:
    """Intensity and local variance smoothed at s / 16 and ``coarse`` * s px (s the chip
    size), each (rows * n, cols * n) float32 on the reduced grid, n = ``samples``."""
    s, n = grid.chip_size, samples
    h, w = grid.rows * n, grid.cols * n
    a = torch.from_numpy(np.ascontiguousarray(frame[grid.covered], dtype=np.float32))
    pooled = F.adaptive_avg_pool2d(torch.stack([a, a * a])[None], (h, w))[0].numpy()
    mean, sq = pooled[0], pooled[1]
    step = s / n
    feats = []
    for sigma_px in (s / 16, s * coarse):
        sig = sigma_px / step
        m = _gauss(mean, sig)
        v = np.maximum(_gauss(sq, sig) - m * m, 0)
        feats += [m, v]
    return feats


def _frame_spectrum(
    frame: np.ndarray, grid: ChipGrid, spectrum: FrameSpectrum | None
) -> FrameSpectrum:
    if spectrum is None:
        return frame_spectrum(frame, grid)
    if spectrum.grid != grid:
        raise ValueError(f"spectrum of grid {spectrum.grid} used for grid {grid}")
    return spectrum


def pixel_features(
    frame: np.ndarray,
    grid: ChipGrid,
    frequencies: np.ndarray,
    *,
    samples: int,
    gabor_scale: float = 1.0,
    spectrum: FrameSpectrum | None = None,
    coarse: float = 0.25,
) -> np.ndarray:
    """Per-pixel features on a reduced grid: (rows * n, cols * n, 4 + F) float32, n = samples.

    Columns: intensity and local variance smoothed at s / 16 and at ``coarse`` * s px (s the
    chip size), then the Gabor amplitude at each of ``frequencies`` ((F, 2) cycles/px).
    Each sample stands for an (s / n)^2 px cell of the covered region, at the cell's centre.
    """
    feats = _intensity_features(frame, grid, samples=samples, coarse=coarse)
    if len(frequencies):
        sigma = gabor_sigma(grid.chip_size) * gabor_scale
        spectrum = _frame_spectrum(frame, grid, spectrum)
        feats += list(gabor_amplitudes(spectrum, frequencies, samples=samples, sigma=sigma).numpy())
    return np.stack(feats, axis=-1).astype(np.float32)


def _standardised(column: np.ndarray) -> np.ndarray:
    """A feature map flattened and standardised over its samples: (N,) float32."""
    x = column.reshape(-1)
    mu, sd = x.mean(dtype=np.float64), x.std(dtype=np.float64)
    return ((x - mu) / (sd if sd > 0 else 1.0)).astype(np.float32)


def _keys(frequencies: np.ndarray) -> list[tuple[float, float]]:
    return [(float(ky), float(kx)) for ky, kx in np.asarray(frequencies).reshape(-1, 2)]


def _keep_recent(memo: OrderedDict, keys: list, keep: int) -> None:
    """Mark ``keys`` most recently used and drop the oldest others beyond ``keep``."""
    for key in keys:
        memo.move_to_end(key)
    while len(memo) > max(keep, len(set(keys))):
        memo.popitem(last=False)


class PixelFeatures:
    """The features of one frame on one grid that do not depend on the support set: kept by
    a caller that classifies the frame again (a worker re-running a job after a support-set
    edit, ``Segmenter.classify(pixel_features=...)``), a re-run only classifies.

    Filled on first use, from the frame and its spectrum (``boundary.frame_spectrum``), and
    the same numbers as without it:

    - the pixel map's standardised per-pixel columns (:meth:`matrix`): intensity and local
      variance, and the Gabor amplitude at each frequency asked for (the support chips'
      spectral peaks, which an edited support set moves in part only, if at all). Every column
      is standardised by itself over the frame's samples, so that it does not depend on which
      others are asked for;
    - boundary refinement's chip features (:meth:`chip_features`), a column per frequency.

    Columns of the ``keep`` most recently used frequencies are kept. The frame is passed to
    each call, not held (a cache bounds its memory by :attr:`nbytes`). Not thread-safe (one
    job at a time uses it).
    """

    def __init__(self, grid: ChipGrid, *, config: PixelConfig | None = None, keep: int = 32):
        cfg = config or PixelConfig()
        self.grid = grid
        self.samples = _samples_per_side(grid, cfg)
        self.coarse = cfg.coarse
        self.sigma = gabor_sigma(grid.chip_size) * cfg.gabor_scale
        self.keep = keep
        self._intensity: np.ndarray | None = None  # (4, N)
        self._gabor: OrderedDict[tuple[float, float], np.ndarray] = OrderedDict()  # (N,)
        self._chip_means: np.ndarray | None = None  # (rows, cols, 2)
        self._chip_gabor: OrderedDict[tuple[float, float], np.ndarray] = OrderedDict()

    def fits(self, grid: ChipGrid, config: PixelConfig) -> bool:
        """Whether these features are the ones ``pixel_map`` computes for grid and config."""
        return (
            grid == self.grid
            and _samples_per_side(grid, config) == self.samples
            and config.coarse == self.coarse
            and gabor_sigma(grid.chip_size) * config.gabor_scale == self.sigma
        )

    @property
    def nbytes(self) -> int:
        """Memory held (for byte-bounded caches)."""
        held = [self._intensity, self._chip_means, *self._gabor.values()]
        return sum(a.nbytes for a in held + list(self._chip_gabor.values()) if a is not None)

    def _check(self, frame: np.ndarray) -> None:
        if tuple(frame.shape) != (self.grid.height, self.grid.width):
            raise ValueError(f"frame {frame.shape} does not match grid {self.grid}")

    def matrix(
        self, frame: np.ndarray, frequencies: np.ndarray, spectrum: FrameSpectrum | None = None
    ) -> np.ndarray:
        """The pixel map's features (4 + F, N) float32 (N samples of the reduced grid, see
        :func:`pixel_features`), each standardised: the intensity columns, then the Gabor
        amplitude at each of ``frequencies`` ((F, 2) cycles/px). ``spectrum``: the frame's,
        where already computed."""
        self._check(frame)
        if self._intensity is None:
            columns = _intensity_features(
                frame, self.grid, samples=self.samples, coarse=self.coarse
            )
            self._intensity = np.stack([_standardised(c) for c in columns])
        keys = _keys(frequencies)
        missing = [k for k in dict.fromkeys(keys) if k not in self._gabor]
        if missing:
            amps = gabor_amplitudes(
                _frame_spectrum(frame, self.grid, spectrum),
                np.asarray(missing),
                samples=self.samples,
                sigma=self.sigma,
            ).numpy()
            for key, amp in zip(missing, amps, strict=True):
                self._gabor[key] = _standardised(amp)
        _keep_recent(self._gabor, keys, self.keep)
        return np.stack([*self._intensity, *(self._gabor[k] for k in keys)])

    def chip_features(
        self, frame: np.ndarray, frequencies: np.ndarray, spectrum: FrameSpectrum | None = None
    ) -> np.ndarray:
        """``boundary.chip_features(frame, grid, frequencies, spectrum=spectrum)`` (rows, cols,
        2 + F) float64, the same numbers: computed for the frequencies not kept only."""
        self._check(frame)
        keys = _keys(frequencies)
        missing = [k for k in dict.fromkeys(keys) if k not in self._chip_gabor]
        if missing or self._chip_means is None:
            got = chip_features(
                frame, self.grid, np.asarray(missing).reshape(-1, 2), spectrum=spectrum
            )
            self._chip_means = got[..., :2].copy()
            for i, key in enumerate(missing):
                self._chip_gabor[key] = got[..., 2 + i].copy()
        _keep_recent(self._chip_gabor, keys, self.keep)
        columns = [self._chip_means[..., 0], self._chip_means[..., 1]]
        return np.stack(columns + [self._chip_gabor[k] for k in keys], axis=-1)


def _interior(labels: np.ndarray) -> np.ndarray:
    """Chips whose 8 neighbours (edge-replicated) share their label."""
    R, C = labels.shape
    p = np.pad(labels, 1, mode="edge")
    same = np.ones((R, C), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= p[1 + dy : 1 + dy + R, 1 + dx : 1 + dx + C] == labels
    return same


def _lda(x: np.ndarray, y: np.ndarray, k: int, shrinkage: float, *, diagonal: bool = False):
    """Class means (K, F) and the whitening (F, F) of a covariance shared by the classes: the
    mean of the class covariances (a class counts alike however many pixels it has), shrunk
    towards its diagonal (or diagonal only). Classes without samples get NaN means."""
    means = np.full((k, x.shape[1]), np.nan)
    covs = []
    for j in range(k):
        xj = x[y == j]
        if len(xj):
            means[j] = xj.mean(0)
            r = torch.from_numpy(xj - means[j])
            # torch's product, not numpy's: OpenBLAS's own threads would spin next to torch's
            covs.append((r.T @ r).numpy() / max(1, len(r) - 1))
    cov = np.mean(covs, axis=0)
    shrinkage = 1.0 if diagonal else shrinkage
    cov = (1 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov)) + 1e-6 * np.eye(len(cov))
    white = np.linalg.inv(np.linalg.cholesky(cov)).T  # x @ white: unit covariance
    return means, white


def _blend(white: np.ndarray, white_diagonal: np.ndarray, weight: float) -> np.ndarray:
    """The whitening of ``(1 - weight) * full + weight * diagonal`` log likelihoods (the two
    models share their class means): one quadratic form, evaluated once per sample."""
    precision = (1 - weight) * white @ white.T + weight * white_diagonal @ white_diagonal.T
    return np.linalg.cholesky(precision)  # x @ L: |.|^2 = x P x^T


def _log_lik(x: np.ndarray, means: np.ndarray, white: np.ndarray) -> np.ndarray:
    """-0.5 squared Mahalanobis distance of every sample (the columns of x (F, N) float32) to
    every class mean: (K, N) float32; -inf for classes without a mean."""
    ok = np.isfinite(means[:, 0])
    # torch's matrix products: numpy's would wake OpenBLAS's own threads next to torch's
    z = torch.from_numpy(np.ascontiguousarray(white.T, np.float32)) @ torch.from_numpy(x)
    mz = (np.where(ok[:, None], means, 0) @ white).astype(np.float32)  # (K, F)
    out = torch.from_numpy(mz) @ z  # (K, N)
    out.mul_(-2).add_(torch.einsum("fn,fn->n", z, z)).add_(
        torch.from_numpy((mz * mz).sum(1))[:, None]
    )
    out = out.clamp_(min=0).mul_(-0.5).numpy()
    out[~ok] = -np.inf
    return out


def _blob_excess(x: np.ndarray, best: np.ndarray, means: np.ndarray) -> np.ndarray:
    """How far each sample's local contrast stands out of its class's, towards another
    class's brightness: (N,), in robust standard deviations of the class's own contrast.

    x: standardised features (F, N) (``PixelFeatures.matrix``); best: each sample's class
    column; means: the classes' feature means (K, F) (NaN rows: no training samples). Contrast
    is the fine minus the coarse intensity (a difference of Gaussians: a compact spot); its
    spread per class is the larger of the MAD (Gaussian-scaled) and a third of the 99th
    percentile of deviations in that direction, so a class with heavy-tailed contrast (atomic
    columns) flags at most about 1 % of its samples. The sign is that of the other class's
    mean intensity minus this class's: a faint particle on the support is a bright spot where
    particles are brighter.
    """
    dog = x[0] - x[2]
    out = np.full(len(dog), -np.inf)
    for j in range(len(means)):
        sel = best == j
        if sel.sum() < 50 or not np.isfinite(means[j, 0]):
            continue
        dev = dog[sel] - np.median(dog[sel])
        mad = 1.4826 * np.median(np.abs(dev))
        for sign in {np.sign(m[0] - means[j, 0]) for m in means if np.isfinite(m[0])} - {0}:
            tail = np.quantile(sign * dev, 0.99) / 3
            out[sel] = np.maximum(out[sel], sign * dev / (max(mad, tail) + 1e-6))
    return out


#: a margin (best minus second best score) above which the confidence sigmoid(margin) is 1 in
#: float32 (1 + e^-m rounds to 1 above m = 16.6), with room for rounding: four neighbouring
#: samples that all give one class at least this margin give it every pixel between them,
#: with confidence 1 (the margin of a bilinear mix is at least the smallest of the four)
SURE_MARGIN = 18.0


def _source(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear upsampling from n_in to n_out samples as torch's ``F.interpolate`` does it
    (align_corners=False, edges clamped): each output's lower input index (n_out,) int64 and
    the weight of the upper one (n_out,) float32 (float32 arithmetic, as torch's)."""
    scale = np.float32(n_in) / np.float32(n_out)
    real = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    real = np.maximum(real, np.float32(0))
    lower = np.minimum(real.astype(np.int64), n_in - 1)
    return lower, np.clip(real - lower.astype(np.float32), 0, 1).astype(np.float32)


def _best_two(v: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Best class column (int16) and margin over the second best, from the score differences
    ``v[j - 1] = score[j] - score[0]`` (any equal shapes; ties go to the lower column)."""
    best = np.maximum(v[0], 0)
    second = np.minimum(v[0], 0)
    label = (v[0] > 0).astype(np.int16)
    for j in range(1, len(v)):
        better = v[j] > best
        label[better] = j + 1
        second = np.maximum(second, np.minimum(best, v[j]))
        best = np.maximum(best, v[j])
    return label, best - second


def _spot_confidence(f: np.ndarray) -> np.ndarray:
    """The confidence cap of a spot field (``_spot_field``) value: 1 / 2 inside a spot, 3 / 4
    on its contour, 1 far away."""
    return torch.sigmoid_(torch.from_numpy(f * np.float32(16))).mul_(-0.5).add_(1).numpy()


def _decide(values: list[np.ndarray], spots: bool) -> tuple[np.ndarray, np.ndarray]:
    """Label and confidence of upsampled pixels: ``values`` the score differences to class 0
    (K - 1 planes), then the spot field where ``spots``."""
    n = len(values) - int(spots)
    label, margin = _best_two(values[:n])
    conf = torch.sigmoid_(torch.from_numpy(margin)).numpy()
    if spots:
        conf = np.minimum(conf, _spot_confidence(values[-1]))
    return label, conf


def _full_resolution(
    score: np.ndarray, spots: np.ndarray | None, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (class columns, int16) and confidence (float32) at ``shape`` (Hc, Wc) from the
    scores on the sample grid (K, h, w), bilinearly upsampled as ``F.interpolate`` would
    (align_corners=False): the label is the best class, the confidence the logistic of the
    margin between the best two; ``spots`` (h, w) (``_spot_field``) caps it.

    The upsampled values between four neighbouring samples (a block) are their bilinear mix,
    so where all four give one class a margin >= SURE_MARGIN (and no spot), every pixel of the
    block has that class with confidence 1: those blocks are filled, and only the others
    (boundaries, uncertain areas, spots: 1-7 % of the blocks on the speed bench's 4096^2
    image) are interpolated pixel by pixel, block by block, or whole rows of pixels where
    most blocks of a row need it. A 4096^2 map was K full-size upsampled score planes
    before (3 classes: 1 s of 1.1 s); the pixels computed both ways are the same numbers.
    """
    K, h, w = score.shape
    Hc, Wc = shape
    v = [score[j] - score[0] for j in range(1, K)]  # one plane for two classes
    label, margin = _best_two(v)
    ys, ly = _source(h, Hc)
    xs, lx = _source(w, Wc)
    ny, nx = np.bincount(ys, minlength=h), np.bincount(xs, minlength=w)  # pixels per block
    y0, x0 = np.cumsum(ny) - ny, np.cumsum(nx) - nx  # first pixel of each block
    y1, x1 = np.minimum(np.arange(h) + 1, h - 1), np.minimum(np.arange(w) + 1, w - 1)

    def corners(a: np.ndarray) -> tuple[np.ndarray, ...]:
        below = a[y1]
        return a, a[:, x1], below, below[:, x1]

    c = corners(label)
    sure = (c[0] == c[1]) & (c[0] == c[2]) & (c[0] == c[3])
    sure &= np.minimum.reduce(corners(margin)) >= SURE_MARGIN
    if spots is not None:
        sure &= np.maximum.reduce(corners(spots)) <= -1
    full = np.repeat(np.repeat(label, ny, 0), nx, 1)
    far = _spot_confidence(np.full(1, -1, np.float32))[0] if spots is not None else 1.0
    conf = np.full((Hc, Wc), far, np.float32)
    planes = v if spots is None else [*v, spots]

    # rows of blocks mostly to interpolate: whole rows of pixels, along x once for all
    dense = (~sure).mean(1) > 0.25
    if dense.any():
        wx1 = lx
        wx0 = np.float32(1) - wx1
        along_x = [a[:, xs] * wx0 + a[:, x1[xs]] * wx1 for a in planes]  # (h, Wc) each
        for i in np.flatnonzero(dense):
            yy = slice(y0[i], y0[i] + ny[i])
            wy1 = ly[yy][:, None]
            wy0 = np.float32(1) - wy1
            values = [a[i] * wy0 + a[y1[i]] * wy1 for a in along_x]
            full[yy], conf[yy] = _decide(values, spots is not None)
        sure[dense] = True

    todo = np.flatnonzero(~sure.ravel())
    py, px = int(ny.max()), int(nx.max())
    step = max(1, (1 << 20) // (py * px))  # blocks per batch: ~1 M pixels per plane
    for start in range(0, len(todo), step):
        bi, bj = np.divmod(todo[start : start + step], w)
        # each block's pixels, padded to the largest block by repeating its last one
        yy = np.minimum(y0[bi, None] + np.arange(py), (y0 + ny - 1)[bi, None])
        xx = np.minimum(x0[bj, None] + np.arange(px), (x0 + nx - 1)[bj, None])
        wy1, wx1 = ly[yy][:, :, None], lx[xx][:, None, :]
        wy0, wx0 = np.float32(1) - wy1, np.float32(1) - wx1
        values = []
        for a in planes:  # torch's order: along x, then along y
            top = a[bi, bj][:, None, None] * wx0 + a[bi, x1[bj]][:, None, None] * wx1
            bottom = a[y1[bi], bj][:, None, None] * wx0 + a[y1[bi], x1[bj]][:, None, None] * wx1
            values.append(top * wy0 + bottom * wy1)
        rows, cols = yy[:, :, None], xx[:, None, :]
        full[rows, cols], conf[rows, cols] = _decide(values, spots is not None)
    return full, conf


def _spot_field(z: np.ndarray, seed: float, extent: float) -> np.ndarray | None:
    """Where the flagged spots lie, as a field whose 0 level is their contour: (h, w) float32,
    > 0 inside a spot, or None where no sample exceeds ``seed``.

    z: :func:`_blob_excess` per sample (h, w). A spot is a connected set of samples above
    ``extent * seed`` that holds one above ``seed`` (hysteresis: it takes the whole spot, not
    only its peak), holes filled. The field is z / (extent * seed) - 1 (at least 1 / 4 on a
    spot) on the spots and their 4-neighbours and -1 elsewhere, so that its bilinear
    upsampling traces each spot's own outline (a flag on whole samples, dilated, showed a
    blocky square of 3 x 3 samples).
    """
    seeds = z > seed
    if not seeds.any():
        return None
    low = extent * seed
    # the whole spot, holes filled (the contrast of a wide disc dips at its centre)
    spots = ndimage.binary_fill_holes(ndimage.binary_propagation(seeds, mask=z > low))
    field = np.maximum(z / low - 1, -1)
    field = np.where(spots, np.maximum(field, 0.25), field)
    return np.where(ndimage.binary_dilation(spots), field, -1).astype(np.float32)


def pixel_map(
    frame: np.ndarray,
    seg: Segmentation,
    *,
    frequencies: np.ndarray | None,
    support: Support | None = None,
    config: PixelConfig | None = None,
    spectrum: FrameSpectrum | None = None,
    features: PixelFeatures | None = None,
) -> PixelMap:
    """Full-resolution labels and confidence for one frame from its chip segmentation.

    frame: the normalised frame (H, W) that ``seg.grid`` cuts (``Embedded.frames[0]``).
    seg: a ``pipeline.Segmentation`` of that frame (labels, probs, confidence, grid, classes).
    frequencies: the support chips' spectral peaks (F, 2) (``Segmenter.frequencies``, or
        ``boundary.support_frequencies``); None or empty: no Gabor features.
    support: the clicked chips {class id: [(row, col)]} on this grid; they train the pixel
        classifier whatever their predicted label.
    spectrum: ``boundary.frame_spectrum(frame, seg.grid)`` where already computed.
    features: ``PixelFeatures(seg.grid, config=config)`` kept from an earlier map of the
        frame (it keeps the features computed here).
    """
    cfg = config or PixelConfig()
    t0 = time.perf_counter()
    grid: ChipGrid = seg.grid
    classes = tuple(int(k) for k in seg.classes)
    K = len(classes)
    col_of = {k: i for i, k in enumerate(classes)}
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

    chip_col = np.searchsorted(np.asarray(classes), np.asarray(seg.labels))
    train = np.full((R, C), -1)
    keep = (np.asarray(seg.confidence) >= cfg.confident) & _interior(chip_col)
    train[keep] = chip_col[keep]
    for k, chips in (support or {}).items():
        for r, c in chips:
            train[r, c] = col_of[int(k)]
    ytrain = np.repeat(np.repeat(train, n, 0), n, 1).ravel()
    idx = np.flatnonzero(ytrain >= 0)
    if len(idx) > 40_000:  # a fixed, evenly spread subsample: deterministic
        idx = idx[:: len(idx) // 40_000 + 1]
    if idx.size:
        xs = np.ascontiguousarray(x[:, idx])
        xi, yi = xs.T.astype(np.float64), ytrain[idx]
        means, white = _lda(xi, yi, K, cfg.shrinkage)
        # second pass: a mixed training chip (a particle chip is partly support) keeps only the
        # pixels that look like its class
        agree = _log_lik(xs, means, white).argmax(0) == yi
        if agree.sum() > 10 * x.shape[0]:
            means2, white2 = _lda(xi[agree], yi[agree], K, cfg.shrinkage)
            if np.isfinite(means2[:, 0]).sum() == np.isfinite(means[:, 0]).sum():
                means, white = means2, white2
                xi, yi = xi[agree], yi[agree]
        class_means = means
        if cfg.diagonal > 0:
            _, white_diagonal = _lda(xi, yi, K, cfg.shrinkage, diagonal=True)
            white = _blend(white, white_diagonal, cfg.diagonal)
        ll = _log_lik(x, means, white)
        missing = ~np.isfinite(ll[:, 0])
        if missing.any():
            # a class with no training pixels: the pixel classifier has no say, its chips decide
            ll[missing] = ll[~missing].max(0)
    else:  # no training pixel (no support chip or confident interior chip here): the chip
        # map alone decides
        ll = np.zeros((K, h * w), np.float32)
        class_means = None
    ll = ll.reshape(K, h, w)
    t_fit = time.perf_counter()

    # chip prior spread bilinearly over the samples (edge-replicated at the border), a class
    # at a time (torch's bilinear kernel is ~10x slower per value on several channels)
    probs = torch.from_numpy(
        np.ascontiguousarray(np.moveaxis(np.asarray(seg.probs, np.float32), -1, 0))
    )
    prior = torch.cat(
        [
            F.interpolate(p[None, None], size=(h, w), mode="bilinear", align_corners=False)[0]
            for p in probs
        ]
    ).numpy()
    prior = prior.clip(1e-4, 1)
    prior /= prior.sum(0, keepdims=True)
    score = cfg.pixel_weight * ll + cfg.prior_weight * np.log(prior)
    score = _gauss(score, cfg.smooth, channels_first=True)
    # a compact spot that stands out of its class towards another (a faint particle in a
    # confident support chip, which neither the chip nor the pixel classifier calls a
    # particle) is not shown as certain: the whole spot, to its own outline, gets about 1 / 2
    spots = None
    if class_means is not None and cfg.blob_z > 0:
        z = _blob_excess(x, score.reshape(K, h * w).argmax(0), class_means).reshape(h, w)
        spots = _spot_field(z, cfg.blob_z, cfg.blob_extent)

    # full resolution: bilinearly upsampled scores give the labels and, from the margin
    # between the best two classes, the confidence (the posterior for two classes, an upper
    # bound of it for more)
    Hc, Wc = R * grid.chip_size, C * grid.chip_size
    full, conf = _full_resolution(score, spots, (Hc, Wc))
    ids = np.asarray(classes, np.int16)
    if not np.array_equal(ids, np.arange(K)):  # class ids other than 0..K-1
        full = ids[full]
    if (Hc, Wc) == (grid.height, grid.width):  # the grid covers the frame: no copies
        labels, confidence = full, conf
    else:
        labels = np.full((grid.height, grid.width), -1, np.int16)
        confidence = np.zeros((grid.height, grid.width), np.float32)
        labels[grid.covered] = full
        confidence[grid.covered] = conf
    t_end = time.perf_counter()
    timings = {
        "features": round(t_feat - t0, 4),
        "fit": round(t_fit - t_feat, 4),
        "map": round(t_end - t_fit, 4),
        "total": round(t_end - t0, 4),
    }
    return PixelMap(labels, confidence, classes, timings)


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
