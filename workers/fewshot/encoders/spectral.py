"""Batched Fourier and intensity descriptors of chips (used by the fourier and default encoders)."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["N_STATS", "R_MAX", "R_MIN", "intensity_stats", "polar_log_spectrum", "pool2"]

#: polar samples cover this band of radii, as fractions of the Nyquist frequency
R_MIN, R_MAX = 0.08, 0.92
#: number of values returned by :func:`intensity_stats`
N_STATS = 9
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_EPS = 1e-5


@lru_cache(maxsize=32)
def _window(s: int, device: torch.device) -> torch.Tensor:
    """2-D Hann window (s, s) normalised to unit energy."""
    w = (
        torch.hann_window(s, periodic=False, dtype=torch.float64)
        if s > 2
        else torch.ones(s, dtype=torch.float64)
    )
    w2 = torch.outer(w, w)
    return (w2 / w2.pow(2).sum().sqrt()).to(device=device, dtype=torch.float32)


@lru_cache(maxsize=32)
def _polar_grid(s: int, n_radial: int, n_angular: int, device: torch.device) -> torch.Tensor:
    """grid_sample coordinates (1, R, A, 2) of polar points in a half-plane (rfft2) spectrum.

    The spectrum is (s, s // 2 + 1): rows are fftshifted vertical frequencies, columns the
    non-negative horizontal ones. A point with fx < 0 is read at (-fx, -fy): the power spectrum
    of a real image is point-symmetric.
    """
    rho = torch.linspace(R_MIN, R_MAX, n_radial, dtype=torch.float64)
    theta = torch.arange(n_angular, dtype=torch.float64) * (math.pi / n_angular)
    f = 0.5 * rho[:, None]  # cycles / pixel
    fx, fy = f * torch.cos(theta)[None, :], f * torch.sin(theta)[None, :]
    flip = torch.where(fx < 0, -1.0, 1.0).to(torch.float64)
    fx, fy = fx * flip, fy * flip
    ix, iy = fx * s, s // 2 + fy * s
    w = s // 2 + 1
    # align_corners=True: pixel index i <-> normalised coordinate 2 i / (n - 1) - 1
    gx = 2 * ix / max(w - 1, 1) - 1
    grid = torch.stack([gx, 2 * iy / (s - 1) - 1], dim=-1)
    return grid[None].to(device=device, dtype=torch.float32)


def polar_log_spectrum(
    chips: torch.Tensor, *, n_radial: int = 12, n_angular: int = 36
) -> torch.Tensor:
    """Log power spectrum of each chip on a polar grid: (N, 1, s, s) -> (N, R, A).

    Chips are mean-subtracted and Hann-windowed; all chips are transformed in one batched FFT.
    Radii run linearly from R_MIN to R_MAX of Nyquist (so the layout does not depend on s),
    angles over [0, pi) (the spectrum of a real image is symmetric). The spectrum is box-smoothed
    so that polar samples, which get sparser at larger s, do not miss narrow lattice peaks.
    Values are ``log(power + 1e-5)`` with power normalised so white noise of variance v gives v.
    """
    n, _, s, _ = chips.shape
    x = chips[:, 0].float()
    x = (x - x.mean(dim=(-2, -1), keepdim=True)).mul_(_window(s, x.device))
    spec = torch.fft.rfft2(x)  # (N, s, s // 2 + 1): half the work of a full FFT
    power = torch.fft.fftshift(spec.real.square().add_(spec.imag.square()), dim=-2).unsqueeze(1)
    spacing = math.pi * R_MAX * s / 2 / n_angular  # arc length between polar samples, px
    k = 2 * int(spacing // 2) + 1
    if k >= SAT_MIN_BOX:
        polar = _box_polar(power[:, 0], k, n_radial, n_angular)
        return torch.log(polar.view(n, n_radial, n_angular) + _EPS)
    if k > 1:
        power = _box_mean(power, k)
    grid = _polar_grid(s, n_radial, n_angular, x.device).expand(n, -1, -1, -1)
    polar = F.grid_sample(power, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return torch.log(polar[:, 0] + _EPS)


#: box size from which :func:`polar_log_spectrum` reads box means from a summed-area table at
#: the polar samples' corners instead of box-filtering the whole spectrum (the same values to
#: float rounding). The filter costs 2 k passes over the spectrum of every window, k ~ s / 25:
#: for a 214 px chip's 428 px window (k = 17) it was half of the encoder's time. Below 7 (chips
#: up to ~75 px, windows up to ~150 px) the filter is as fast and keeps the values bit for bit
#: what training saw (train.py: chips of 16-64 px), so the committed weights still reproduce.
SAT_MIN_BOX = 7


@lru_cache(maxsize=32)
def _box_polar_taps(
    s: int, k: int, n_radial: int, n_angular: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed-area-table taps of the polar samples: index (P, 16) into the flattened table
    (s + 1, s // 2 + 2) and float64 weights (P, 16), P = R * A.

    Sample p is ``grid_sample``'s bilinear mix (align_corners, border padding) of the box means
    (k x k, clipped at the edges, as :func:`_box_mean`) at its 4 neighbouring bins; each box sum
    is 4 table reads.
    """
    w = s // 2 + 1
    grid = _polar_grid(s, n_radial, n_angular, torch.device("cpu"))[0].reshape(-1, 2).double()
    ix = ((grid[:, 0] + 1) / 2 * (w - 1)).clamp(0, w - 1)
    iy = ((grid[:, 1] + 1) / 2 * (s - 1)).clamp(0, s - 1)
    x0, y0 = ix.floor().long(), iy.floor().long()
    fx, fy = ix - x0, iy - y0
    r = k // 2
    index, weight = [], []
    for cy, wy in ((y0, 1 - fy), ((y0 + 1).clamp(max=s - 1), fy)):
        for cx, wx in ((x0, 1 - fx), ((x0 + 1).clamp(max=w - 1), fx)):
            top, bottom = (cy - r).clamp(min=0), (cy + r).clamp(max=s - 1) + 1
            left, right = (cx - r).clamp(min=0), (cx + r).clamp(max=w - 1) + 1
            scale = wy * wx / ((bottom - top) * (right - left))
            for yy, xx, sign in (
                (bottom, right, 1),
                (top, right, -1),
                (bottom, left, -1),
                (top, left, 1),
            ):
                index.append(yy * (w + 1) + xx)
                weight.append(sign * scale)
    return (
        torch.stack(index, 1).to(device),
        torch.stack(weight, 1).to(device),
    )


def _box_polar(power: torch.Tensor, k: int, n_radial: int, n_angular: int) -> torch.Tensor:
    """Polar samples of the k x k box-mean of half-plane spectra: (N, s, s // 2 + 1) -> (N, P).

    One float64 summed-area table per spectrum (float32 cumulative sums would lose the faint
    high-frequency power against the bright low frequencies), read at 16 taps per sample.
    """
    n, s, w = power.shape
    index, weight = _box_polar_taps(s, k, n_radial, n_angular, power.device)
    table = torch.zeros(n, s + 1, w + 1, dtype=torch.float64, device=power.device)
    table[:, 1:, 1:] = power
    table = table.cumsum_(1).cumsum_(2).view(n, -1)
    taps = table[:, index.view(-1)].view(n, *index.shape)
    return (taps * weight).sum(-1).float()


def _box_mean_1d(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Mean over a centred window of k (odd) along ``dim``, windows clipped at the edges.

    The shifted copies are added in place into one sum, left to right as a zero-padded sum
    would add them (terms outside the edges are the padding's zeros: skipping them changes no
    bit): no padded copy and no temporaries, 3-5x faster than summing shifted views of a
    padded copy (64 px windows' spectra: 3.4 -> 0.9 ms per 256)."""
    r, n = k // 2, x.shape[dim]
    total = torch.zeros_like(x)
    for shift in range(-r, r + 1):
        lo, hi = max(0, -shift), min(n, n - shift)
        total.narrow(dim, lo, hi - lo).add_(x.narrow(dim, lo + shift, hi - lo))
    idx = torch.arange(n, device=x.device)
    count = (torch.clamp(idx + r, max=n - 1) - torch.clamp(idx - r, min=0) + 1).to(x.dtype)
    shape = [1] * x.ndim
    shape[dim] = n
    return total.div_(count.reshape(shape))


def _box_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """``avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)`` for odd k, as
    two 1-D passes of shifted sums: the same values, several times faster on CPU."""
    return _box_mean_1d(_box_mean_1d(x, k, -2), k, -1)


def pool2(
    x: torch.Tensor, combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """2x2 pooling with stride 2 (odd edges dropped) as two element-wise ``combine`` calls on
    strided views: rows, then columns. On CPU this is ~15x faster than max_pool2d / avg_pool2d
    on (N, C, H, W) batches of small maps, with the same values."""
    h, w = x.shape[-2:]
    x = x[..., : h - h % 2, : w - w % 2]
    x = combine(x[..., 0::2, :], x[..., 1::2, :])
    return combine(x[..., 0::2], x[..., 1::2])


def _mean_pool2(x: torch.Tensor) -> torch.Tensor:
    """``avg_pool2d(x, 2)``."""
    return pool2(x, lambda a, b: (a + b) * 0.5)


def intensity_stats(chips: torch.Tensor) -> torch.Tensor:
    """Intensity statistics per chip: (N, 1, s, s) -> (N, 9).

    Columns: mean, std, quantiles 5/25/50/75/95 %, log gradient energy at full resolution,
    log gradient energy after 2x downsampling (a coarse/fine texture ratio). Quantiles are
    taken on chips area-resized to at most 16 px, which keeps 4k images fast and the values
    less noise-dominated.
    """
    x = chips.float()
    n, _, s, _ = x.shape
    flat = x.reshape(n, -1)
    mean = flat.mean(1)
    # two-pass sample std (torch.std is several times slower on large batches of windows)
    std = (
        ((flat - mean[:, None]).square().sum(1) / (flat.shape[1] - 1)).sqrt()
        if s > 1
        else torch.zeros_like(mean)
    )
    small = F.interpolate(x, size=(16, 16), mode="area") if s > 16 else x
    q = _quantiles(small.reshape(n, -1))
    grad = _grad_energy(x)
    coarse = _grad_energy(_mean_pool2(x)) if s >= 4 else grad
    return torch.cat(
        [
            mean[:, None],
            std[:, None],
            q,
            torch.log(grad + _EPS)[:, None],
            torch.log(coarse + _EPS)[:, None],
        ],
        dim=1,
    )


def _quantiles(rows: torch.Tensor) -> torch.Tensor:
    """``torch.quantile(rows, _QUANTILES, dim=1).T`` (linear interpolation): (N, m) -> (N, 5).

    On CPU the rows are sorted by numpy (SIMD sorting: ~15x faster than torch.sort on rows of
    256, which was a tenth of the default encoder's time over 32 px chips) and interpolated
    as torch.quantile does (ranks q * (m - 1) in the rows' dtype, ``lerp``): the same values
    bit for bit.
    """
    q = torch.tensor(_QUANTILES, dtype=rows.dtype, device=rows.device)
    if rows.device.type != "cpu" or rows.requires_grad or rows.dtype != torch.float32:
        return torch.quantile(rows, q, dim=1).T
    ordered = torch.from_numpy(np.sort(rows.numpy(), axis=1))
    ranks = q * (rows.shape[1] - 1)
    below, above = ranks.long(), ranks.ceil().long()
    return torch.lerp(ordered[:, below], ordered[:, above], (ranks - below).expand(len(rows), -1))


def _grad_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean squared finite difference per chip: (N, 1, s, s) -> (N,)."""
    if x.shape[-1] < 2:
        return torch.zeros(x.shape[0], device=x.device)
    gy = (x[..., 1:, :] - x[..., :-1, :]).square().mean(dim=(1, 2, 3))
    gx = (x[..., :, 1:] - x[..., :, :-1]).square().mean(dim=(1, 2, 3))
    return gx + gy
