"""Tessellations that lay out the regions of the lattice and texture cases.

Cells are Voronoi cells of seeds kept a minimum distance apart (dart throwing), optionally with
their boundaries bent by reading the nearest seed at smoothly displaced positions. Cells are
then given classes so that every class gets a similar area inside the image window: largest
cell first, each to the class with the least area so far.
"""

from __future__ import annotations

import numpy as np
from scipy import spatial

from workers.fewshot.selection.supports import random_field

__all__ = ["balanced_classes", "cells", "seeds"]


def seeds(rng: np.random.Generator, shape: tuple[int, int], spacing: float) -> np.ndarray:
    """Random points (n, 2) in (y, x) at least ~``spacing`` / 2 apart, about one per
    ``spacing``^2 of the canvas (at least 4)."""
    h, w = shape
    want = max(4, round(h * w / spacing**2))
    kept = np.zeros((want, 2))
    n = 0
    gap2 = (spacing / 2) ** 2
    for _ in range(40 * want):
        p = rng.uniform((0, 0), (h, w))
        if n == 0 or ((kept[:n] - p) ** 2).sum(1).min() >= gap2:
            kept[n] = p
            n += 1
            if n == want:
                break
    return kept[:n]


def cells(
    rng: np.random.Generator,
    shape: tuple[int, int],
    spacing: float,
    bend_px: float = 0.0,
    bend_corr: float = 40.0,
) -> np.ndarray:
    """Voronoi cells ~``spacing`` px across -> (H, W) int32 cell index; ``bend_px``: rms
    displacement (px) of the positions at which the nearest seed is read, so that boundaries
    wander over ~``bend_corr`` px (0: straight boundaries, as between grains)."""
    h, w = shape
    points = seeds(rng, shape, spacing)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if bend_px > 0:
        yy = yy + bend_px * random_field(rng, shape, bend_corr)
        xx = xx + bend_px * random_field(rng, shape, bend_corr)
    _, index = spatial.cKDTree(points).query(np.stack([yy.ravel(), xx.ravel()], 1))
    return index.reshape(shape).astype(np.int32)


def balanced_classes(
    rng: np.random.Generator, labels: np.ndarray, n_classes: int, margin: int = 0
) -> np.ndarray:
    """A class 0..n_classes-1 for each cell of ``labels`` (n_cells,): largest cell first (by
    its area inside the window ``margin`` px in from the canvas edge), each to the class with
    the least area so far; ties broken at random."""
    h, w = labels.shape
    inner = labels[margin : h - margin, margin : w - margin]
    n_cells = int(labels.max()) + 1
    area = np.bincount(inner.ravel(), minlength=n_cells).astype(float)
    area += rng.uniform(0, 0.5, n_cells)  # a random order among cells of equal area
    taken = np.zeros(n_classes)
    out = np.zeros(n_cells, np.int32)
    for cell in np.argsort(area)[::-1]:
        pick = min(range(n_classes), key=lambda c: (taken[c], rng.random()))
        out[cell] = pick
        taken[pick] += area[cell]
    return out
