"""Pixel-map settings and the per-pixel features of a frame on its grid (support-independent,
kept by :class:`PixelFeatures`)."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

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
    samples_per_side,
)
from workers.fewshot.chipping import ChipGrid

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
        neighbours (0: off; ``blob_excess``).
    blob_extent: a flagged spot extends over its connected samples above this fraction of
        ``blob_z`` (``spot_field``).
    blob_snr: a spot is flagged only when its summed excess over the square root of its
        samples reaches this (0: every spot; ``spot_field``). Every sample is tested, so lone
        noise spikes passed ``blob_z`` by chance all over a class (hundreds of speckles on the
        real MoO3 support at 16 px chips). Chosen on the seen particle scenes (``bench.pixels
        --set seen --cases particles``, k = 3): uncertain spots on nothing 69 -> 34 / 16 / 4 at
        4 / 5 / 6, missed particles shown uncertain 97 of 125 at 4 and 5, 93 at 6; calibration
        unchanged there and on the seen lattices and textures.
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
    blob_snr: float = 5.0


def _samples_per_side(grid: ChipGrid, cfg: PixelConfig) -> int:
    n = min(grid.chip_size, cfg.samples)
    cap = int(math.sqrt(cfg.max_samples / grid.n_chips))
    return max(1, min(n, cap))


def gauss(x: np.ndarray, sigma: float, *, channels_first: bool = False) -> np.ndarray:
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
    # each plane pooled by itself: stacking them copied the frame twice (0.07 s at 4096^2)
    mean, sq = (F.adaptive_avg_pool2d(p[None, None], (h, w))[0, 0].numpy() for p in (a, a * a))
    step = s / n
    feats = []
    for sigma_px in (s / 16, s * coarse):
        sig = sigma_px / step
        m = gauss(mean, sig)
        v = np.maximum(gauss(sq, sig) - m * m, 0)
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
        self._add_gabor(frame, keys, spectrum, for_chips=False)
        _keep_recent(self._gabor, keys, self.keep)
        return np.stack([*self._intensity, *(self._gabor[k] for k in keys)])

    def prepare(self, frame: np.ndarray, spectrum: FrameSpectrum | None = None) -> None:
        """Compute now what does not depend on the support chips' frequencies (the intensity
        columns, boundary refinement's chip means): ahead of a first classification."""
        none = np.zeros((0, 2))
        self.matrix(frame, none, spectrum)
        self.chip_features(frame, none, spectrum)

    def chip_features(
        self, frame: np.ndarray, frequencies: np.ndarray, spectrum: FrameSpectrum | None = None
    ) -> np.ndarray:
        """``boundary.chip_features(frame, grid, frequencies, spectrum=spectrum)`` (rows, cols,
        2 + F) float64, the same numbers: computed for the frequencies not kept only."""
        self._check(frame)
        keys = _keys(frequencies)
        self._add_gabor(frame, keys, spectrum, for_chips=True)
        _keep_recent(self._chip_gabor, keys, self.keep)
        columns = [self._chip_means[..., 0], self._chip_means[..., 1]]
        return np.stack(columns + [self._chip_gabor[k] for k in keys], axis=-1)

    def _add_gabor(
        self,
        frame: np.ndarray,
        keys: list[tuple[float, float]],
        spectrum: FrameSpectrum | None,
        *,
        for_chips: bool,
    ) -> None:
        """Compute the Gabor columns of the frequencies ``keys`` not kept: boundary
        refinement's chip features (``for_chips``, with the chip means) or the pixel map's
        standardised samples. Where both sample the amplitudes alike (32 px chips on a 4096^2
        frame: 4 samples per chip side, one sigma), one computation fills both."""
        memo = self._chip_gabor if for_chips else self._gabor
        missing = [k for k in dict.fromkeys(keys) if k not in memo]
        if not missing and not (for_chips and self._chip_means is None):
            return
        s = self.grid.chip_size
        chips = (samples_per_side(s), gabor_sigma(s))  # boundary.chip_features' sampling
        shared = chips == (self.samples, self.sigma)
        samples, sigma = chips if for_chips else (self.samples, self.sigma)
        spectrum = _frame_spectrum(frame, self.grid, spectrum)
        freqs = np.asarray(missing).reshape(-1, 2)
        amps = gabor_amplitudes(spectrum, freqs, samples=samples, sigma=sigma)
        if for_chips or shared:
            got = chip_features(frame, self.grid, freqs, spectrum=spectrum, amplitudes=amps)
            self._chip_means = got[..., :2].copy()
            for i, key in enumerate(missing):
                self._chip_gabor.setdefault(key, got[..., 2 + i].copy())
        if not for_chips or shared:
            for key, amp in zip(missing, amps.numpy(), strict=True):
                self._gabor.setdefault(key, _standardised(amp))
        if shared:  # the other's columns, kept as its own are
            _keep_recent(self._gabor if for_chips else self._chip_gabor, [], self.keep)
