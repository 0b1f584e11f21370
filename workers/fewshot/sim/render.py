"""Renderers for the content of one region: crystal lattices, amorphous films and vacuum.

Every renderer draws an ideal intensity (one atomic column of weight 1 peaks at 1.0 before
thickness scaling) and knows its expected mean intensity, which the tests compare with the
pixels inside the region's truth mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from workers.fewshot.sim.fields import smooth_field

__all__ = [
    "MOTIFS",
    "Amorphous",
    "Lattice",
    "Motif",
    "Phase",
    "Vacuum",
    "render_regions",
]


@dataclass(frozen=True)
class Motif:
    """A projected crystal structure: a rectangular cell and its atomic columns.

    ``cell`` is (ax, ay) in units of the lattice parameter; ``atoms`` are (fx, fy, weight) in
    fractional cell coordinates. Rectangular (centred) cells keep the minimum-image distance exact.
    """

    name: str
    cell: tuple[float, float]
    atoms: tuple[tuple[float, float, float], ...]


_SQ3 = math.sqrt(3.0)
MOTIFS: dict[str, Motif] = {
    # SrTiO3-like [001]: bright A (Sr) columns, dimmer B (Ti-O) columns, faint O columns.
    "perovskite": Motif(
        "perovskite",
        (1.0, 1.0),
        ((0.0, 0.0, 1.0), (0.5, 0.5, 0.45), (0.5, 0.0, 0.06), (0.0, 0.5, 0.06)),
    ),
    # Same cell with A/B disorder: both columns carry the average weight.
    "perovskite_disordered": Motif(
        "perovskite_disordered",
        (1.0, 1.0),
        ((0.0, 0.0, 0.725), (0.5, 0.5, 0.725), (0.5, 0.0, 0.06), (0.0, 0.5, 0.06)),
    ),
    # Diamond cubic [110] (Si, Ge): dumbbells a/4 apart along [001]; x along [1-10] (a/sqrt2).
    "diamond110": Motif(
        "diamond110",
        (1.0 / math.sqrt(2.0), 1.0),
        ((0.0, 0.0, 1.0), (0.0, 0.25, 1.0), (0.5, 0.5, 1.0), (0.5, 0.75, 1.0)),
    ),
    # Close-packed hexagonal [0001]: triangular lattice in its centred rectangular cell.
    "hexagonal": Motif("hexagonal", (1.0, _SQ3), ((0.0, 0.0, 1.0), (0.5, 0.5, 1.0))),
    # Honeycomb with two inequivalent sites (e.g. wurtzite / h-BN like projection).
    "honeycomb": Motif(
        "honeycomb",
        (1.0, _SQ3),
        ((0.0, 0.0, 1.0), (0.5, 0.5, 1.0), (0.0, 1 / 3, 0.55), (0.5, 5 / 6, 0.55)),
    ),
}


class Phase:
    """Base class of region content; subclasses render intensity at given pixel coordinates."""

    def render(
        self, y: np.ndarray, x: np.ndarray, canvas: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        """Intensity (N,) float32 at pixel centres (y, x) (N,), for a canvas of shape (H, W)."""
        raise NotImplementedError

    def expected_mean(self) -> float:
        """Mean ideal intensity of a large region of this phase."""
        raise NotImplementedError

    def describe(self) -> dict:
        """JSON-friendly generating parameters (includes ``kind`` and ``expected_mean``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Lattice(Phase):
    """A crystal of Gaussian atomic columns.

    spacing: lattice parameter (px); angle: rotation (degrees) of the cell x axis from the image
    x axis towards +y (rows, downwards); mirror: reflect the motif across the cell x axis (twins);
    origin: (y, x) of a lattice point (px); sigma: column std (px); thickness: scales all columns;
    column_noise: relative std of column-to-column intensity variation; background: additive.
    """

    motif: str = "perovskite"
    spacing: float = 12.0
    angle: float = 0.0
    mirror: bool = False
    origin: tuple[float, float] = (0.0, 0.0)
    sigma: float = 1.7
    thickness: float = 1.0
    column_noise: float = 0.05
    background: float = 0.03

    def render(self, y, x, canvas, rng):
        m = MOTIFS[self.motif]
        theta = math.radians(self.angle)
        c, s = math.cos(theta), math.sin(theta)
        dy = (y - self.origin[0]).astype(np.float32)
        dx = (x - self.origin[1]).astype(np.float32)
        u = c * dx + s * dy
        v = -s * dx + c * dy
        if self.mirror:
            v = -v
        lx, ly = m.cell[0] * self.spacing, m.cell[1] * self.spacing
        fu, fv = u / lx, v / ly
        out = np.full(y.shape, self.background, np.float32)
        inv2s2 = np.float32(-0.5 / self.sigma**2)
        salt = int(rng.integers(0, 2**31))
        for k, (ax, ay, w) in enumerate(m.atoms):
            du, dv = fu - ax, fv - ay
            iu, iv = np.rint(du), np.rint(dv)
            d2 = ((du - iu) * lx) ** 2 + ((dv - iv) * ly) ** 2
            weight = np.float32(w * self.thickness)
            if self.column_noise > 0:
                weight = weight * (1.0 + self.column_noise * _hash_normal(iu, iv, salt + 7919 * k))
            out += weight * np.exp(d2 * inv2s2)
        return out

    def expected_mean(self) -> float:
        m = MOTIFS[self.motif]
        area = m.cell[0] * m.cell[1] * self.spacing**2
        columns = sum(w for _, _, w in m.atoms) * self.thickness * 2 * math.pi * self.sigma**2
        return self.background + columns / area

    def describe(self) -> dict:
        m = MOTIFS[self.motif]
        return {
            "kind": "lattice",
            "motif": self.motif,
            "spacing_px": self.spacing,
            "cell_px": [m.cell[0] * self.spacing, m.cell[1] * self.spacing],
            "angle_deg": self.angle,
            "mirror": self.mirror,
            "sigma_px": self.sigma,
            "thickness": self.thickness,
            "expected_mean": self.expected_mean(),
        }


@dataclass(frozen=True)
class Amorphous(Phase):
    """Randomly placed Gaussian atoms (an amorphous film or carbon support).

    density: atoms per px^2; sigma: atom std (px); weight: peak of one atom; background: additive;
    mottle: std of a slow thickness variation (relative) with correlation length ``mottle_scale``.
    """

    density: float = 0.04
    sigma: float = 1.3
    weight: float = 0.5
    background: float = 0.03
    mottle: float = 0.0
    mottle_scale: float = 24.0

    def field(self, canvas: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """The whole canvas of this film, (H, W) float32 (sampled by ``render``)."""
        h, w = canvas
        n = rng.poisson(self.density * h * w)
        py, px = rng.uniform(0, h - 1, n), rng.uniform(0, w - 1, n)
        acc = np.zeros(h * w, np.float64)
        y0, x0 = np.floor(py).astype(np.int64), np.floor(px).astype(np.int64)
        fy, fx = py - y0, px - x0
        y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
        # Bilinear splatting keeps sub-pixel atom positions; the Gaussian filter gives the shape.
        for yy, xx, ww in (
            (y0, x0, (1 - fy) * (1 - fx)),
            (y0, x1, (1 - fy) * fx),
            (y1, x0, fy * (1 - fx)),
            (y1, x1, fy * fx),
        ):
            acc += np.bincount(yy * w + xx, weights=ww, minlength=h * w)
        img = ndimage.gaussian_filter(acc.reshape(h, w).astype(np.float32), self.sigma)
        img *= np.float32(self.weight * 2 * math.pi * self.sigma**2)
        if self.mottle > 0:
            img *= 1.0 + np.float32(self.mottle) * smooth_field(canvas, self.mottle_scale, rng)
        return img + np.float32(self.background)

    def render(self, y, x, canvas, rng):
        img = self.field(canvas, rng)
        return img[np.rint(y).astype(np.intp), np.rint(x).astype(np.intp)]

    def expected_mean(self) -> float:
        return self.background + self.density * self.weight * 2 * math.pi * self.sigma**2

    def describe(self) -> dict:
        return {
            "kind": "amorphous",
            "density": self.density,
            "sigma_px": self.sigma,
            "weight": self.weight,
            "expected_mean": self.expected_mean(),
        }


@dataclass(frozen=True)
class Vacuum(Phase):
    """Empty space: a constant (small) level."""

    level: float = 0.0

    def render(self, y, x, canvas, rng):
        return np.full(y.shape, self.level, np.float32)

    def expected_mean(self) -> float:
        return self.level

    def describe(self) -> dict:
        return {"kind": "vacuum", "expected_mean": self.level}


def render_regions(
    regions: np.ndarray, phases: list[Phase], rng: np.random.Generator
) -> np.ndarray:
    """Fill region id i of ``regions`` (H, W) with ``phases[i]`` -> intensity (H, W) float32."""
    out = np.zeros(regions.shape, np.float32)
    order = np.argsort(regions, axis=None, kind="stable")
    bounds = np.searchsorted(regions.ravel()[order], np.arange(len(phases) + 1))
    h, w = regions.shape
    for i, phase in enumerate(phases):
        idx = order[bounds[i] : bounds[i + 1]]
        if idx.size == 0:
            continue
        y, x = np.divmod(idx, w)
        out.ravel()[idx] = phase.render(y.astype(np.float32), x.astype(np.float32), (h, w), rng)
    return out


def _hash_normal(iu: np.ndarray, iv: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic ~N(0, 1) value per integer cell (iu, iv): per-column intensity variation."""
    a = iu.astype(np.int64) * 73856093 ^ iv.astype(np.int64) * 19349663 ^ salt
    a = (a ^ (a >> 13)) * 1274126177
    a = (a ^ (a >> 16)) & 0xFFFFFF
    # Sum of two uniforms, rescaled to unit variance: cheap and bounded.
    b = ((a * 2654435761) >> 7) & 0xFFFFFF
    return ((a + b) / float(0xFFFFFF) - 1.0).astype(np.float32) * np.float32(math.sqrt(6.0))
