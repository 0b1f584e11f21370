"""Supports under the particles: amorphous films, lacy and holey carbon, wrinkles, crystals.

Every map is a thickness in nm (vacuum: 0) on the canvas, or a factor on one. Random fields are
white noise shaped in Fourier space; shares (vacuum, film) are set by quantiles of a field, so
they hold at every image size.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, ndimage

__all__ = [
    "crystal_edge",
    "film",
    "grain_lattice",
    "holey",
    "lacy",
    "random_field",
    "wrinkles",
]


def random_field(
    rng: np.random.Generator, shape: tuple[int, int], corr: float, fractal: float | None = None
) -> np.ndarray:
    """Zero-mean, unit-variance random field (H, W) float32: Gaussian spectrum of correlation
    length ``corr`` px, or with ``fractal`` a (1 + (2 pi corr q)^2)^(-fractal / 2) spectrum."""
    h, w = shape
    spec = fft.rfft2(rng.standard_normal(shape), workers=1)
    q2 = fft.fftfreq(h)[:, None] ** 2 + fft.rfftfreq(w)[None, :] ** 2
    if fractal is None:
        spec *= np.exp(-2 * np.pi**2 * corr**2 * q2)
    else:
        spec *= (1 + 4 * np.pi**2 * corr**2 * q2) ** (-fractal / 2)
    f = fft.irfft2(spec, s=shape, workers=1)
    return ((f - f.mean()) / max(f.std(), 1e-12)).astype(np.float32)


def film(rng: np.random.Generator, shape, mean_nm: float, rough_nm: float) -> np.ndarray:
    """Amorphous film: ``mean_nm`` thick with fractal roughness of ``rough_nm`` rms (>= 0)."""
    rough = random_field(rng, shape, corr=6.0, fractal=2.2) * rough_nm
    return np.maximum(mean_nm + rough, 0.1 * mean_nm).astype(np.float32)


def lacy(rng: np.random.Generator, shape, strand_px: float, carbon_share: float) -> np.ndarray:
    """Lacy carbon: a network of strands (the near-zero band of a smooth field, whose level
    lines wind and join) covering ``carbon_share`` of the canvas -> bool (True: carbon)."""
    f = np.abs(random_field(rng, shape, corr=strand_px))
    return f <= np.quantile(f, carbon_share)


def holey(rng: np.random.Generator, shape, radius_px: float, vacuum_share: float) -> np.ndarray:
    """Holey carbon seen close up: round holes of ``radius_px`` (+- 15 %) on a skewed grid,
    shifted until about ``vacuum_share`` of the canvas is vacuum -> bool (True: carbon)."""
    h, w = shape
    pitch = radius_px * np.sqrt(np.pi / max(vacuum_share, 0.05))
    best = None
    for _ in range(24):
        oy, ox = rng.uniform(0, pitch, 2)
        yy, xx = np.mgrid[-1 : h / pitch + 2, -1 : w / pitch + 2]
        cy = (yy * pitch + oy + 0.3 * pitch * (xx % 2)).ravel()
        cx = (xx * pitch + ox).ravel()
        seeds = np.zeros(shape, bool)
        inside = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
        seeds[cy[inside].astype(int), cx[inside].astype(int)] = True
        dist = ndimage.distance_transform_edt(~seeds) if inside.any() else np.full(shape, np.inf)
        radius = radius_px * rng.uniform(0.85, 1.15)
        carbon = dist > radius
        miss = abs((~carbon).mean() - vacuum_share)
        if best is None or miss < best[0]:
            best = (miss, carbon)
        if miss < 0.05:
            break
    return best[1]


def wrinkles(rng: np.random.Generator, shape, n: int, width_px: float, height_nm: float):
    """``n`` wrinkles of a thin film: winding lines with a Gaussian profile of ``width_px``
    (sigma) and ``height_nm`` extra thickness at their crest -> (H, W) float32 nm."""
    h, w = shape
    lines = np.zeros(shape, bool)
    for _ in range(n):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(2 * max(h, w))):
            angle += rng.normal(0, 0.04)
            y, x = y + np.sin(angle), x + np.cos(angle)
            if not (0 <= y < h and 0 <= x < w):
                break
            lines[int(y), int(x)] = True
    if not lines.any():
        return np.zeros(shape, np.float32)
    dist = ndimage.distance_transform_edt(~lines)
    return (height_nm * np.exp(-0.5 * (dist / width_px) ** 2)).astype(np.float32)


def crystal_edge(rng: np.random.Generator, shape, slope_nm: float, cap_nm: float) -> np.ndarray:
    """A support crystal whose edge crosses the canvas: a wedge rising ``slope_nm`` per px from
    a gently curved edge to ``cap_nm``, vacuum beyond -> (H, W) float32 nm."""
    h, w = shape
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (yy - h / 2) * np.sin(angle) + (xx - w / 2) * np.cos(angle)
    v = -(yy - h / 2) * np.cos(angle) + (xx - w / 2) * np.sin(angle)
    bend = rng.uniform(-1, 1) * v**2 / (4 * max(h, w))
    edge = rng.uniform(0.3, 0.42) * min(h, w)  # edge this far from the centre, vacuum behind
    depth = u + edge + bend + 6 * random_field(rng, shape, corr=25.0)
    return np.clip(slope_nm * depth, 0, cap_nm).astype(np.float32)


def grain_lattice(
    rng: np.random.Generator, shape, spacing_px: float, grain_px: float
) -> np.ndarray:
    """Lattice fringes of a polycrystalline support: Voronoi grains ~``grain_px`` across, each
    with a square lattice of ``spacing_px`` at its own angle and contrast (some grains off any
    zone axis show none) -> (H, W) float32 factor with mean ~1."""
    h, w = shape
    n = max(2, int(h * w / grain_px**2))
    seeds = np.zeros(shape, bool)
    seeds[rng.integers(0, h, n), rng.integers(0, w, n)] = True
    _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    grain = iy * w + ix
    ids, grain = np.unique(grain, return_inverse=True)
    grain = grain.reshape(shape)
    angle = rng.uniform(0, np.pi / 2, ids.size)[grain]
    contrast = (rng.uniform(0, 1, ids.size) ** 0.7 * 0.55)[grain]
    ratio = rng.choice([1.0, 1.0, 1.41], ids.size)[grain]  # some grains show a [110] cell
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    k = 2 * np.pi / spacing_px
    a = k * (xx * np.cos(angle) + yy * np.sin(angle))
    b = k / ratio * (-xx * np.sin(angle) + yy * np.cos(angle))
    cells = (np.cos(a) + 1) * (np.cos(b) + 1) / 4  # bright columns on a dim ground
    return (1 + contrast * (cells - 0.25) * 2).astype(np.float32)
