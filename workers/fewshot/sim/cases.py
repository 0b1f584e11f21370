"""The named benchmark cases (groups "lattices" and "particles") and ``generate``.

Lattice cases use 0.0325 nm/px (SrTiO3 a = 0.39 nm -> 12 px, Ge a = 0.566 nm -> 17.4 px);
particle cases 0.5 nm/px. Feature sizes are physical (px), so a larger image shows more of the
same specimen; layouts (interfaces, grain counts) scale with the field of view.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np

from workers.fewshot.sim import layouts
from workers.fewshot.sim.imaging import ImagingConfig, apply_imaging, required_margin
from workers.fewshot.sim.lattice_scenes import TWIN_TRACE_DEG, lattice_scene, twin_of
from workers.fewshot.sim.particles import ParticleKind, particle_scene
from workers.fewshot.sim.render import Amorphous, Lattice, Vacuum
from workers.fewshot.sim.scene import CaseSpec, Scene, SimImage, as_size
from workers.fewshot.sim.textures import TEXTURE_CASES

__all__ = ["CASES", "generate", "image_scene"]

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


def _sto_ge(rng: np.random.Generator, canvas: tuple[int, int]) -> Scene:
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


def _crystal_amorphous(rng, canvas):
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


def _subtle_rotation(rng, canvas, delta=7.0):
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


def _twins(rng, canvas):
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


def _polycrystal(rng, canvas):
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


def _polycrystal_thickness(rng, canvas):
    """``_polycrystal`` with every grain's thickness drawn independently of its phase
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


def _spacing(rng, canvas):
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


def _thickness_steps(rng, canvas):
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


def _ordering(rng, canvas):
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


def _particles(*kinds: ParticleKind, coverage: float = 0.4):
    """A builder placing the given particle kinds on amorphous carbon."""

    def build(rng, canvas):
        return particle_scene(rng, canvas, list(kinds), coverage=coverage)

    return build


def _mixed_thickness(rng, canvas):
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


def _case(name, group, description, build, imaging, *, difficulty="medium", tags=()) -> CaseSpec:
    pixel_size = 0.0325 if group == "lattices" else 0.5
    return CaseSpec(name, group, description, build, imaging, pixel_size, difficulty, tags)


CASES: dict[str, CaseSpec] = {
    c.name: c
    for c in [
        _case(
            "sto_ge_interface",
            "lattices",
            "Ge film on SrTiO3, stepped interface, vacuum above",
            _sto_ge,
            HAADF,
            difficulty="easy",
            tags=("interface", "steps", "vacuum"),
        ),
        _case(
            "sto_ge_low_dose",
            "lattices",
            "sto_ge_interface at ~4 counts per column peak",
            _sto_ge,
            dataclasses.replace(HAADF, dose=4.0),
            difficulty="hard",
            tags=("low-dose",),
        ),
        _case(
            "crystal_amorphous",
            "lattices",
            "hexagonal crystal vs amorphous islands, equal mean",
            _crystal_amorphous,
            HAADF,
            tags=("amorphous",),
        ),
        _case(
            "subtle_rotation",
            "lattices",
            "one perovskite lattice, domains rotated by 7 degrees",
            _subtle_rotation,
            HAADF,
            difficulty="hard",
            tags=("orientation",),
        ),
        _case(
            "twins",
            "lattices",
            "diamond-cubic [110] twin lamellae (mirror domains)",
            _twins,
            HAADF,
            difficulty="hard",
            tags=("twins", "orientation"),
        ),
        _case(
            "polycrystal",
            "lattices",
            "Voronoi grains of two phases in random orientations",
            _polycrystal,
            HAADF,
            difficulty="hard",
            tags=("polycrystal", "rotation-invariance"),
        ),
        _case(
            "polycrystal_thickness",
            "lattices",
            "two-phase polycrystal, grain thickness 0.4-1.2 independent of the phase",
            _polycrystal_thickness,
            HAADF,
            difficulty="hard",
            tags=("polycrystal", "thickness", "brightness-invariance"),
        ),
        _case(
            "lattice_spacing",
            "lattices",
            "hexagonal grains with 10 % different lattice parameter",
            _spacing,
            HAADF,
            difficulty="hard",
            tags=("spacing",),
        ),
        _case(
            "thickness_steps",
            "lattices",
            "one crystal in three thickness terraces",
            _thickness_steps,
            HAADF,
            difficulty="easy",
            tags=("thickness", "steps"),
        ),
        _case(
            "ordering_domains",
            "lattices",
            "A/B-ordered vs disordered perovskite (motif only)",
            _ordering,
            HAADF,
            tags=("motif",),
        ),
        _case(
            "particles_round_faceted",
            "particles",
            "round vs faceted particles, same material",
            _particles(ROUND, FACETED),
            LOW_MAG,
            difficulty="hard",
            tags=("shape",),
        ),
        _case(
            "particles_round_rod",
            "particles",
            "round vs rod-shaped particles, same material",
            _particles(ROUND, ROD),
            LOW_MAG,
            tags=("shape",),
        ),
        _case(
            "particles_two_materials",
            "particles",
            "round particles of two Z-contrasts",
            _particles(ROUND, dataclasses.replace(ROUND, name="light", z=0.55)),
            LOW_MAG,
            difficulty="easy",
            tags=("z-contrast",),
        ),
        _case(
            "particles_low_dose",
            "particles",
            "round vs faceted particles at 3 counts/px",
            _particles(ROUND, FACETED),
            dataclasses.replace(LOW_MAG, dose=3.0),
            difficulty="hard",
            tags=("shape", "low-dose"),
        ),
        _case(
            "particles_mixed_thickness",
            "particles",
            "sparse particles of one class, 3-40 px radius, thin ones faint",
            _mixed_thickness,
            LOW_MAG,
            difficulty="hard",
            tags=("thickness", "small"),
        ),
        _case(
            "particles_thickness_varies",
            "particles",
            "round vs faceted particles, thickness 0.4-1.3x per particle",
            _particles(
                dataclasses.replace(ROUND, z_spread=SPREAD),
                dataclasses.replace(FACETED, z_spread=SPREAD),
            ),
            LOW_MAG,
            difficulty="hard",
            tags=("shape", "thickness", "brightness-invariance"),
        ),
        _case(
            "particles_dome_plate",
            "particles",
            "one material: domes vs flat disc-like plates (thickness profile only)",
            _particles(DOME, PLATE),
            LOW_MAG,
            difficulty="hard",
            tags=("profile", "thickness"),
        ),
        _case(
            "particles_drift_low_dose",
            "particles",
            "round vs rod particles at 5 counts/px with strong drift and line jitter",
            _particles(
                dataclasses.replace(ROUND, z_spread=(0.6, 1.2)),
                dataclasses.replace(ROD, z_spread=(0.6, 1.2)),
            ),
            DRIFT_LOW_DOSE,
            difficulty="hard",
            tags=("shape", "low-dose", "drift"),
        ),
    ]
}


def image_scene(
    scene_builder, rng: np.random.Generator, size: tuple[int, int], imaging: ImagingConfig
) -> tuple[np.ndarray, np.ndarray, Scene, dict]:
    """Build a scene on a canvas with scan margins, image it -> (image, truth, scene, record)."""
    h, w = size
    margin = required_margin(h, imaging)
    scene_rng, imaging_rng, noise_rng = rng.spawn(3)
    scene = scene_builder(scene_rng, (h + 2 * margin, w + 2 * margin))
    image, truth, record = apply_imaging(
        scene.intensity, scene.truth, imaging, imaging_rng, margin=margin, noise_rng=noise_rng
    )
    return image, truth, scene, record


def generate(
    name: str,
    *,
    seed: int,
    size: int | tuple[int, int] = (512, 512),
    dose: float | None = None,
    imaging: ImagingConfig | None = None,
) -> SimImage:
    """Generate case ``name`` (CASES or TEXTURE_CASES) deterministically from ``seed``.

    size: (H, W) or an int; dose: counts per pixel at unit intensity (default: the case's);
    imaging: replace the case's imaging model (e.g. ``ImagingConfig.clean()``; ``dose`` still
    overrides its dose). The scene does not depend on the dose, so one seed at two doses shows
    the same specimen.
    """
    spec = CASES.get(name) or TEXTURE_CASES.get(name)
    if spec is None:
        raise KeyError(f"unknown case {name!r}; known: {', '.join([*CASES, *TEXTURE_CASES])}")
    cfg = (imaging or spec.imaging).with_dose(dose)
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode())])
    image, truth, scene, record = image_scene(spec.build, rng, as_size(size), cfg)
    return SimImage(
        image,
        truth,
        scene.class_names,
        spec.pixel_size,
        spec.pixel_unit,
        spec.group,
        {
            "case": name,
            "seed": int(seed),
            "classes": scene.classes,
            "imaging": record,
            "difficulty": spec.difficulty,
            "description": spec.description,
        },
    )
