"""Fixtures for the few-shot engine tests: tiny synthetic images with known truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

PYCHIP = "/work/shared/data/pychip"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def stripes(shape: tuple[int, int], period: float, angle_deg: float, rng: np.random.Generator) -> np.ndarray:
    """A noisy sinusoidal lattice fringe pattern (H, W) float32 in [0, 1]."""
    yy, xx = np.indices(shape, dtype=np.float64)
    t = np.deg2rad(angle_deg)
    img = 0.5 + 0.4 * np.sin(2 * np.pi * (xx * np.cos(t) + yy * np.sin(t)) / period)
    return (img + rng.normal(0, 0.05, shape)).astype(np.float32)


@pytest.fixture
def two_phase() -> tuple[np.ndarray, np.ndarray]:
    """A 96x128 image: left half horizontal-ish fringes (class 0), right half a darker fringe rotated 60 deg (class 1)."""
    rng = np.random.default_rng(0)
    left = stripes((96, 64), 6.0, 0.0, rng)
    right = stripes((96, 64), 6.0, 60.0, rng) * 0.6
    truth = np.zeros((96, 128), np.int32)
    truth[:, 64:] = 1
    return np.concatenate([left, right], axis=1), truth
