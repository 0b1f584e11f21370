"""Random fields and region layouts of the unseen families (own code, not the training sim's).

Fields are spectral (1/f^beta noise synthesised in Fourier space); layouts are built from a
KD-tree nearest-seed query with a warped metric, rough-edged bands and star-convex shapes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = ["bands", "grains", "islands", "pink_field", "pink_series", "star_radius"]


def pink_field(shape: tuple[int, int], rng: np.random.Generator, beta: float = 2.0) -> np.ndarray:
    """Zero-mean, unit-std noise with power spectrum ~ 1/|k|^beta, (H, W) float32.

    beta 1: pink (grainy), 2: brown (mottled), 3-4: slowly varying (thickness, illumination).
    """
    h, w = shape
    ky, kx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = 1.0
    amplitude = k ** (-beta / 2)
    amplitude[0, 0] = 0.0
    phase = rng.uniform(0, 2 * math.pi, amplitude.shape)
    spectrum = amplitude * rng.rayleigh(1.0, amplitude.shape) * np.exp(1j * phase)
    out = np.fft.irfft2(spectrum, s=shape)
    return ((out - out.mean()) / max(float(out.std()), 1e-12)).astype(np.float32)


def pink_series(n: int, rng: np.random.Generator, beta: float = 1.0) -> np.ndarray:
    """1-D zero-mean, unit-std noise with power spectrum ~ 1/f^beta, (n,) float64."""
    f = np.fft.rfftfreq(n)
    f[0] = 1.0
    spectrum = f ** (-beta / 2) * (rng.normal(size=f.size) + 1j * rng.normal(size=f.size))
    spectrum[0] = 0.0
    out = np.fft.irfft(spectrum, n=n)
    return (out - out.mean()) / max(float(out.std()), 1e-12)


def grains(
    shape: tuple[int, int], n: int, rng: np.random.Generator, *, warp: float = 6.0
) -> np.ndarray:
    """Grains around ``n`` random seeds -> (H, W) int32 ids 0..n-1.

    Each pixel belongs to its nearest seed after a smooth random displacement of up to about
    ``warp`` px, so boundaries curve and meet at irregular triple junctions.
    """
    h, w = shape
    seeds = rng.uniform((0, 0), (h, w), (n, 2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if warp:
        yy = yy + warp * pink_field(shape, rng, 3.5)
        xx = xx + warp * pink_field(shape, rng, 3.5)
    _, idx = cKDTree(seeds).query(np.column_stack([yy.ravel(), xx.ravel()]))
    return idx.reshape(h, w).astype(np.int32)


def bands(
    shape: tuple[int, int],
    fractions: list[float],
    rng: np.random.Generator,
    *,
    angle: float = 0.0,
    roughness: float = 3.0,
) -> np.ndarray:
    """Parallel bands with rough interfaces -> (H, W) int32 ids 0..len(fractions).

    fractions: interface positions across the canvas (0..1, increasing); angle: direction of the
    interfaces (deg); roughness: std (px) of each interface's 1/f^2 meander.
    """
    h, w = shape
    a = math.radians(angle)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    along = xx * math.cos(a) + yy * math.sin(a)
    across = -xx * math.sin(a) + yy * math.cos(a)
    lo, hi = float(across.min()), float(across.max())
    t = np.round(along - along.min()).astype(int)
    regions = np.zeros(shape, np.int32)
    for f in sorted(fractions):
        meander = roughness * pink_series(int(t.max()) + 1, rng, 2.0)
        regions += (across > lo + f * (hi - lo) + meander[t]).astype(np.int32)
    return regions


def islands(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    fraction: float = 0.4,
    beta: float = 3.0,
    smooth: float = 6.0,
) -> np.ndarray:
    """Islands covering ~``fraction`` of the canvas, (H, W) int32 (1 = island).

    A 1/f^beta field, low-passed by a Gaussian of ``smooth`` px (edges rough but not fractal),
    thresholded at its (1 - fraction) quantile.
    """
    field = ndimage.gaussian_filter(pink_field(shape, rng, beta), smooth, mode="wrap")
    return (field > np.quantile(field, 1.0 - fraction)).astype(np.int32)


def star_radius(
    theta: np.ndarray, rng: np.random.Generator, *, irregularity: float = 0.25, lobes: int = 6
) -> np.ndarray:
    """A star-convex outline: relative radius r(theta) > 0 (1 on average) at angles ``theta``.

    A sum of ``lobes`` harmonics with 1/n amplitudes, scaled so the outline deviates by about
    ``irregularity`` (relative) from a circle.
    """
    n = np.arange(2, lobes + 2)
    amp = rng.normal(size=n.size) / n
    phase = rng.uniform(0, 2 * math.pi, n.size)
    wiggle = (amp[:, None] * np.cos(n[:, None] * theta.ravel()[None, :] + phase[:, None])).sum(0)
    wiggle = irregularity * wiggle / max(float(np.abs(amp).sum()), 1e-9)
    return np.clip(1.0 + wiggle, 0.35, None).reshape(theta.shape)
