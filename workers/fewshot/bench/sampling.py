"""Support-set sampling: k chips per class drawn from the chips whose majority class it is."""

from __future__ import annotations

import numpy as np

__all__ = ["sample_support", "support_mask"]

Support = dict[int, list[tuple[int, int]]]


def sample_support(chip_labels: np.ndarray, k: int, rng: np.random.Generator) -> Support:
    """Draw up to ``k`` chips per class of ``chip_labels`` (rows, cols) -> {class: [(r, c)]}.

    Classes are the labels >= 0 found in ``chip_labels`` (negative: not scored, never drawn); a
    class with fewer than ``k`` chips contributes all of them. Chips are listed in the order
    drawn (reproducible for one rng state).
    """
    support: Support = {}
    for c in np.unique(chip_labels[chip_labels >= 0]):
        rows, cols = np.nonzero(chip_labels == c)
        pick = rng.choice(rows.size, size=min(k, rows.size), replace=False)
        support[int(c)] = [(int(rows[i]), int(cols[i])) for i in pick]
    return support


def support_mask(support: Support, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (rows, cols) mask of the chips used as support."""
    mask = np.zeros(shape, bool)
    for chips in support.values():
        for r, c in chips:
            mask[r, c] = True
    return mask
