"""Atomic-resolution lattice scenes: grains, films and domains of Fourier-synthesised crystals.

Spacings are 8-25 px. Every grain or band gets its own slowly varying multiplicative field
(thickness, tilt), independent of its class, so brightness alone does not tell classes apart
unless the case says so.
"""

from __future__ import annotations

import numpy as np

from workers.fewshot.unseen.crystal import Crystal, amorphous
from workers.fewshot.unseen.fields import bands, grains, islands, pink_field
from workers.fewshot.unseen.scene import Drawn

__all__ = ["LATTICE_BUILDERS"]


def _origin(rng: np.random.Generator, canvas: tuple[int, int]) -> tuple[float, float]:
    return float(rng.uniform(0, canvas[0])), float(rng.uniform(0, canvas[1]))


def _paint(
    regions: np.ndarray,
    phases: list,
    region_class: list[int],
    rng: np.random.Generator,
    *,
    levels: dict[int, float] | None = None,
    variation: float = 0.12,
) -> tuple[np.ndarray, np.ndarray]:
    """Render each region with its phase -> (intensity (H, W) float32, truth (H, W) int32).

    phases[i]: a Crystal, an (H, W) array (amorphous) or a float (flat level) for region i;
    levels: mean brightness per class (default 1); variation: std of each region's own
    multiplicative field (1/f^4, class-independent) and of its overall level.
    """
    h, w = regions.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    intensity = np.zeros((h, w), np.float32)
    truth = np.zeros((h, w), np.int32)
    levels = levels or {}
    for i, (phase, cls) in enumerate(zip(phases, region_class, strict=True)):
        mask = regions == i
        if not mask.any():
            continue
        if isinstance(phase, Crystal):
            values = phase.render(yy[mask], xx[mask])
        elif isinstance(phase, np.ndarray):
            values = phase[mask]
        else:
            values = np.full(int(mask.sum()), float(phase), np.float32)
        scale = levels.get(cls, 1.0) * rng.uniform(1 - variation, 1 + variation)
        field = 1.0 + variation * pink_field((h, w), rng, 4.0)[mask]
        intensity[mask] = values * scale * np.clip(field, 0.3, None)
        truth[mask] = cls
    return intensity, truth


def _n_grains(canvas: tuple[int, int], size: float) -> int:
    return max(4, round(canvas[0] * canvas[1] / size**2))


def hex_grain_rotation(rng, canvas) -> Drawn:
    """Hexagonal grains in two orientation families 5-15 degrees apart (+-1 degree within one)."""
    a, base = rng.uniform(14, 20), rng.uniform(0, 60)
    delta = float(rng.uniform(5, 15) * rng.choice([-1, 1]))
    n = _n_grains(canvas, 170)
    regions = grains(canvas, n, rng, warp=8.0)
    kinds = [int(k) for k in rng.permutation(np.arange(n) % 2)]
    phases = [
        Crystal("hex", a, base + k * delta + rng.uniform(-1, 1), u=1.6, origin=_origin(rng, canvas))
        for k in kinds
    ]
    intensity, truth = _paint(regions, phases, kinds, rng)
    names = ["orientation_0", f"orientation_{abs(delta):.0f}deg"]
    return Drawn(intensity, truth, names, [{"spacing": a, "delta_deg": delta}])


def hex_two_spacings(rng, canvas) -> Drawn:
    """Two close-packed phases whose lattice parameters differ by ~22 %, grains at any angle."""
    a = rng.uniform(8.5, 10.0)
    n = _n_grains(canvas, 150)
    regions = grains(canvas, n, rng, warp=5.0)
    kinds = [int(k) for k in rng.permutation(np.arange(n) % 2)]
    phases = [
        Crystal(
            "hex", a * (1.22 if k else 1.0), rng.uniform(0, 60), u=1.1, origin=_origin(rng, canvas)
        )
        for k in kinds
    ]
    intensity, truth = _paint(regions, phases, kinds, rng)
    return Drawn(intensity, truth, ["a_small", "a_large"], [{"spacing": a, "ratio": 1.22}])


def perovskite_variants(rng, canvas) -> Drawn:
    """Perovskite substrate, double-perovskite film, brownmillerite cap: one cell size, three
    orderings (bands with rough interfaces, the whole stack tilted a few degrees)."""
    a, tilt = rng.uniform(15, 19), rng.uniform(-4, 4)
    origin = _origin(rng, canvas)
    cuts = sorted(rng.uniform([0.25, 0.58], [0.38, 0.72]))
    regions = bands(canvas, list(cuts), rng, angle=tilt, roughness=2.5)
    phases = [
        Crystal(cell, a, tilt, u=1.4, origin=origin)
        for cell in ("brownmillerite", "double_perovskite", "perovskite")
    ]
    intensity, truth = _paint(regions, phases, [0, 1, 2], rng, variation=0.08)
    names = ["brownmillerite", "double_perovskite", "perovskite"]
    return Drawn(intensity, truth, names, [{"spacing": a, "tilt": tilt}])


def crystal_amorphous(rng, canvas) -> Drawn:
    """Orthorhombic crystal (b/a = 1.5) with amorphous islands of the same mean and similar std."""
    a = rng.uniform(9, 12)
    crystal = Crystal("rect", a, rng.uniform(0, 180), u=1.2, origin=_origin(rng, canvas))
    h, w = canvas
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    sample = crystal.render(yy[:64, :64].ravel(), xx[:64, :64].ravel())
    contrast = float(sample.std() / sample.mean())
    film = amorphous(canvas, rng, neighbour=a * 0.9, contrast=contrast)
    regions = islands(canvas, rng, fraction=0.4, beta=3.5)
    intensity, truth = _paint(regions, [crystal, film], [0, 1], rng, variation=0.1)
    return Drawn(intensity, truth, ["crystal", "amorphous"], [{"spacing": a}])


def graphene_layers(rng, canvas) -> Drawn:
    """Holes (vacuum), monolayer honeycomb and AB bilayer (twice the signal) of one 2-D crystal."""
    a, angle = rng.uniform(12, 16), rng.uniform(0, 60)
    origin = _origin(rng, canvas)
    holes = islands(canvas, rng, fraction=0.22, beta=3.0)
    bilayer = islands(canvas, rng, fraction=0.4, beta=3.5)
    regions = np.where(holes == 1, 0, 1 + bilayer).astype(np.int32)
    phases = [
        0.04,
        Crystal("honeycomb", a, angle, u=1.0, origin=origin),
        Crystal("honeycomb_ab", a, angle, u=1.0, origin=origin),
    ]
    intensity, truth = _paint(
        regions, phases, [0, 1, 2], rng, levels={1: 0.5, 2: 1.0}, variation=0.08
    )
    return Drawn(intensity, truth, ["vacuum", "monolayer", "bilayer"], [{"spacing": a}])


def tetragonal_domains(rng, canvas) -> Drawn:
    """Ferroelastic a/c domains: one tetragonal cell (c/a 1.35) turned by 90 degrees, stripes at
    about 45 degrees to the cell axes."""
    a, angle = rng.uniform(10, 13), rng.uniform(0, 90)
    n = max(2, round(max(canvas) / 90))
    cuts = np.linspace(0, 1, n + 2)[1:-1] + rng.uniform(-0.25, 0.25, n) / (n + 1)
    regions = bands(canvas, list(cuts), rng, angle=angle + 45, roughness=2.0)
    origin = _origin(rng, canvas)
    kinds = [i % 2 for i in range(n + 1)]
    phases = [Crystal("tetragonal", a, angle + 90 * k, u=1.2, origin=origin) for k in kinds]
    intensity, truth = _paint(regions, phases, kinds, rng, variation=0.1)
    return Drawn(intensity, truth, ["c_domain", "a_domain"], [{"spacing": a, "angle": angle}])


def polycrystal_three(rng, canvas) -> Drawn:
    """Grains of three phases (hexagonal a~8, perovskite a~21, orthorhombic a~13), any angle."""
    n = _n_grains(canvas, 140)
    regions = grains(canvas, n, rng, warp=6.0)
    kinds = [int(k) for k in rng.permutation(np.arange(n) % 3)]
    specs = [("hex", 8.0, 1.0), ("perovskite", 21.0, 1.8), ("rect", 13.0, 1.3)]
    phases = []
    for k in kinds:
        cell, a, u = specs[k]
        a *= rng.uniform(0.96, 1.04)
        phases.append(Crystal(cell, a, rng.uniform(0, 180), u=u, origin=_origin(rng, canvas)))
    intensity, truth = _paint(regions, phases, kinds, rng)
    return Drawn(intensity, truth, ["hexagonal", "perovskite", "orthorhombic"], [])


LATTICE_BUILDERS = {
    "hex_grain_rotation": hex_grain_rotation,
    "hex_two_spacings": hex_two_spacings,
    "perovskite_variants": perovskite_variants,
    "crystal_amorphous": crystal_amorphous,
    "graphene_layers": graphene_layers,
    "tetragonal_domains": tetragonal_domains,
    "polycrystal_three": polycrystal_three,
}
