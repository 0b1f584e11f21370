"""The support set's lattice frequencies: the strongest spectral peaks of each class's support
windows. Boundary refinement (``boundary.chip_features``), the pixel map's Gabor features
(``workers.fewshot.pixels``) and the support-peak group (``spectral_peaks``) are tuned to them:
they are what tells lattice domains (orientation, spacing, motif) apart."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from workers.fewshot.boundary import BoundaryConfig
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.memo import ChipMemo

__all__ = ["support_frequencies"]

Support = dict[int, list[tuple[int, int]]]


def _context_window(norm: np.ndarray, y0: int, x0: int, s: int) -> np.ndarray:
    """The 2 s px window around the chip at (y0, x0) of ``np.pad(norm, s, mode="symmetric")``."""
    ys = np.pad(np.arange(norm.shape[0]), s, mode="symmetric")[y0 + s // 2 :][: 2 * s]
    xs = np.pad(np.arange(norm.shape[1]), s, mode="symmetric")[x0 + s // 2 :][: 2 * s]
    return norm[np.ix_(ys, xs)]


def support_frequencies(
    images: Sequence[np.ndarray],
    grids: Sequence[ChipGrid],
    supports: Sequence[Support],
    *,
    n_peaks: int = BoundaryConfig.n_peaks,
    memos: Sequence[ChipMemo] | None = None,
) -> np.ndarray:
    """Strongest spectral peaks of each class's support windows -> (F, 2) (ky, kx) cycles/px.

    Windows are twice the chip, centred on each support chip (mirrored at the image edge) and
    Hann-weighted; each class's mean power spectrum gives its ``n_peaks`` local maxima away from
    DC (one of each +k / -k pair). Peaks closer than a bin to one already kept are dropped.
    ``memos`` (one per image, or None): each window's power spectrum is kept there for the next
    fit on the same image (``memo.ChipMemo``).
    """
    by_class: dict[int, list[np.ndarray]] = {}
    win = None
    for i, (norm, grid, support) in enumerate(zip(images, grids, supports, strict=True)):
        s, win = grid.chip_size, 2 * grid.chip_size
        hann = np.outer(np.hanning(win), np.hanning(win))
        chips = [(int(k), grid.chip_box(r, c)[:2]) for k, v in support.items() for r, c in v]

        def power(missing, norm=norm, s=s, hann=hann):
            # the half plane (kx >= 0) from a real FFT: a third of fft2's time, the same numbers
            w = np.stack([_context_window(norm, y, x, s) for _, _, y, x in missing])
            return np.abs(np.fft.rfft2((w - w.mean(axis=(1, 2), keepdims=True)) * hann)) ** 2

        keys = [("power", s, y, x) for _, (y, x) in chips]
        if not keys:
            continue
        memo = memos[i] if memos is not None else ChipMemo()
        spectra = memo.many(keys, power)
        for (k, _), spectrum in zip(chips, spectra, strict=True):
            by_class.setdefault(k, []).append(spectrum)
    if win is None:
        return np.zeros((0, 2))
    centre = win // 2
    yy, xx = np.mgrid[:win, :win] - centre
    # DC and its neighbours (the window's own leakage) and one half-plane (power is symmetric)
    keep = (np.hypot(yy, xx) > 2) & ((xx > 0) | ((xx == 0) & (yy > 0)))
    freqs: list[tuple[float, float]] = []
    for k in sorted(by_class):
        half = np.fft.fftshift(np.stack(by_class[k]), axes=1).mean(0)
        power = np.zeros((win, win))
        power[:, centre:] = np.where(keep[:, centre:], half[:, : win - centre], 0.0)
        ys, xs = np.nonzero((power == ndimage.maximum_filter(power, size=3)) & (power > 0))
        for i in np.argsort(-power[ys, xs], kind="stable")[:n_peaks]:
            f = ((ys[i] - centre) / win, (xs[i] - centre) / win)
            if all(min(math.dist(f, g), math.dist(f, (-g[0], -g[1]))) > 0.75 / win for g in freqs):
                freqs.append(f)
    return np.asarray(freqs, dtype=np.float64).reshape(-1, 2)
