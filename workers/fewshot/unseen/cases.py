"""The unseen cases (groups "lattices", "particles", "textures") and ``generate``.

Lattices at 0.02 nm/px, particles at 0.8 nm/px, textures in px. Each case has its own imaging
model (optics.Optics); textures are used as drawn.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from workers.fewshot.unseen.lattices import LATTICE_BUILDERS
from workers.fewshot.unseen.optics import Optics, acquire, margin_for
from workers.fewshot.unseen.particles import PARTICLE_BUILDERS
from workers.fewshot.unseen.scene import UnseenCase, UnseenImage
from workers.fewshot.unseen.textures import TEXTURE_BUILDERS

__all__ = ["UNSEEN_CASES", "generate"]

STEM = Optics(dose=60.0, probe=0.7, cutoff=0.35, drift=(3.0, 5.0), jitter=0.35, flyback=2.5)
STEM_SATURATING = dataclasses.replace(STEM, saturation=4000.0, contamination=2)
STEM_DRIFTING = dataclasses.replace(
    STEM, drift=(9.0, -12.0), flyback=5.0, settle=40.0, jitter=0.6, contamination=3
)
STEM_LOW_DOSE = dataclasses.replace(STEM, dose=4.0, read_noise=1.0, scan_noise=0.9, dark=5.0)
# particles: low magnification, wider probe relative to the pixel
DF = Optics(
    dose=150.0, probe=0.9, cutoff=0.3, drift=(2.0, 3.0), jitter=0.25, flyback=1.5, saturation=3000.0
)
DF_LOW_DOSE = dataclasses.replace(
    DF, dose=8.0, drift=(6.0, 9.0), read_noise=1.0, scan_noise=0.3, dark=3.0
)
DF_SATURATED = dataclasses.replace(DF, dose=400.0, saturation=900.0, contamination=2)
BF = Optics(
    dose=300.0, probe=1.0, cutoff=0.3, fringe=0.6, drift=(1.0, 2.0), jitter=0.1, flyback=0.0,
    scan_noise=0.2, read_noise=4.0, dark=50.0,
)  # fmt: skip

_LATTICE_OPTICS = {
    "hex_grain_rotation": ("hexagonal grains in two orientations 5-15 deg apart", STEM),
    "hex_two_spacings": ("two hexagonal phases, lattice parameters 22 % apart", STEM),
    "perovskite_variants": (
        "perovskite / double perovskite / brownmillerite bands",
        STEM_SATURATING,
    ),
    "crystal_amorphous": ("orthorhombic crystal vs amorphous islands, strong drift", STEM_DRIFTING),
    "graphene_layers": ("vacuum / monolayer / AB-bilayer honeycomb", STEM),
    "tetragonal_domains": ("a/c ferroelastic domains (90 deg) at ~4 counts/px", STEM_LOW_DOSE),
    "polycrystal_three": ("grains of three phases at random angles", STEM),
}
_PARTICLE_OPTICS = {
    "plates_vs_domes_bf": ("bright field: flat plates vs sphere-like particles", BF),
    "core_shell_df": ("dark field: core-shell vs uniform particles", DF),
    "agglomerates_low_dose": ("dark field, low dose: agglomerates vs irregular", DF_LOW_DOSE),
    "two_materials_bf": ("bright field: light vs heavy irregular particles", BF),
    "sparse_saturated_df": ("dark field: sparse particles 6-60 px, saturating", DF_SATURATED),
}


def _cases() -> dict[str, UnseenCase]:
    out = {}
    for name, (text, optics) in _LATTICE_OPTICS.items():
        out[f"u_{name}"] = UnseenCase(
            f"u_{name}", "lattices", text, LATTICE_BUILDERS[name], optics, 0.02
        )
    for name, (text, optics) in _PARTICLE_OPTICS.items():
        out[f"u_{name}"] = UnseenCase(
            f"u_{name}", "particles", text, PARTICLE_BUILDERS[name], optics, 0.8
        )
    for name, draw in TEXTURE_BUILDERS.items():
        out[f"u_{name}"] = UnseenCase(
            f"u_{name}", "textures", f"{name} (bundled scikit-image crops)", draw, None, 1.0, "px"
        )
    return out


UNSEEN_CASES: dict[str, UnseenCase] = _cases()


def generate(name: str, *, seed: int, size: int | tuple[int, int] = (512, 512)) -> UnseenImage:
    """Generate unseen case ``name`` deterministically from ``seed``; size is (H, W) or an int."""
    case = UNSEEN_CASES.get(name)
    if case is None:
        raise KeyError(f"unknown unseen case {name!r}; known: {', '.join(UNSEEN_CASES)}")
    h, w = (size, size) if isinstance(size, int | np.integer) else (int(size[0]), int(size[1]))
    if min(h, w) < 32:
        raise ValueError(f"size must be at least 32x32, got {(h, w)}")
    # a seed space of its own: crc32 of "unseen/<name>" never equals a training or seen stream
    rng = np.random.default_rng([int(seed), zlib.crc32(f"unseen/{name}".encode())])
    scene_rng, imaging_rng = rng.spawn(2)
    margin = margin_for(case.optics) if case.optics else 0
    drawn = case.draw(scene_rng, (h + 2 * margin, w + 2 * margin))
    if case.optics:
        image, truth = acquire(drawn.intensity, drawn.truth, case.optics, imaging_rng, margin)
    else:
        image, truth = drawn.intensity, drawn.truth
    return UnseenImage(
        np.ascontiguousarray(image, np.float32),
        np.ascontiguousarray(truth, np.int32),
        drawn.class_names,
        case.pixel_size,
        case.pixel_unit,
        case.group,
        {
            "case": name,
            "seed": int(seed),
            "description": case.description,
            "classes": drawn.classes,
            "optics": case.optics.to_dict() if case.optics else None,
        },
    )
