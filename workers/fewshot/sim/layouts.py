"""Region layouts: how a canvas is cut into domains (layers with steps, Voronoi grains, islands).

Each layout returns a region map (H, W) int32 with ids 0..n-1; a case then assigns a phase and a
class to every region id.
"""

from __future__ import annotations

import math

import numpy as np

from workers.fewshot.sim.fields import smooth_field

__all__ = ["blobs", "layers", "voronoi"]


def _frame(canvas: tuple[int, int], angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along (t) and across (n) a direction ``angle`` (deg), centred, (H, W) each."""
    h, w = canvas
    y = np.arange(h, dtype=np.float32)[:, None] - h / 2
    x = np.arange(w, dtype=np.float32)[None, :] - w / 2
    a = math.radians(angle)
    t = math.cos(a) * x + math.sin(a) * y
    n = -math.sin(a) * x + math.cos(a) * y
    return t, n


def layers(
    canvas: tuple[int, int],
    positions: list[float],
    *,
    angle: float = 0.0,
    step_height: float = 0.0,
    terrace: float = 64.0,
    wave: float = 0.0,
    wavelength: float = 200.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Stacked layers separated by (stepped, wavy) interfaces -> (H, W) int32 ids 0..len(positions).

    positions: interface offsets across the layers, as fractions of the canvas extent in that
    direction (-0.5..0.5, increasing); angle: interface direction (deg); step_height / terrace:
    atomic-step staircase (px); wave / wavelength: sinusoidal roughness amplitude and period (px).
    """
    t, n = _frame(canvas, angle)
    extent = float(np.ptp(n)) or 1.0
    phase = rng.uniform(0, 2 * math.pi) if rng is not None else 0.0
    shift = np.zeros_like(t)
    if step_height:
        shift = shift + step_height * np.floor(t / terrace)
        # Centre the staircase so the layers keep their nominal fractions on average.
        shift = shift - float(shift.mean())
    if wave:
        shift = shift + wave * np.sin(2 * math.pi * t / wavelength + phase)
    regions = np.zeros(canvas, np.int32)
    for p in sorted(positions):
        regions += (n > p * extent + shift).astype(np.int32)
    return regions


def voronoi(
    canvas: tuple[int, int], n: int, rng: np.random.Generator, *, boundary_wave: float = 0.0
) -> np.ndarray:
    """Voronoi grains from ``n`` random seeds -> (H, W) int32 ids 0..n-1.

    boundary_wave: amplitude (px) of a smooth displacement field that bends straight boundaries.
    """
    h, w = canvas
    seeds = np.column_stack([rng.uniform(0, h, n), rng.uniform(0, w, n)]).astype(np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    if boundary_wave:
        dy, dx = smooth_field(canvas, 24.0, rng), smooth_field(canvas, 24.0, rng)
        y, x = y + boundary_wave * dy, x + boundary_wave * dx
    best = np.full(canvas, np.inf, np.float32)
    regions = np.zeros(canvas, np.int32)
    for i, (sy, sx) in enumerate(seeds):
        d = (y - sy) ** 2 + (x - sx) ** 2
        closer = d < best
        best[closer] = d[closer]
        regions[closer] = i
    return regions


def blobs(
    canvas: tuple[int, int], rng: np.random.Generator, *, fraction: float = 0.4, scale: float = 40.0
) -> np.ndarray:
    """Smooth random islands covering ~``fraction`` of the canvas -> (H, W) int32 (1 = island)."""
    field = smooth_field(canvas, scale, rng)
    threshold = np.quantile(field, 1.0 - fraction)
    return (field > threshold).astype(np.int32)
