"""Tiny synthetic images for the few-shot engine tests."""

from __future__ import annotations

import numpy as np


def stripes(
    shape: tuple[int, int], period: float, angle_deg: float, rng: np.random.Generator
) -> np.ndarray:
    """A noisy sinusoidal fringe pattern (H, W) float32 around [0, 1]."""
    yy, xx = np.indices(shape, dtype=np.float64)
    t = np.deg2rad(angle_deg)
    img = 0.5 + 0.4 * np.sin(2 * np.pi * (xx * np.cos(t) + yy * np.sin(t)) / period)
    return (img + rng.normal(0, 0.05, shape)).astype(np.float32)
