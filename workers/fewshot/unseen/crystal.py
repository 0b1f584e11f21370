"""Crystals by Fourier synthesis: a sum over reciprocal-lattice reflections, not atom by atom.

The training simulator draws Gaussian atom columns in real space; here a projected potential is
synthesised from its structure factors F(G) = sum_j w_j exp(-2 pi i G.x_j) with a Debye-Waller
damping exp(-2 pi^2 u^2 |G|^2) and a hard information limit |G| <= g_max, then normalised to
mean 1. Amorphous films are band-limited noise on a ring at the first-neighbour distance (the
halo of an amorphous diffraction pattern).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workers.fewshot.unseen.fields import pink_field

__all__ = ["CELLS", "Cell", "Crystal", "amorphous"]


@dataclass(frozen=True)
class Cell:
    """A 2-D unit cell: basis vectors (in units of the lattice parameter) and its columns.

    a1, a2: (x, y) basis vectors; atoms: (f1, f2, weight) in fractional coordinates.
    """

    name: str
    a1: tuple[float, float]
    a2: tuple[float, float]
    atoms: tuple[tuple[float, float, float], ...]


_H = math.sqrt(3) / 2
CELLS: dict[str, Cell] = {
    # close-packed metal [111] / [0001]: one column per primitive hexagonal cell
    "hex": Cell("hex", (1, 0), (0.5, _H), ((0, 0, 1.0),)),
    # graphene-like honeycomb, two equal sites
    "honeycomb": Cell("honeycomb", (1, 0), (0.5, _H), ((0, 0, 1.0), (1 / 3, 1 / 3, 1.0))),
    # AB (Bernal) bilayer: the second layer's sites over the first's A site and hole
    "honeycomb_ab": Cell(
        "honeycomb_ab",
        (1, 0),
        (0.5, _H),
        ((0, 0, 2.0), (1 / 3, 1 / 3, 1.0), (2 / 3, 2 / 3, 1.0)),
    ),
    # tetragonal perovskite-like film, c/a = 1.35 (a-/c-domains differ by a 90 degree turn)
    "tetragonal": Cell("tetragonal", (1, 0), (0, 1.35), ((0, 0, 1.0), (0.5, 0.5, 0.5))),
    # simple perovskite ABO3 [001]: A corner, B centre, faint O on the edges
    "perovskite": Cell(
        "perovskite", (1, 0), (0, 1), ((0, 0, 1.0), (0.5, 0.5, 0.6), (0.5, 0, 0.12), (0, 0.5, 0.12))
    ),
    # rock-salt B-site ordered double perovskite A2BB'O6: 2x2 cell, B and B' alternate
    "double_perovskite": Cell(
        "double_perovskite",
        (2, 0),
        (0, 2),
        (
            (0, 0, 1.0),
            (0.5, 0, 1.0),
            (0, 0.5, 1.0),
            (0.5, 0.5, 1.0),
            (0.25, 0.25, 0.95),
            (0.75, 0.75, 0.95),
            (0.75, 0.25, 0.25),
            (0.25, 0.75, 0.25),
        ),
    ),
    # brownmillerite-like: every other B row is a vacancy-ordered (dim, split) layer, 1x2 cell
    "brownmillerite": Cell(
        "brownmillerite",
        (1, 0),
        (0, 2),
        (
            (0, 0, 1.0),
            (0, 0.5, 1.0),
            (0.5, 0.25, 0.6),
            (0.42, 0.75, 0.3),
            (0.58, 0.75, 0.3),
        ),
    ),
    # orthorhombic rectangular cell, b/a = 1.5, with a two-column basis
    "rect": Cell("rect", (1, 0), (0, 1.5), ((0, 0, 1.0), (0.5, 0.3, 0.55))),
}


@dataclass(frozen=True)
class Crystal:
    """One crystal phase: cell, lattice parameter (px), in-plane angle (deg) and damping.

    u: Debye-Waller-like rms displacement (px) damping high orders; g_max: information limit
    (cycles/px); origin: (y, x) px of a lattice point.
    """

    cell: str
    spacing: float
    angle: float
    u: float = 1.3
    g_max: float = 0.3
    origin: tuple[float, float] = (0.0, 0.0)

    def reflections(self) -> tuple[np.ndarray, np.ndarray]:
        """Reflections of one half-plane, G (M, 2) (gy, gx) cycles/px and normalised F(G) (M,).

        The intensity is 1 + 2 sum_M Re(F e^{2 pi i G.r}) with F(0) scaled to 1.
        """
        c = CELLS[self.cell]
        a = math.radians(self.angle)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        basis = rot @ (self.spacing * np.array([c.a1, c.a2], np.float64).T)  # columns a1, a2 (x, y)
        recip = np.linalg.inv(basis).T  # columns b1, b2 with a_i . b_j = delta_ij
        n = math.ceil(self.g_max * self.spacing * max(map(np.linalg.norm, (c.a1, c.a2)))) + 2
        hk = np.array([(h, k) for h in range(-n, n + 1) for k in range(-n, n + 1)], np.float64)
        g = hk @ recip.T  # (., 2) as (gx, gy)
        norm = np.hypot(g[:, 0], g[:, 1])
        half = (hk[:, 0] > 0) | ((hk[:, 0] == 0) & (hk[:, 1] > 0))
        keep = half & (norm <= self.g_max)
        atoms = np.array(c.atoms, np.float64)
        phases = -2j * math.pi * (hk[keep] @ atoms[:, :2].T)  # (M, atoms)
        f = (np.exp(phases) * atoms[:, 2]).sum(1) / atoms[:, 2].sum()
        f = f * np.exp(-2 * math.pi**2 * self.u**2 * norm[keep] ** 2)
        return g[keep][:, ::-1], f

    def render(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Intensity at pixel centres (y, x) (N,) -> (N,) float32, mean ~1, clipped at 0."""
        g, f = self.reflections()
        ry, rx = y - self.origin[0], x - self.origin[1]
        out = np.ones(y.shape, np.float64)
        for (gy, gx), fg in zip(g, f, strict=True):
            phase = 2 * math.pi * (gy * ry + gx * rx) + np.angle(fg)
            out += 2 * abs(fg) * np.cos(phase)
        return np.clip(out, 0.0, None).astype(np.float32)


def amorphous(
    shape: tuple[int, int], rng: np.random.Generator, *, neighbour: float, contrast: float
) -> np.ndarray:
    """An amorphous film, (H, W) float32 mean 1: noise band-passed on a ring at 1/neighbour.

    neighbour: mean first-neighbour distance (px); contrast: std of the result before a weak
    1/f^2 mottle (thickness variation of the film) is added.
    """
    h, w = shape
    k = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    ring = np.exp(-((k - 1.0 / neighbour) ** 2) / (2 * (0.3 / neighbour) ** 2))
    noise = np.fft.irfft2(np.fft.rfft2(rng.normal(size=shape)) * ring, s=shape)
    # exp() turns the ring-filtered field into separate bright maxima (atoms), not worms
    noise = np.exp(1.2 * noise / max(float(noise.std()), 1e-12))
    noise = (noise - noise.mean()) / max(float(noise.std()), 1e-12)
    out = 1.0 + contrast * noise + 0.04 * pink_field(shape, rng, 2.0)
    return np.clip(out, 0.0, None).astype(np.float32)
