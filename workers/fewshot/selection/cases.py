"""The selection cases (all in group "particles"), their imaging, and ``generate``.

Each case pairs a specimen (``scenes``) with an acquisition: bright-field TEM (``tem``),
annular dark-field STEM or secondary-electron SEM (``scanning``, ``sem``). The specimen is drawn
on a canvas wider than the image by a margin, so that lens fringes, probe blur and scan drift
reach in from outside as they would; the margin is cropped (TEM) or never scanned (STEM, SEM).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from workers.fewshot.selection.scanning import Scan, acquire, haadf_signal
from workers.fewshot.selection.scene import SelectionCase, SelectionImage, Specimen
from workers.fewshot.selection.scenes import SCENES
from workers.fewshot.selection.sem import SecondaryElectrons, secondary_yield, to_8bit
from workers.fewshot.selection.tem import BrightField, bright_field

__all__ = ["SELECTION_CASES", "generate"]

Imaging = Callable[[np.random.Generator, Specimen, float, tuple[int, int], int], tuple]


def _bright_field(bf: BrightField) -> tuple[Imaging, int]:
    """Bright-field imaging on the canvas, then the margin cropped; its margin."""

    def image(rng, spec: Specimen, px: float, shape, margin: int) -> tuple:
        """(counts, truth, drawn settings) of the requested shape."""
        counts, drawn = bright_field(rng, spec, px, bf)
        window = (slice(margin, margin + shape[0]), slice(margin, margin + shape[1]))
        return counts[window], spec.truth[window], {**drawn, "imaging": bf.to_dict()}

    return image, 32


def _dark_field(scan: Scan) -> tuple[Imaging, int]:
    """HAADF STEM: the high-angle signal scanned with the scan's faults; its margin."""

    def image(rng, spec: Specimen, px: float, shape, margin: int) -> tuple:
        """(counts, truth, drawn settings) of the requested shape."""
        signal = haadf_signal(spec.thickness)
        counts, truth, drawn = acquire(rng, signal, spec.truth, shape, margin, scan)
        return counts, truth, {**drawn, "imaging": scan.to_dict()}

    return image, 24 + int(np.ceil(scan.drift_px))


def _secondary(se: SecondaryElectrons, scan: Scan) -> tuple[Imaging, int]:
    """SEM: the collected secondary yield scanned, then set to 8-bit levels; its margin."""

    def image(rng, spec: Specimen, px: float, shape, margin: int) -> tuple:
        """(grey levels, truth, drawn settings) of the requested shape."""
        yield_, detector = secondary_yield(rng, spec, se)
        counts, truth, drawn = acquire(rng, yield_, spec.truth, shape, margin, scan)
        grey, levels = to_8bit(rng, counts)
        notes = {**drawn, **detector, **levels, "imaging": {**se.to_dict(), **scan.to_dict()}}
        return grey, truth, notes

    return image, 24 + int(np.ceil(scan.drift_px))


def _render(scene: str, px: float, imaging: tuple[Imaging, int]):
    """A case's ``render(rng, shape)``: its specimen on a wider canvas, then imaged."""
    image, margin = imaging

    def render(rng: np.random.Generator, shape: tuple[int, int]) -> tuple:
        """(image, truth, class names, notes) of ``shape``."""
        scene_rng, imaging_rng = rng.spawn(2)
        canvas = (shape[0] + 2 * margin, shape[1] + 2 * margin)
        spec = SCENES[scene](scene_rng, canvas, px)
        counts, truth, notes = image(imaging_rng, spec, px, shape, margin)
        return counts, truth, spec.class_names, notes

    return render


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

SELECTION_CASES: dict[str, SelectionCase] = {
    name: SelectionCase(name, text, _render(scene, px, imaging), px)
    for name, (text, scene, px, imaging) in _SPECS.items()
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
