"""Fixtures for the few-shot engine tests: tiny synthetic images with known truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fewshot.synthetic import stripes


@pytest.fixture(autouse=True)
def _one_thread():
    """Keep the shared CPU free for others; restore the caller's setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def two_phase() -> tuple[np.ndarray, np.ndarray]:
    """96x128 image: 0 deg fringes (class 0, left), darker 60 deg fringes (class 1, right)."""
    rng = np.random.default_rng(0)
    left = stripes((96, 64), 6.0, 0.0, rng)
    right = stripes((96, 64), 6.0, 60.0, rng) * 0.6
    truth = np.zeros((96, 128), np.int32)
    truth[:, 64:] = 1
    return np.concatenate([left, right], axis=1), truth
