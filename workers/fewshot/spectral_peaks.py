"""Support-peak features: where a chip's lattice peaks lie relative to the support classes'.

Grains of one material that differ only by orientation (a few degrees) or by a few percent in
lattice parameter have near-identical radially averaged spectra, a 32 px chip resolves their
peak positions only coarsely on a fixed polar grid, and thickness changes their brightness
independently of the class. The support set itself says which frequencies matter: the
strongest spectral peaks of each class's support windows (``frequencies.support_frequencies``,
already found for boundary refinement). A chip's complex-Gabor amplitude at each of them
(``boundary.chip_features``, already computed for every chip of the frame) is high at its own
class's peaks and lower at a peak a few degrees or percent away. Taken as log amplitudes minus
their mean over the peaks, the profile does not change with a gain in contrast (thickness,
dose) and reads position, not strength, of the lattice peaks.

The profile is appended to the embedding as the group ``support_peaks``, scaled so that its
spread over the support chips is ``PEAK_SHARE`` of the embedding's. It is an optional group of
``weighting.group_weights``: off unless, with every group on, it makes fewer leave-one-out
errors on the support chips. When the classes are one lattice in other orientations it does;
when each class has grains in random orientations (a class's peaks differ from chip to chip)
it does not. With one chip per class nothing can be scored and it stays off. Chosen on the seen
cases (k = 3 / 5 chip mIoU, ``rotated_grains_thickness``: 0.628 / 0.592 -> 0.920 / 0.890;
particles and textures unchanged; shares 0.5, 1 and 2 scored alike).

    peaks = fit_support_peaks(images, supports, support_emb, freqs)      # in Segmenter.fit
    support_emb = peaks.augmented_support   # {class: (n_k, D + F)}, rows as pooled
    q = peaks.augment(q, chip_features)     # (N, D) + (rows, cols, 2 + F) -> (N, D + F)
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtr
from threadpoolctl import threadpool_limits

from workers.fewshot.boundary import gabor_sigma, padded_shape, samples_per_side
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.memo import ChipMemo

__all__ = [
    "PEAK_GROUP",
    "PEAK_SHARE",
    "SupportPeaks",
    "fit_support_peaks",
    "peak_profile",
    "support_peak_features",
]

Support = dict[int, list[tuple[int, int]]]

#: name of the appended group (``Encoder.groups`` naming)
PEAK_GROUP = "support_peaks"
#: the group's squared spread over the support chips, as a share of the embedding's
PEAK_SHARE = 1.0
#: the direct filters' reach in sigmas (the Gaussian's weight beyond it is < 1e-7)
_REACH = 5.5
#: ``boundary.gabor_amplitudes``'s floor of a filter's weight inside the frame
_MIN_INSIDE = 0.2
#: floor of the amplitudes (normalised intensity units) before the log: a chip with no
#: lattice (vacuum, amorphous) gets a flat profile instead of log noise
_FLOOR = 1e-3


def peak_profile(features: np.ndarray) -> np.ndarray:
    """Log Gabor amplitudes minus their mean over the peaks: (..., 2 + F) chip features
    (``boundary.chip_features``: intensity, squared intensity, amplitudes) -> (..., F)."""
    logs = np.log(np.maximum(features[..., 2:], _FLOOR))
    return logs - logs.mean(axis=-1, keepdims=True)


def support_peak_features(
    frames: Sequence[np.ndarray],
    grids: Sequence[ChipGrid],
    supports: Sequence[Support],
    freqs: np.ndarray,
    memos: Sequence[ChipMemo] | None = None,
) -> dict[int, np.ndarray]:
    """``boundary.chip_features`` (rows, cols, 2 + F) of the support chips only: {class:
    (n_k, 2 + F)}, rows in the order of ``supports`` (image by image, chips as listed).

    The frame's Gabor amplitudes are computed for every chip with FFTs of the whole frame;
    for a few support chips the same filters (frequencies on the frame's FFT bins, the
    frame's mean removed, normalised at its edges) are applied directly around each chip, as
    separable complex Gaussians: the same numbers to ~1 % (the frame's filters are cut off
    in frequency), without a whole-frame FFT in the fit step. ``memos`` (one per image, or
    None): each chip's features at these frequencies are kept there for the next fit on the
    same image (``memo.ChipMemo``).
    """
    out: dict[int, list[np.ndarray]] = {}
    for i, (frame, grid, support) in enumerate(zip(frames, grids, supports, strict=True)):
        region = frame[grid.covered]
        mean = float(region.mean(dtype=np.float64))
        bins = np.asarray(padded_shape(grid), np.float64)
        f = np.round(np.asarray(freqs, np.float64).reshape(-1, 2) * bins) / bins
        chips = [(int(k), int(r), int(c)) for k, v in support.items() for r, c in v]
        keys = [("peaks", grid.chip_size, r, c, f.tobytes()) for _, r, c in chips]

        def make(missing, region=region, mean=mean, grid=grid, f=f):
            return _features(region, mean, grid, f, [(r, c) for _, _, r, c, _ in missing])

        memo = memos[i] if memos is not None else ChipMemo()
        feats = memo.many(keys, make)
        for (k, _, _), row in zip(chips, feats, strict=True):
            out.setdefault(k, []).append(row)
    return {k: np.stack(v) for k, v in out.items()}


def _features(region, mean: float, grid: ChipGrid, freqs, chips) -> list[np.ndarray]:
    """``_chip_features`` of ``chips`` [(row, col)] of one frame, split between threads."""
    # numpy's products on one BLAS thread: OpenBLAS's waiting threads made the fit of 256 px
    # chips 1 -> 18 s on a busy machine (the same numbers: its threads split rows, not sums);
    # the chips split between torch's thread count of Python threads instead, each chip whole
    # on one (its numbers as on one thread): 256 px chips' fit on 2 cores ~1.5x faster
    threads = max(1, min(torch.get_num_threads(), len(chips)))
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda rc: _chip_features(region, mean, grid, freqs, *rc), chips))


def _chip_features(
    region: np.ndarray, mean: float, grid: ChipGrid, freqs: np.ndarray, r: int, c: int
) -> np.ndarray:
    """(2 + F,) features of chip (r, c) of the grid's ``region`` (whose ``mean`` the frame's
    spectrum removes): intensity and squared-intensity means, then the mean Gabor amplitude
    over its n x n samples at each frequency (``boundary.gabor_amplitudes``)."""
    s = grid.chip_size
    cell = np.asarray(region[r * s : (r + 1) * s, c * s : (c + 1) * s], np.float64)
    n, sigma = samples_per_side(s), gabor_sigma(s)
    ay, ny = _axis_filters(r, s, n, sigma, region.shape[0], freqs[:, 0])
    ax, nx = _axis_filters(c, s, n, sigma, region.shape[1], freqs[:, 1])
    window = np.asarray(region[ny, nx], np.float64) - mean
    # the large product in real arithmetic (complex @ real would copy the window to complex
    # and do four times the multiplications), then the small complex one: (F, n, n)
    f = len(freqs)
    rows = np.concatenate([ay.real, ay.imag]) @ window
    resp = (rows[:f] + 1j * rows[f:]) @ ax.transpose(0, 2, 1)
    amps = np.abs(resp).mean(axis=(1, 2))
    return np.concatenate([[cell.mean(), (cell * cell).mean()], amps])


def _axis_filters(
    index: int, s: int, n: int, sigma: float, length: int, freqs: np.ndarray
) -> tuple[np.ndarray, slice]:
    """One axis of the separable filters of chip ``index``: (F, n, L) complex weights over the
    pixels ``slice`` (L) around its n sample positions, each Gaussian (unit sum, std sigma)
    divided by its weight inside the frame, as ``boundary.gabor_amplitudes`` normalises."""
    pos = index * s + np.arange(n) * (s / n) + (s / n - 1) / 2
    lo = max(int(np.floor(pos[0] - _REACH * sigma)), 0)
    hi = min(int(np.ceil(pos[-1] + _REACH * sigma)) + 1, length)
    x = np.arange(lo, hi, dtype=np.float64)
    g = np.exp(-0.5 * ((x[None] - pos[:, None]) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    inside = ndtr((length - 0.5 - pos) / sigma) - ndtr((-0.5 - pos) / sigma)
    g /= np.maximum(inside, _MIN_INSIDE)[:, None]
    wave = np.exp(-2j * np.pi * freqs[:, None] * x[None])
    return wave[:, None, :] * g[None], slice(lo, hi)


@dataclass(frozen=True)
class SupportPeaks:
    """The fitted group: its scale, the embedding's length D, the group's length F and the
    support embeddings with the group appended {class: (n_k, D + F)}."""

    scale: float
    dim: int
    n_peaks: int
    augmented_support: dict[int, np.ndarray]

    @classmethod
    def fit(
        cls,
        support_emb: dict[int, np.ndarray],
        support_features: dict[int, np.ndarray],
        *,
        share: float = PEAK_SHARE,
    ) -> SupportPeaks | None:
        """Scale the support chips' peak profiles to ``share`` of the embedding's spread and
        append them; None when there are no peaks or the profiles do not vary."""
        classes = sorted(support_emb)
        if next(iter(support_features.values())).shape[1] < 4:  # one peak: a constant profile
            return None
        emb = np.concatenate([np.asarray(support_emb[k], np.float64) for k in classes])
        prof_of = {k: peak_profile(support_features[k]) for k in classes}
        prof = np.concatenate([prof_of[k] for k in classes])
        spread, own = emb.var(axis=0).sum(), prof.var(axis=0).sum()
        if own <= 0 or spread <= 0:
            return None
        scale = float(np.sqrt(share * spread / own))
        out = {
            k: np.concatenate(
                [np.asarray(support_emb[k], np.float32), scale * prof_of[k]],
                axis=1,
            ).astype(np.float32)
            for k in classes
        }
        return cls(scale, emb.shape[1], prof.shape[1], out)

    def groups(self, groups: Sequence[tuple[str, slice]]) -> list[tuple[str, slice]]:
        """The encoder's groups with the appended one."""
        return [*groups, (PEAK_GROUP, slice(self.dim, self.dim + self.n_peaks))]

    def augment(self, q: torch.Tensor, features: np.ndarray) -> torch.Tensor:
        """Query embeddings (N, D) with the scaled peak profiles of ``features`` (rows, cols,
        2 + F) appended -> (N, D + F)."""
        prof = self.scale * peak_profile(features).reshape(len(q), -1)
        return torch.cat([q, torch.from_numpy(prof.astype(np.float32))], dim=1)


def fit_support_peaks(
    images: Sequence,
    supports: Sequence[Support],
    support_emb: dict[int, np.ndarray],
    frequencies: np.ndarray | None,
    *,
    share: float = PEAK_SHARE,
) -> SupportPeaks | None:
    """``SupportPeaks.fit`` for ``Segmenter.fit``: images (``pipeline.Embedded``, frame 0
    with the support chips), their supports and the pooled support embeddings; None without
    frequencies (boundary refinement off) or with ``share`` 0."""
    if frequencies is None or len(frequencies) == 0 or share <= 0:
        return None
    feats = support_peak_features(
        [img.frames[0] for img in images],
        [img.grid for img in images],
        supports,
        frequencies,
        memos=[img.memo for img in images],  # kept for the next fit (``memo.ChipMemo``)
    )
    return SupportPeaks.fit(support_emb, feats, share=share)
