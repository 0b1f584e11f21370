"""Spatial prior on the chip grid: mean-field Potts smoothing of chip probabilities.

The query chips of one micrograph are the task's unlabelled data, and neighbouring chips are
likely of one class (domains, grains, textures, particles larger than a chip). A few mean-field
iterations of ``q_i ∝ p_i * exp(strength * sum_j w_ij q_j / sum_j w_ij)`` over the 8-neighbours
(edge chips average the neighbours they have) with contrast-sensitive weights
``w_ij = exp(-||x_i - x_j||^2 / (contrast * median neighbour distance))``, so a chip unlike its
neighbours (a small particle, a grain edge) keeps its own evidence. Chosen on the seen cases
(SegmentOptions.mean_field; see CONTRACT.md); off for a class with a single example, where the
probabilities are too unreliable to be spread (k = 1 lattices lost 0.015 on the seen set).

Shapes: probabilities (rows, cols, K); embeddings (rows, cols, D) or flat (N, D).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "MEAN_FIELD_CONTRAST",
    "MEAN_FIELD_ITERATIONS",
    "MEAN_FIELD_STRENGTH",
    "edge_weights",
    "mean_field",
    "neighbour_mean",
    "smoothed_log_probs",
]

#: pipeline defaults (SegmentOptions.mean_field): seen cases, seeds 100-103, 384 px, 2 draws,
#: k = 3 chip mIoU lattices / particles / textures 0.969 / 0.715 / 0.760 -> 0.970 / 0.724 / 0.784
#: (strength 3: 0.969 / 0.730 / 0.790 but k = 1 particles -0.02 without the k = 1 rule; contrast
#: off: particles lower, e.g. particles_mixed_thickness seed 103 0.86 -> 0.48 at k = 1)
MEAN_FIELD_STRENGTH = 2.0
MEAN_FIELD_CONTRAST = 1.0
MEAN_FIELD_ITERATIONS = 3
MEAN_FIELD_NEIGHBOURS = 8

_OFFSETS = {
    4: ((-1, 0), (1, 0), (0, -1), (0, 1)),
    8: ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
}


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[r, c] = x[r + dy, c + dx], zero outside the grid."""
    out = np.zeros_like(x)
    rows, cols = x.shape[:2]
    ys, yd = slice(max(dy, 0), rows + min(dy, 0)), slice(max(-dy, 0), rows + min(-dy, 0))
    xs, xd = slice(max(dx, 0), cols + min(dx, 0)), slice(max(-dx, 0), cols + min(-dx, 0))
    out[yd, xd] = x[ys, xs]
    return out


def _inside(shape: tuple[int, int], neighbours: int) -> np.ndarray:
    """(rows, cols, n_offsets): 1 where the neighbour exists."""
    return np.stack([_shift(np.ones(shape), dy, dx) for dy, dx in _OFFSETS[neighbours]], -1)


def edge_weights(
    emb: np.ndarray | torch.Tensor, contrast: float = MEAN_FIELD_CONTRAST, neighbours: int = 8
) -> np.ndarray:
    """Affinity of each chip to each neighbour (rows, cols, n_offsets) from embeddings
    (rows, cols, D): exp(-d / (contrast * median d)), d the squared distance; 0 off the grid.
    Each pair's distance is computed once (float32), on the overlap of the grid and its shift."""
    x = torch.as_tensor(emb, dtype=torch.float32)
    rows, cols = x.shape[:2]
    offsets = _OFFSETS[neighbours]
    d = np.zeros((rows, cols, len(offsets)))
    inside = _inside((rows, cols), neighbours)
    norm = torch.linalg.vecdot(x, x)
    for i, (dy, dx) in enumerate(offsets):
        if (dy, dx) < (0, 0):
            continue  # filled from its mirror below
        here = (slice(0, rows - dy), slice(max(-dx, 0), cols - max(dx, 0)))
        there = (slice(dy, rows), slice(max(dx, 0), cols - max(-dx, 0)))
        pair = norm[here] + norm[there] - 2 * torch.linalg.vecdot(x[here], x[there])
        pair = pair.clamp_min(0).double().numpy()
        d[(*here, i)] = pair
        d[(*there, offsets.index((-dy, -dx)))] = pair
    scale = max(float(np.median(d[inside > 0])), 1e-12) * contrast if inside.any() else 1.0
    return np.exp(-d / scale) * inside


def neighbour_mean(
    x: np.ndarray, neighbours: int = 8, weights: np.ndarray | None = None
) -> np.ndarray:
    """Weighted mean over each chip's 4- or 8-neighbours of (rows, cols, K) values (edge chips:
    the neighbours they have; ``weights`` (rows, cols, n_offsets) from :func:`edge_weights`)."""
    if weights is None:
        weights = _inside(x.shape[:2], neighbours)
    out = np.zeros_like(x)
    for i, (dy, dx) in enumerate(_OFFSETS[neighbours]):
        out += weights[..., i, None] * _shift(x, dy, dx)
    return out / np.maximum(weights.sum(-1), 1e-12)[..., None]


def mean_field(
    probs: np.ndarray,
    *,
    strength: float,
    iterations: int = MEAN_FIELD_ITERATIONS,
    neighbours: int = MEAN_FIELD_NEIGHBOURS,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Mean-field Potts smoothing of chip probabilities (rows, cols, K) -> (rows, cols, K)
    float64; each iteration sets ``q = softmax(log p + strength * neighbour_mean(q))``.
    ``strength`` 0 (or a grid of one row or column) returns the input."""
    p = np.asarray(probs, np.float64)
    if strength <= 0 or iterations <= 0 or min(p.shape[:2]) < 2:
        return p
    unary = np.log(np.maximum(p, 1e-12))
    q = p
    for _ in range(iterations):
        logits = unary + strength * neighbour_mean(q, neighbours, weights)
        logits -= logits.max(-1, keepdims=True)
        q = np.exp(logits)
        q /= q.sum(-1, keepdims=True)
    return q


def smoothed_log_probs(
    logp: torch.Tensor,
    shape: tuple[int, int],
    strength: float,
    *,
    emb: torch.Tensor | None = None,
    contrast: float = MEAN_FIELD_CONTRAST,
) -> torch.Tensor:
    """Flat (N, K) log probabilities of a (rows, cols) grid -> mean-field smoothed, same shape;
    with ``emb`` (N, D) neighbours count by their embedding affinity (:func:`edge_weights`)."""
    p = logp.exp().numpy().reshape(*shape, -1)
    weights = None
    if emb is not None and contrast > 0 and min(shape) >= 2:
        weights = edge_weights(emb.numpy().reshape(*shape, -1), contrast, MEAN_FIELD_NEIGHBOURS)
    q = mean_field(p, strength=strength, weights=weights)
    return torch.from_numpy(np.log(np.maximum(q, 1e-30)).reshape(logp.shape)).float()
