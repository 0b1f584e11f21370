"""The scene builders and imaging models of the named benchmark cases (``cases.CASES``).

The named benchmark cases (groups "lattices" and "particles") and ``generate``.

Lattice cases use 0.0325 nm/px (SrTiO3 a = 0.39 nm -> 12 px, Ge a = 0.566 nm -> 17.4 px);
particle cases 0.5 nm/px. Feature sizes are physical (px), so a larger image shows more of the
same specimen; layouts (interfaces, grain counts) scale with the field of view.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from workers.fewshot.sim import layouts
from workers.fewshot.sim.imaging import ImagingConfig
from workers.fewshot.sim.lattice_scenes import TWIN_TRACE_DEG, lattice_scene, twin_of
from workers.fewshot.sim.particles import ParticleKind, particle_scene
from workers.fewshot.sim.render import Amorphous, Lattice, Vacuum
from workers.fewshot.sim.scene import Scene

STO_A, GE_A = 12.0, 17.4
HAADF = ImagingConfig(
    dose=150.0,
    read_noise=1.0,
    blur=0.8,
    jitter=0.3,
    wobble=0.8,
    drift=0.006,
    gradient=0.08,
    offset=0.02,
)
LOW_MAG = ImagingConfig(
    dose=60.0,
    read_noise=1.0,
    blur=1.0,
    jitter=0.2,
    wobble=0.5,
    drift=0.004,
    gradient=0.12,
    offset=0.02,
)


def _origin(rng: np.random.Generator, canvas: tuple[int, int]) -> tuple[float, float]:
    """A random sub-pixel lattice origin near the canvas centre (columns not pixel-locked)."""
    return canvas[0] / 2 + rng.uniform(-8, 8), canvas[1] / 2 + rng.uniform(-8, 8)


def sto_ge(rng: np.random.Generator, canvas: tuple[int, int]) -> Scene:
    """Ge film on a SrTiO3 substrate with a stepped interface, vacuum above (pyChip's example)."""
    tilt = rng.uniform(-3, 3)
    origin = _origin(rng, canvas)
    regions = _layers_with_steps(canvas, rng, [-0.2, 0.15], tilt, step=STO_A)
    phases = [
        Vacuum(),
        Lattice("diamond110", GE_A, tilt, origin=origin, sigma=1.1, thickness=0.75),
        Lattice("perovskite", STO_A, tilt, origin=origin, sigma=1.7, thickness=1.0),
    ]
    return lattice_scene(regions, phases, [2, 1, 0], ["STO", "Ge", "vacuum"], rng)


def _layers_with_steps(canvas, rng, positions, tilt, *, step):
    """Horizontal-ish layers whose interfaces carry unit-cell steps every 60-120 px."""
    return layouts.layers(
        canvas,
        positions,
        angle=tilt,
        step_height=step * rng.choice([-1, 1]),
        terrace=rng.uniform(60, 120),
        wave=rng.uniform(0, 3),
        rng=rng,
    )


def crystal_amorphous(rng, canvas):
    """A close-packed crystal with amorphous islands of the same mean intensity."""
    crystal = Lattice(
        "hexagonal", 9.0, rng.uniform(0, 60), origin=_origin(rng, canvas), sigma=1.2, thickness=0.9
    )
    excess = crystal.expected_mean() - crystal.background
    amorphous = Amorphous(
        density=excess / (0.6 * 2 * math.pi * 1.2**2),
        sigma=1.2,
        weight=0.6,
        background=crystal.background,
    )
    regions = layouts.blobs(canvas, rng, fraction=0.4, scale=48.0)
    return lattice_scene(regions, [crystal, amorphous], [0, 1], ["crystal", "amorphous"], rng)


def subtle_rotation(rng, canvas, delta=7.0):
    """Two domains of one perovskite lattice rotated by only ``delta`` degrees."""
    base = rng.uniform(0, 90)
    origin = _origin(rng, canvas)
    regions = layouts.layers(
        canvas,
        [rng.uniform(-0.15, 0.15)],
        angle=rng.uniform(-60, 60),
        wave=rng.uniform(8, 20),
        wavelength=rng.uniform(150, 300),
        rng=rng,
    )
    phases = [
        Lattice("perovskite", STO_A, base, origin=origin),
        Lattice("perovskite", STO_A, base + delta, origin=origin),
    ]
    return lattice_scene(regions, phases, [0, 1], ["domain_0deg", f"domain_{delta:g}deg"], rng)


def twins(rng, canvas):
    """Diamond-cubic [110] twin lamellae: mirror-related domains across {111} traces."""
    theta = rng.uniform(-10, 10)
    line = theta + TWIN_TRACE_DEG
    n = max(3, round(max(canvas) / 110))
    # Evenly spaced boundaries with jitter keep matrix and twin areas comparable.
    cuts = np.linspace(-0.5, 0.5, n + 2)[1:-1] + rng.uniform(-0.3, 0.3, n) / (n + 1)
    regions = layouts.layers(canvas, list(cuts), angle=line)
    centre = (canvas[0] / 2, canvas[1] / 2)
    matrix = Lattice("diamond110", GE_A, theta, origin=centre, sigma=1.1)
    twin = Lattice("diamond110", GE_A, origin=centre, sigma=1.1, **twin_of(theta, line))
    phases = [matrix if i % 2 == 0 else twin for i in range(n + 1)]
    return lattice_scene(regions, phases, [i % 2 for i in range(n + 1)], ["matrix", "twin"], rng)


def polycrystal(rng, canvas):
    """Voronoi grains of two phases (perovskite, hexagonal), each grain randomly oriented."""
    n = max(4, round(canvas[0] * canvas[1] / 130**2))
    regions = layouts.voronoi(canvas, n, rng, boundary_wave=4.0)
    kinds = rng.permutation(np.arange(n) % 2)
    phases = [
        Lattice("perovskite", STO_A, rng.uniform(0, 90), origin=_origin(rng, canvas))
        if k == 0
        else Lattice(
            "hexagonal",
            10.0,
            rng.uniform(0, 60),
            origin=_origin(rng, canvas),
            sigma=1.2,
            thickness=0.8,
        )
        for k in kinds
    ]
    return lattice_scene(regions, phases, [int(k) for k in kinds], ["perovskite", "hexagonal"], rng)


def polycrystal_thickness(rng, canvas):
    """``polycrystal`` with every grain's thickness drawn independently of its phase
    (0.4-1.2): brightness says nothing about the class, spacing and motif do."""
    n = max(4, round(canvas[0] * canvas[1] / 130**2))
    regions = layouts.voronoi(canvas, n, rng, boundary_wave=4.0)
    kinds = rng.permutation(np.arange(n) % 2)
    phases = [
        Lattice(
            "perovskite",
            STO_A,
            rng.uniform(0, 90),
            origin=_origin(rng, canvas),
            thickness=rng.uniform(0.4, 1.2),
        )
        if k == 0
        else Lattice(
            "hexagonal",
            10.0,
            rng.uniform(0, 60),
            origin=_origin(rng, canvas),
            sigma=1.2,
            thickness=rng.uniform(0.4, 1.2),
        )
        for k in kinds
    ]
    return lattice_scene(regions, phases, [int(k) for k in kinds], ["perovskite", "hexagonal"], rng)


def spacing(rng, canvas):
    """Grains of one hexagonal structure whose lattice parameters differ by 10 % (10 vs 11 px)."""
    n = max(4, round(canvas[0] * canvas[1] / 150**2))
    regions = layouts.voronoi(canvas, n, rng, boundary_wave=6.0)
    kinds = rng.permutation(np.arange(n) % 2)
    angle = rng.uniform(0, 60)
    phases = [
        Lattice(
            "hexagonal", 10.0 if k == 0 else 11.0, angle, origin=_origin(rng, canvas), sigma=1.2
        )
        for k in kinds
    ]
    return lattice_scene(regions, phases, [int(k) for k in kinds], ["a_10px", "a_11px"], rng)


def thickness_steps(rng, canvas):
    """One perovskite crystal in three thickness terraces (HAADF intensity ~ thickness)."""
    tilt = rng.uniform(-20, 20)
    origin = _origin(rng, canvas)
    regions = layouts.layers(
        canvas,
        [-0.18, 0.18],
        angle=tilt + 90,
        step_height=STO_A,
        terrace=rng.uniform(50, 90),
        wave=2.0,
        rng=rng,
    )
    phases = [
        Lattice("perovskite", STO_A, tilt, origin=origin, thickness=t) for t in (1.0, 0.75, 0.5)
    ]
    return lattice_scene(regions, phases, [0, 1, 2], ["thick", "medium", "thin"], rng)


def ordering(rng, canvas):
    """Perovskite with A/B cation order vs antisite-disordered islands (same cell, same mean)."""
    angle, origin = rng.uniform(0, 90), _origin(rng, canvas)
    regions = layouts.blobs(canvas, rng, fraction=0.45, scale=56.0)
    phases = [
        Lattice("perovskite", STO_A, angle, origin=origin),
        Lattice("perovskite_disordered", STO_A, angle, origin=origin),
    ]
    return lattice_scene(regions, phases, [0, 1], ["ordered", "disordered"], rng)


ROUND = ParticleKind("round", "sphere", radius=(22, 36))
FACETED = ParticleKind("faceted", "polygon", radius=(24, 40), sides=(4, 6))
ROD = ParticleKind("rod", "rod", radius=(16, 22), aspect=(2.0, 3.0))
#: per-particle thickness 0.4-1.3x: brightness varies independently of the class
SPREAD = (0.4, 1.3)
#: one material, one outline (a many-sided plate is nearly a disc): domes vs flat plates differ
#: only by their thickness profile
DOME = ParticleKind("dome", "sphere", radius=(20, 34), z_spread=SPREAD)
PLATE = ParticleKind("plate", "polygon", radius=(20, 34), sides=(10, 12), z_spread=SPREAD)
#: a scan with strong drift, line jitter and wobble at a few counts per pixel
DRIFT_LOW_DOSE = dataclasses.replace(LOW_MAG, dose=5.0, jitter=0.8, wobble=2.5, drift=0.03)


def particles_on_carbon(*kinds: ParticleKind, coverage: float = 0.4):
    """A builder placing the given particle kinds on amorphous carbon."""

    def build(rng, canvas):
        return particle_scene(rng, canvas, list(kinds), coverage=coverage)

    return build


def mixed_thickness(rng, canvas):
    """One particle class of many sizes and thicknesses, sparse: small thin particles are
    faint next to large thick ones (the physics of most misses on real particle images)."""
    kinds = [
        ParticleKind("thin_small", "sphere", radius=(3, 9), z=0.3),
        ParticleKind("thick_small", "sphere", radius=(3, 9), z=1.0),
        ParticleKind("thin", "polygon", radius=(9, 20), z=0.35, sides=(5, 6, 8)),
        ParticleKind("thick", "sphere", radius=(18, 40), z=1.0),
    ]
    scene = particle_scene(rng, canvas, kinds, coverage=0.12)
    truth = np.minimum(scene.truth, 1).astype(np.int32)
    area = np.bincount(scene.truth.ravel(), minlength=len(kinds) + 1)[1:]
    mean = float(np.average([c["expected_mean"] for c in scene.classes[1:]], weights=area + 1e-9))
    classes = [
        scene.classes[0],
        {"kind": "particle", "expected_mean": mean, "mixture": scene.classes[1:]},
    ]
    names = ["carbon", "particle"]
    return dataclasses.replace(scene, truth=truth, class_names=names, classes=classes)
