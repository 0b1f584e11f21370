"""Crystals seen down a zone axis: unit cells, their atom columns on the canvas, amorphous films.

A zone-axis crystal projects to a 2D cell of atom columns. Each column holds so many atoms per
nm along the beam of each element; placed on a canvas (a cell size in nm, an in-plane angle, an
origin, optionally mirrored) and cut to a region, the columns become maps of atoms per pixel by
element (``Projected.atoms``), each column a Gaussian of the width its thermal vibration and
the beam's spread give it. Imaging (``lattice_imaging``) turns those maps into a HAADF signal
(~Z^1.7 per atom) or a phase grating (projected potential per atom), so one specimen can be
seen either way. Amorphous matter is atoms at random positions (Poisson per pixel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = [
    "CELLS",
    "Cell",
    "Frame",
    "Projected",
    "amorphous",
    "columns_in",
    "frame",
    "splat",
]


@dataclass(frozen=True)
class Cell:
    """A projected unit cell: edge vectors ``a`` and ``b`` (nm, in the crystal's own frame:
    x across, y up) and its columns: fractional positions ``sites`` and, per site, the atoms per
    nm along the beam of each element ({Z: atoms / nm})."""

    a: tuple[float, float]
    b: tuple[float, float]
    sites: tuple[tuple[float, float], ...]
    occupancy: tuple[dict[int, float], ...]


def _fcc_110(a: float, z: int) -> Cell:
    """An fcc metal down [110]: a centred rectangle a / sqrt 2 (x, along [1-10]) by a (y, along
    [001]); atoms every a / sqrt 2 along each column."""
    per_nm = np.sqrt(2) / a
    return Cell((a / np.sqrt(2), 0.0), (0.0, a), ((0, 0), (0.5, 0.5)), ({z: per_nm},) * 2)


def _zincblende_110(a: float, cation: int, anion: int) -> Cell:
    """A zinc-blende compound down [110]: fcc cation columns, each with an anion column a / 4
    above it along [001] (the 'dumbbells', whose order shows the crystal's polarity)."""
    per_nm = np.sqrt(2) / a
    sites = ((0, 0), (0.5, 0.5), (0, 0.25), (0.5, 0.75))
    occ = ({cation: per_nm}, {cation: per_nm}, {anion: per_nm}, {anion: per_nm})
    return Cell((a / np.sqrt(2), 0.0), (0.0, a), sites, occ)


def _l12_001(a: float, minority: int, majority: int) -> Cell:
    """An L1_2 ordered alloy A B_3 (Cu3Au) down [001]: a square of columns a / 2 apart; the
    corner column (site 0) is the minority (A) sublattice, the other three are B; atoms every a
    along each column. Occupancies are those of full order (scenes mix them for partial order)."""
    per_nm = 1 / a
    sites = ((0, 0), (0.5, 0.5), (0.5, 0), (0, 0.5))
    occ = ({minority: per_nm},) + ({majority: per_nm},) * 3
    return Cell((a, 0.0), (0.0, a), sites, occ)


def _cuprite_001(a: float) -> Cell:
    """Cuprite Cu2O down [001]: copper on an fcc lattice (a square of columns a / 2 apart) and
    oxygen on a bcc one, seen as columns at (1/4, 1/4) and (3/4, 3/4) of the cell."""
    per_nm = 1 / a
    sites = ((0, 0), (0.5, 0.5), (0.5, 0), (0, 0.5), (0.25, 0.25), (0.75, 0.75))
    occ = ({29: per_nm},) * 4 + ({8: per_nm},) * 2
    return Cell((a, 0.0), (0.0, a), sites, occ)


CELLS: dict[str, Cell] = {
    "gold_110": _fcc_110(0.4078, 79),
    "copper_110": _fcc_110(0.3615, 29),
    "gaas_110": _zincblende_110(0.5653, 31, 33),
    "cu3au_001": _l12_001(0.3749, 79, 29),
    "cuprite_001": _cuprite_001(0.4270),
}


@dataclass(frozen=True)
class Frame:
    """A cell placed on the canvas: ``origin`` (y, x) px and the edge vectors ``a``, ``b`` as
    (dy, dx) px."""

    origin: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def mirrored(self, point: np.ndarray, direction: np.ndarray) -> Frame:
        """This frame reflected across the line through ``point`` (y, x) along ``direction``."""
        d = direction / np.linalg.norm(direction)
        flip = 2 * np.outer(d, d) - np.eye(2)
        return Frame(point + flip @ (self.origin - point), flip @ self.a, flip @ self.b)


def frame(cell: Cell, px: float, angle: float, origin, scale: tuple[float, float] = (1, 1)):
    """``cell`` on a canvas of ``px`` nm per pixel, turned by ``angle`` (rad, anticlockwise as
    seen, y down) about ``origin`` (y, x); ``scale`` stretches its x and y (strain, misfit)."""
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, -s], [s, c]])  # acts on (x, y-up)

    def place(v):
        """A cell vector (x, y-up) nm -> (dy, dx) px on the canvas."""
        x, y = turn @ (np.array(v) * np.array(scale) / px)
        return np.array([-y, x])

    return Frame(np.asarray(origin, float), place(cell.a), place(cell.b))


def columns_in(cell: Cell, fr: Frame, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The columns of ``cell`` placed by ``fr`` whose pixel lies in ``mask`` (canvas bool):
    positions (n, 2) as (y, x) px and site indices (n,)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return np.zeros((0, 2)), np.zeros(0, int)
    corners = np.array([[ys.min(), xs.min()], [ys.min(), xs.max()], [ys.max(), xs.min()],
                        [ys.max(), xs.max()]], float)  # fmt: skip
    basis = np.stack([fr.a, fr.b], 1)
    ij = np.linalg.solve(basis, (corners - fr.origin).T)
    lo, hi = np.floor(ij.min(1)) - 1, np.ceil(ij.max(1)) + 1
    i, j = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    found_p, found_k = [], []
    for k, (u, v) in enumerate(cell.sites):
        p = fr.origin + np.outer((i + u).ravel(), fr.a) + np.outer((j + v).ravel(), fr.b)
        r = np.round(p).astype(int)
        ok = (r[:, 0] >= 0) & (r[:, 0] < mask.shape[0]) & (r[:, 1] >= 0) & (r[:, 1] < mask.shape[1])
        ok[ok] = mask[r[ok, 0], r[ok, 1]]
        found_p.append(p[ok])
        found_k.append(np.full(int(ok.sum()), k))
    return np.concatenate(found_p), np.concatenate(found_k)


def splat(shape: tuple[int, int], pos: np.ndarray, weight: np.ndarray, sigma: float):
    """Columns (n, 2) (y, x) px of ``weight`` each, spread as Gaussians of ``sigma`` px
    -> (H, W) float32 whose sum is the total weight (bilinear placement, then the blur)."""
    out = np.zeros(shape, np.float64)
    y0, x0 = np.floor(pos[:, 0]).astype(int), np.floor(pos[:, 1]).astype(int)
    fy, fx = pos[:, 0] - y0, pos[:, 1] - x0
    for dy, dx, part in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                         (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):  # fmt: skip
        y, x = y0 + dy, x0 + dx
        ok = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
        np.add.at(out, (y[ok], x[ok]), weight[ok] * part[ok])
    return ndimage.gaussian_filter(out, sigma, mode="constant").astype(np.float32)


@dataclass
class Projected:
    """A specimen seen down the beam: atoms per pixel by element (Z -> (H, W) float32), the
    truth (H, W) int32 and the class names; ``notes``: drawn settings for ``meta``."""

    atoms: dict[int, np.ndarray]
    truth: np.ndarray
    class_names: list[str]
    notes: dict = field(default_factory=dict)

    def add(self, z: int, amount: np.ndarray) -> None:
        """Add atoms of element ``z`` (H, W) per pixel."""
        if z in self.atoms:
            self.atoms[z] = self.atoms[z] + amount.astype(np.float32)
        else:
            self.atoms[z] = amount.astype(np.float32)


def amorphous(
    rng: np.random.Generator, thick_nm: np.ndarray, per_nm3: float, px: float, sigma: float
) -> np.ndarray:
    """Atoms of an amorphous solid of ``per_nm3`` atoms per nm^3, ``thick_nm`` (H, W) thick,
    at random positions (Poisson per pixel), each spread over ``sigma`` px -> atoms per pixel."""
    mean = np.maximum(thick_nm, 0) * per_nm3 * px * px
    counts = rng.poisson(mean).astype(np.float32)
    return ndimage.gaussian_filter(counts, sigma).astype(np.float32)
