"""The selection cases (groups "particles", "lattices", "textures"), their imaging, ``generate``.

Each case pairs a specimen with an acquisition. Particles (``scenes``): bright-field TEM
(``tem``), annular dark-field STEM or secondary-electron SEM (``scanning``, ``sem``). Lattices
(``lattice_scenes``): HRTEM or atomic-resolution HAADF of projected crystals
(``lattice_imaging``). Textures (``texture_scenes``): mosaics seen by a plain camera. The
specimen is drawn on a canvas wider than the image by a margin, so that lens fringes, probe blur
and scan drift reach in from outside as they would; the margin is cropped (TEM, camera) or never
scanned (STEM, SEM).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from workers.fewshot.selection.lattice_imaging import crystal_haadf, crystal_wave
from workers.fewshot.selection.lattice_scenes import LATTICE_SCENES
from workers.fewshot.selection.scanning import Scan, acquire, haadf_signal
from workers.fewshot.selection.scene import SelectionCase, SelectionImage, Specimen
from workers.fewshot.selection.scenes import SCENES
from workers.fewshot.selection.sem import SecondaryElectrons, secondary_yield, to_8bit
from workers.fewshot.selection.tem import BrightField, image_wave, specimen_wave
from workers.fewshot.selection.texture_scenes import TEXTURE_SCENES, texture_camera

__all__ = ["SELECTION_CASES", "generate"]

Imaging = Callable[[np.random.Generator, Specimen, float, tuple[int, int], int], tuple]


def _bright_field(bf: BrightField, wave: Callable = specimen_wave) -> tuple[Imaging, int]:
    """Bright-field imaging on the canvas, then the margin cropped; its margin. ``wave(spec,
    px, kv)``: the specimen's exit wave (particles: ``tem.specimen_wave``; crystals:
    ``lattice_imaging.crystal_wave``)."""

    def image(rng, spec, px: float, shape, margin: int) -> tuple:
        """(counts, truth, drawn settings) of the requested shape."""
        counts, drawn = image_wave(rng, wave(spec, px, bf.kv), px, bf)
        window = (slice(margin, margin + shape[0]), slice(margin, margin + shape[1]))
        return counts[window], spec.truth[window], {**spec.notes, **drawn, "imaging": asdict(bf)}

    return image, 32


def _particle_haadf(spec: Specimen, px: float) -> np.ndarray:
    """The particles' high-angle signal (thickness maps are per pixel already: ``px`` unused)."""
    return haadf_signal(spec.thickness)


def _dark_field(scan: Scan, signal: Callable = _particle_haadf) -> tuple[Imaging, int]:
    """HAADF STEM: the high-angle signal scanned with the scan's faults; its margin.
    ``signal(spec, px)``: the specimen's signal (particles or ``lattice_imaging.crystal_haadf``)."""

    def image(rng, spec, px: float, shape, margin: int) -> tuple:
        """(counts, truth, drawn settings) of the requested shape."""
        counts, truth, drawn = acquire(rng, signal(spec, px), spec.truth, shape, margin, scan)
        return counts, truth, {**spec.notes, **drawn, "imaging": asdict(scan)}

    return image, 24 + int(np.ceil(scan.drift_px))


def _secondary(se: SecondaryElectrons, scan: Scan) -> tuple[Imaging, int]:
    """SEM: the collected secondary yield scanned, then set to 8-bit levels; its margin."""

    def image(rng, spec: Specimen, px: float, shape, margin: int) -> tuple:
        """(grey levels, truth, drawn settings) of the requested shape."""
        yield_, detector = secondary_yield(rng, spec, se)
        counts, truth, drawn = acquire(rng, yield_, spec.truth, shape, margin, scan)
        grey, levels = to_8bit(rng, counts)
        notes = {**drawn, **detector, **levels, "imaging": {**asdict(se), **asdict(scan)}}
        return grey, truth, notes

    return image, 24 + int(np.ceil(scan.drift_px))


def _render(scene: str, px: float, imaging: tuple[Imaging, int]):
    """A case's ``render(rng, shape)``: its specimen on a wider canvas, then imaged."""
    image, margin = imaging

    def render(rng: np.random.Generator, shape: tuple[int, int]) -> tuple:
        """(image, truth, class names, notes) of ``shape``."""
        scene_rng, imaging_rng = rng.spawn(2)
        canvas = (shape[0] + 2 * margin, shape[1] + 2 * margin)
        spec = _SCENES[scene](scene_rng, canvas, px)
        counts, truth, notes = image(imaging_rng, spec, px, shape, margin)
        return counts, truth, spec.class_names, notes

    return render


_SCENES = SCENES | LATTICE_SCENES | TEXTURE_SCENES

# the acquisitions, one per case
_BF_HIGH_MAG = BrightField(defocus_nm=(-900.0, -250.0), dose=(60.0, 200.0))
_BF_LOW_MAG = BrightField(
    defocus_nm=(-4000.0, -1200.0), dose=(30.0, 90.0), falloff=0.4, drift_px=(0.0, 2.5)
)
_DF_RODS = Scan(
    probe_px=0.9, counts=(5.0, 12.0), drift_px=6.0, background=0.3, dark=8.0, read_noise=0.6,
    line_noise=0.6,
)  # fmt: skip
_DF_LOW_DOSE = Scan(
    probe_px=1.0, counts=(1.0, 2.2), jitter_px=(0.4, 1.2), drift_px=14.0, background=0.1,
    dark=4.0, read_noise=0.4, line_noise=0.3,
)  # fmt: skip
_DF_ATOMIC = Scan(
    probe_px=0.6, counts=(80.0, 160.0), jitter_rows=(6.0, 20.0), drift_px=10.0, background=1.0,
    dark=20.0, read_noise=1.0, line_noise=1.5,
)  # fmt: skip
_SE_SCAN = Scan(
    probe_px=1.0, counts=(3.0, 8.0), halo=0.15, jitter_px=(0.1, 0.5), drift_px=4.0, dark=2.0,
    read_noise=0.4, line_noise=0.25, lag_px=1.2,
)  # fmt: skip

# name: (description, scene, pixel size in nm, imaging)
_SPECS = {
    "sel_facets_vs_spheres_bf": (
        "bright field, defocus fringes: Pd single crystals (cube/octahedron/decahedron, 3D "
        "tilt, thickness fringes) vs polycrystalline spheres, r 16-36 px",
        "facets_vs_spheres",
        0.25,
        _bright_field(_BF_HIGH_MAG),
    ),
    "sel_rods_vs_spheres_haadf": (
        "HAADF, line jitter: Au nanorods (r 4.5-7 px) vs spheres (r 5-9 px), in dried "
        "islands and strays",
        "rods_vs_spheres",
        0.5,
        _dark_field(_DF_RODS),
    ),
    "sel_gold_palladium_holey_haadf": (
        "HAADF, low dose, drift: Au (r 10-19 px) vs Pd (r 11-22 px) by Z contrast, on holey "
        "carbon (holes = vacuum, support class)",
        "gold_palladium_holey",
        0.4,
        _dark_field(_DF_LOW_DOSE),
    ),
    "sel_hollow_vs_solid_bf": (
        "bright field, low magnification: hollow Au-Ag boxes/spheres vs solid ones, r 28-62 "
        "px, on lacy carbon (vacuum = support class)",
        "hollow_vs_solid",
        1.1,
        _bright_field(_BF_LOW_MAG),
    ),
    "sel_aggregates_vs_isolated_sem": (
        "SEM secondary electrons, edge brightening and shading: Ag aggregates vs isolated "
        "particles on Si, r 16-26 px",
        "aggregates_vs_isolated",
        2.0,
        _secondary(SecondaryElectrons(), _SE_SCAN),
    ),
    "sel_clusters_vs_rafts_haadf": (
        "HAADF, atomic resolution: Pt clusters (r 14-22 px) vs 1-3 layer Pt rafts (r 16-32 "
        "px) on a lattice-resolved alumina edge (vacuum = support class)",
        "clusters_vs_rafts",
        0.05,
        _dark_field(_DF_ATOMIC),
    ),
}

# lattices: HRTEM of gold twins (aberration-corrected, 300 kV) and of copper / cuprite grains
# (uncorrected, 200 kV, near Scherzer focus); HAADF of a film cross-section and of Cu3Au
_HRTEM_CORRECTED = BrightField(
    defocus_nm=(-12.0, 4.0), dose=(60.0, 200.0), kv=300.0, cs_mm=0.015, focal_spread_nm=2.5,
    convergence_mrad=0.1, psf_px=0.8, falloff=0.15, drift_px=(0.0, 1.0),
)  # fmt: skip
_HRTEM_SCHERZER = BrightField(
    defocus_nm=(-75.0, -45.0), dose=(40.0, 150.0), kv=200.0, cs_mm=1.2, focal_spread_nm=3.0,
    convergence_mrad=0.15, falloff=0.2, drift_px=(0.0, 1.2),
)  # fmt: skip
_DF_CROSS_SECTION = Scan(
    probe_px=2.0, counts=(3.0, 8.0), halo=0.1, halo_px=12.0, jitter_px=(0.3, 1.0),
    jitter_rows=(20.0, 60.0), drift_px=12.0, background=0.5, dark=10.0, read_noise=1.0,
    line_noise=1.0,
)  # fmt: skip
_DF_ALLOY = Scan(
    probe_px=1.8, counts=(0.4, 1.2), jitter_px=(0.2, 0.7), drift_px=8.0, background=0.2,
    dark=6.0, read_noise=0.6, line_noise=0.4,
)  # fmt: skip

_LATTICE_SPECS = {
    "sel_twin_lamellae_hrtem": (
        "HRTEM (Cs-corrected): gold down [110], twin lamellae 1.2-4.5 nm thick, matrix vs twin "
        "(mirror images across coherent {111} boundaries), wedge foil",
        "twins",
        0.02,
        _bright_field(_HRTEM_CORRECTED, crystal_wave),
    ),
    "sel_film_on_substrate_haadf": (
        "HAADF, scan faults: InGaAs film on GaAs down [110] (dumbbells, misfit dislocations, "
        "In segregation) under an amorphous oxide / Pt-C cap",
        "epitaxy",
        0.025,
        _dark_field(_DF_CROSS_SECTION, crystal_haadf),
    ),
    "sel_ordered_disordered_haadf": (
        "HAADF, low dose: Cu3Au down [001], ordered L1_2 domains (antiphase, partial order) vs "
        "disordered regions, one orientation",
        "order_domains",
        0.02,
        _dark_field(_DF_ALLOY, crystal_haadf),
    ),
    "sel_copper_cuprite_hrtem": (
        "HRTEM near Scherzer: copper [110] vs cuprite [001] grains 3.5-5.5 nm at random in-plane "
        "angles (a quarter off axis: one set of planes), carbon support",
        "copper_oxide",
        0.025,
        _bright_field(_HRTEM_SCHERZER, crystal_wave),
    ),
}

_TEXTURE_SPECS = {
    "sel_microstructures_tex": (
        "mosaic, mean and std matched: foam vs fibre mat vs lamellar eutectic vs spinodal",
        "microstructures",
        1.0,
        texture_camera(0.8, (6.0, 14.0), 0.0),
    ),
    "sel_speckle_grains_tex": (
        "mosaic, mean and std matched: fine vs coarse vs streaked speckle",
        "speckle_grains",
        1.0,
        texture_camera(0.6, (4.0, 10.0), 0.0),
    ),
    "sel_convection_patterns_tex": (
        "Swift-Hohenberg pattern, one wavelength: bright spots vs stripes vs dark spots",
        "convection",
        1.0,
        texture_camera(1.0, (8.0, 18.0), 0.15),
    ),
}

SELECTION_CASES: dict[str, SelectionCase] = {
    name: SelectionCase(name, text, _render(scene, px, imaging), px, unit, group)
    for specs, group, unit in (
        (_SPECS, "particles", "nm"),
        (_LATTICE_SPECS, "lattices", "nm"),
        (_TEXTURE_SPECS, "textures", "px"),
    )
    for name, (text, scene, px, imaging) in specs.items()
}


def generate(name: str, seed: int = 0, size: int | tuple[int, int] = (512, 512)) -> SelectionImage:
    """Generate selection case ``name`` deterministically from ``seed``; size is (H, W) or an
    int (each side 64..4096)."""
    case = SELECTION_CASES.get(name)
    if case is None:
        raise KeyError(f"unknown selection case {name!r}; known: {', '.join(SELECTION_CASES)}")
    h, w = (size, size) if isinstance(size, int | np.integer) else (int(size[0]), int(size[1]))
    if not (64 <= h <= 4096 and 64 <= w <= 4096):
        raise ValueError(f"size must be 64..4096 px a side, got {(h, w)}")
    # a seed stream of its own: crc32 of "selection/<name>"
    rng = np.random.default_rng([int(seed), zlib.crc32(f"selection/{name}".encode())])
    image, truth, names, notes = case.render(rng, (h, w))
    return SelectionImage(
        np.ascontiguousarray(image, np.float32),
        np.ascontiguousarray(truth, np.int32),
        list(names),
        case.pixel_size,
        case.pixel_unit,
        case.group,
        {"case": name, "seed": int(seed), "description": case.description, **notes},
    )
