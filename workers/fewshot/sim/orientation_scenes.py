"""Lattice scenes whose classes differ only by orientation or by a small spacing difference,
with grain brightness (thickness) drawn independently of the class.

The physics a chip classifier finds hardest on lattices: one material in grains a few degrees
apart, or two phases of one structure a few percent apart in lattice parameter, while thickness
changes the brightness of every grain. Selection cases only (seen simulator, seen renderer).
"""

from __future__ import annotations

import numpy as np

from workers.fewshot.sim import layouts
from workers.fewshot.sim.lattice_scenes import lattice_scene
from workers.fewshot.sim.render import Lattice
from workers.fewshot.sim.scene import Scene

__all__ = ["rotated_grains", "spacing_grains"]

#: per-grain thickness: brightness says nothing about the class
THICKNESS = (0.5, 1.2)


def _grains(rng: np.random.Generator, canvas: tuple[int, int], area: float) -> tuple:
    """Voronoi grains, about one per ``area`` px^2, classes alternating in random order."""
    n = max(4, round(canvas[0] * canvas[1] / area))
    regions = layouts.voronoi(canvas, n, rng, boundary_wave=5.0)
    return regions, rng.permutation(np.arange(n) % 2)


def _origin(rng: np.random.Generator, canvas: tuple[int, int]) -> tuple[float, float]:
    return canvas[0] / 2 + rng.uniform(-20, 20), canvas[1] / 2 + rng.uniform(-20, 20)


def rotated_grains(rng: np.random.Generator, canvas: tuple[int, int]) -> Scene:
    """Close-packed grains of one phase in two orientations 3-10 degrees apart (each grain
    within 1.5 degrees of its class's), thickness per grain independent of the class."""
    regions, kinds = _grains(rng, canvas, 140.0**2)
    base, delta = rng.uniform(0, 60), rng.uniform(3, 10)
    spacing = rng.uniform(9.0, 18.0)
    phases = [
        Lattice(
            "hexagonal",
            spacing,
            base + k * delta + rng.uniform(-1.5, 1.5),
            origin=_origin(rng, canvas),
            sigma=1.2,
            thickness=rng.uniform(*THICKNESS),
        )
        for k in kinds
    ]
    names = ["orientation_a", "orientation_b"]
    return lattice_scene(regions, phases, [int(k) for k in kinds], names, rng)


def spacing_grains(rng: np.random.Generator, canvas: tuple[int, int]) -> Scene:
    """Grains of two phases of one square-cell structure whose lattice parameters differ by
    6-14 %, each grain at its own orientation, thickness per grain independent of the class:
    only the spacing tells the classes apart."""
    regions, kinds = _grains(rng, canvas, 150.0**2)
    a = rng.uniform(10.0, 12.0)
    ratio = 1 + rng.uniform(0.06, 0.14)
    phases = [
        Lattice(
            "perovskite",
            a * ratio**k,
            rng.uniform(0, 90),
            origin=_origin(rng, canvas),
            thickness=rng.uniform(*THICKNESS),
        )
        for k in kinds
    ]
    names = ["small_cell", "large_cell"]
    return lattice_scene(regions, phases, [int(k) for k in kinds], names, rng)
