"""Self-assembled domains: particles that dried into ordered islands on their film.

Monodisperse spheres pack into hexagonal islands and rods into side-by-side bundles (smectic
rows, each row shifted along the rods by its own amount). An island is one connected blob of a
thresholded smooth field; its lattice has one orientation, each site is jittered, some are left
empty, and a site whose particle would overlap a neighbour stays empty.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from workers.fewshot.selection.bodies import Solid
from workers.fewshot.selection.canvas import Canvas
from workers.fewshot.selection.supports import random_field

__all__ = ["Lattice", "domains", "fill"]


def domains(
    rng: np.random.Generator, shape, size_px: float, share: float
) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """Islands covering ~``share`` of the canvas, blobs split into grains along the cells of
    random seeds ~``size_px`` apart: (canvas slices, bool mask on them) each, largest first."""
    field = random_field(rng, shape, corr=size_px / 3)
    n = max(2, int(shape[0] * shape[1] / size_px**2))
    free = np.ones(shape, bool)
    free[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = False
    _, (iy, ix) = ndimage.distance_transform_edt(free, return_indices=True)
    cell = iy * shape[1] + ix + 1
    blob = field > np.quantile(field, 1 - share)
    labels, _ = ndimage.label(blob)
    grains = np.where(blob, labels.astype(np.int64) * (int(cell.max()) + 1) + cell, 0)
    ids, grains = np.unique(grains, return_inverse=True)
    grains = grains.reshape(shape)
    sizes = np.bincount(grains.ravel())
    boxes = ndimage.find_objects(grains)
    order = np.argsort(sizes)[::-1]
    return [
        (boxes[i - 1], grains[boxes[i - 1]] == i)
        for i in order
        if ids[i] and sizes[i] >= (size_px / 4) ** 2
    ]


class Lattice:
    """A 2D lattice of sites: ``along`` px between neighbours in a row at ``angle``, rows
    ``across`` px apart, each row shifted by ``stagger`` (a share of ``along``; None: a random
    shift per row)."""

    def __init__(self, along: float, across: float, angle: float, stagger: float | None):
        """The lattice's spacings, orientation and row shift."""
        self.along, self.across, self.angle, self.stagger = along, across, angle, stagger

    def sites(self, rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
        """Sites (y, x) that fall inside ``mask`` (coordinates of the mask) -> (n, 2)."""
        ys, xs = np.nonzero(mask)
        cy, cx = ys.mean(), xs.mean()
        span = np.hypot(np.ptp(ys), np.ptp(xs)) / 2 + self.along
        u = np.array([np.sin(self.angle), np.cos(self.angle)])  # along a row, (y, x)
        v = np.array([u[1], -u[0]])
        n_rows = int(span / self.across) + 1
        n_cols = int(span / self.along) + 2
        out = []
        for j in range(-n_rows, n_rows + 1):
            shift = rng.uniform(0, 1) if self.stagger is None else (j * self.stagger) % 1
            for i in range(-n_cols, n_cols + 1):
                p = np.array([cy, cx]) + (i + shift) * self.along * u + j * self.across * v
                y, x = round(p[0]), round(p[1])
                if 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x]:
                    out.append(p)
        return np.array(out).reshape(-1, 2)


def fill(
    canvas: Canvas,
    rng: np.random.Generator,
    domain: tuple[tuple[slice, slice], np.ndarray],
    lattice: Lattice,
    make: Callable[[np.random.Generator], Solid],
    how: tuple[int, str, int],
    *,
    jitter: float = 0.4,
    vacancy: float = 0.08,
) -> int:
    """One island (``domains``): a particle from ``make`` at each site of ``lattice`` (jittered by
    ``jitter`` px rms, or on its site if that overlaps; ``vacancy`` of the sites empty); how:
    (class, material, gap px). Returns the truth pixels taken."""
    cls, material, gap = how
    taken = 0
    (rows, cols), mask = domain
    for y, x in lattice.sites(rng, mask) + np.array([rows.start, cols.start]):
        if rng.random() < vacancy:
            continue
        solid = make(rng)
        for shake in (jitter, 0.0):  # jittered, else on its site
            dy, dx = rng.normal(0, shake, 2)
            fp = canvas.footprint(solid, y + dy, x + dx, pad=gap)
            if fp is not None and canvas.fits(fp, gap):
                taken += canvas.add(fp, material, cls, canvas.new_group())
                break
    return taken
