"""Tiny synthetic images for the few-shot engine tests, and the accuracy of a bench method."""

from __future__ import annotations

from dataclasses import replace

import numpy as np


def stripes(
    shape: tuple[int, int], period: float, angle_deg: float, rng: np.random.Generator
) -> np.ndarray:
    """A noisy sinusoidal fringe pattern (H, W) float32 around [0, 1]."""
    yy, xx = np.indices(shape, dtype=np.float64)
    t = np.deg2rad(angle_deg)
    img = 0.5 + 0.4 * np.sin(2 * np.pi * (xx * np.cos(t) + yy * np.sin(t)) / period)
    return (img + rng.normal(0, 0.05, shape)).astype(np.float32)


def chip_accuracy(method, sample, *, k: int, draws: int, **options) -> float:
    """Mean chip accuracy of a prepared bench method (``bench.methods.EncoderMethod``) on a
    bench sample over ``draws`` seeded draws of ``k`` support chips per class, with its
    options replaced by ``options``."""
    method.options = replace(method.options, **options)
    rng = np.random.default_rng(0)
    scores = []
    for _ in range(draws):
        support = {}
        for c in range(len(sample.present)):
            rows, cols = np.nonzero(sample.labels == c)
            pick = rng.choice(rows.size, k, replace=False)
            support[c] = [(int(rows[i]), int(cols[i])) for i in pick]
        pred, _ = method.predict(support)
        scores.append((pred == sample.labels).mean())
    return float(np.mean(scores))
