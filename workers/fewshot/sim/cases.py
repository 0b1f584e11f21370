"""The named benchmark cases (groups "lattices" and "particles") and ``generate``; their
scene builders and imaging models are in ``case_scenes``.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from workers.fewshot.sim.case_scenes import (
    DOME,
    DRIFT_LOW_DOSE,
    FACETED,
    HAADF,
    LOW_MAG,
    PLATE,
    ROD,
    ROUND,
    SPREAD,
    crystal_amorphous,
    mixed_thickness,
    ordering,
    particles_on_carbon,
    polycrystal,
    polycrystal_thickness,
    spacing,
    sto_ge,
    subtle_rotation,
    thickness_steps,
    twins,
)
from workers.fewshot.sim.imaging import ImagingConfig, apply_imaging, required_margin
from workers.fewshot.sim.orientation_scenes import rotated_grains, spacing_grains
from workers.fewshot.sim.scene import CaseSpec, Scene, SimImage, as_size
from workers.fewshot.sim.textures import TEXTURE_CASES


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
            sto_ge,
            HAADF,
            difficulty="easy",
            tags=("interface", "steps", "vacuum"),
        ),
        _case(
            "sto_ge_low_dose",
            "lattices",
            "sto_ge_interface at ~4 counts per column peak",
            sto_ge,
            dataclasses.replace(HAADF, dose=4.0),
            difficulty="hard",
            tags=("low-dose",),
        ),
        _case(
            "crystal_amorphous",
            "lattices",
            "hexagonal crystal vs amorphous islands, equal mean",
            crystal_amorphous,
            HAADF,
            tags=("amorphous",),
        ),
        _case(
            "subtle_rotation",
            "lattices",
            "one perovskite lattice, domains rotated by 7 degrees",
            subtle_rotation,
            HAADF,
            difficulty="hard",
            tags=("orientation",),
        ),
        _case(
            "twins",
            "lattices",
            "diamond-cubic [110] twin lamellae (mirror domains)",
            twins,
            HAADF,
            difficulty="hard",
            tags=("twins", "orientation"),
        ),
        _case(
            "polycrystal",
            "lattices",
            "Voronoi grains of two phases in random orientations",
            polycrystal,
            HAADF,
            difficulty="hard",
            tags=("polycrystal", "rotation-invariance"),
        ),
        _case(
            "polycrystal_thickness",
            "lattices",
            "two-phase polycrystal, grain thickness 0.4-1.2 independent of the phase",
            polycrystal_thickness,
            HAADF,
            difficulty="hard",
            tags=("polycrystal", "thickness", "brightness-invariance"),
        ),
        _case(
            "lattice_spacing",
            "lattices",
            "hexagonal grains with 10 % different lattice parameter",
            spacing,
            HAADF,
            difficulty="hard",
            tags=("spacing",),
        ),
        _case(
            "thickness_steps",
            "lattices",
            "one crystal in three thickness terraces",
            thickness_steps,
            HAADF,
            difficulty="easy",
            tags=("thickness", "steps"),
        ),
        _case(
            "ordering_domains",
            "lattices",
            "A/B-ordered vs disordered perovskite (motif only)",
            ordering,
            HAADF,
            tags=("motif",),
        ),
        _case(
            "rotated_grains_thickness",
            "lattices",
            "hexagonal grains in two orientations 3-10 deg apart, thickness per grain, low dose",
            rotated_grains,
            dataclasses.replace(HAADF, dose=30.0),
            difficulty="hard",
            tags=("orientation", "thickness", "brightness-invariance"),
        ),
        _case(
            "spacing_grains_thickness",
            "lattices",
            "perovskite grains, cells 6-14 % apart, random orientation and thickness per grain",
            spacing_grains,
            HAADF,
            difficulty="hard",
            tags=("spacing", "thickness", "brightness-invariance"),
        ),
        _case(
            "particles_round_faceted",
            "particles",
            "round vs faceted particles, same material",
            particles_on_carbon(ROUND, FACETED),
            LOW_MAG,
            difficulty="hard",
            tags=("shape",),
        ),
        _case(
            "particles_round_rod",
            "particles",
            "round vs rod-shaped particles, same material",
            particles_on_carbon(ROUND, ROD),
            LOW_MAG,
            tags=("shape",),
        ),
        _case(
            "particles_two_materials",
            "particles",
            "round particles of two Z-contrasts",
            particles_on_carbon(ROUND, dataclasses.replace(ROUND, name="light", z=0.55)),
            LOW_MAG,
            difficulty="easy",
            tags=("z-contrast",),
        ),
        _case(
            "particles_low_dose",
            "particles",
            "round vs faceted particles at 3 counts/px",
            particles_on_carbon(ROUND, FACETED),
            dataclasses.replace(LOW_MAG, dose=3.0),
            difficulty="hard",
            tags=("shape", "low-dose"),
        ),
        _case(
            "particles_mixed_thickness",
            "particles",
            "sparse particles of one class, 3-40 px radius, thin ones faint",
            mixed_thickness,
            LOW_MAG,
            difficulty="hard",
            tags=("thickness", "small"),
        ),
        _case(
            "particles_thickness_varies",
            "particles",
            "round vs faceted particles, thickness 0.4-1.3x per particle",
            particles_on_carbon(
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
            particles_on_carbon(DOME, PLATE),
            LOW_MAG,
            difficulty="hard",
            tags=("profile", "thickness"),
        ),
        _case(
            "particles_drift_low_dose",
            "particles",
            "round vs rod particles at 5 counts/px with strong drift and line jitter",
            particles_on_carbon(
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
