"""What a result holds besides its chip map: the pixel map, its statistics and the objects.

For every frame the runner classifies, :func:`pixel_outputs` turns the chip segmentation into

- the full-resolution label map and per-pixel confidence (``workers.fewshot.pixels``), as a
  uint8 mask of class indices (:data:`exports.UNLABELLED` where the grid does not reach);
- the map's class fractions, physical areas and confidence summary (``stats["pixels"]``);
- class-fraction profiles down the rows and across the columns of the map, and the
  interfaces where the dominant class changes (``stats["layers"]``, ``workers.fewshot.profiles``;
  the ``profile.csv`` export);
- for each class marked as objects (``kind == "objects"``: particles, precipitates, voids),
  its instances and their size distribution (``stats["objects"]``, ``workers.fewshot.objects``)
  and the particle table rows (the ``particles.csv`` export).

Chip statistics stay what they were (counts of chips, with the support-bootstrap and map-error
interval); the pixel fractions are the map's own areas, without an interval.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field

import numpy as np

from workers.fewshot import objects, profiles
from workers.fewshot.boundary import FrameSpectrum
from workers.fewshot.pipeline import Segmentation
from workers.fewshot.pixels import pixel_map

from .exports import UNLABELLED, csv_cell

#: a pixel below this confidence counts as uncertain in the summary
UNCERTAIN_BELOW = 0.75
#: bootstrap resamples of the particle statistics
OBJECT_BOOTSTRAP = 1000
#: at most this many bands per profile (the band is the image side / this, rounded up)
PROFILE_BANDS = 256


@dataclass
class PixelOutputs:
    """mask (H, W) uint8 class indices; confidence (H, W) float32; stats: the "pixels" and
    "objects" entries of a result's stats; particles: one row per instance of every object
    class (empty without object classes); seconds per stage."""

    mask: np.ndarray
    confidence: np.ndarray
    stats: dict
    particles: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def pixel_outputs(
    frame: np.ndarray,
    seg: Segmentation,
    classes: list[dict],
    *,
    frequencies: np.ndarray | None,
    support: dict[int, list[tuple[int, int]]] | None,
    spectrum: FrameSpectrum | None,
    intensity: np.ndarray | None,
    pixel_size: float | None,
    pixel_unit: str | None,
    seed: int = 0,
) -> PixelOutputs:
    """The pixel map of one frame (``frame``: normalised pixels the grid cuts) and its objects.

    classes: the job's class table (index order) with each class's ``kind``; intensity: the
    original frame (mean intensity per particle, in the file's units). The segmentation's own
    pixel map is used when it has one (the core's pixel vote), else it is made here."""
    pm = seg.pixel_map or pixel_map(
        frame, seg, frequencies=frequencies, support=support, spectrum=spectrum
    )
    t = time.perf_counter()
    mask = np.where(pm.labels < 0, UNLABELLED, pm.labels).astype(np.uint8)
    stats = {
        "pixels": pixel_stats(pm.labels, pm.confidence, len(classes), pixel_size, pixel_unit),
        "layers": layer_stats(pm.labels, len(classes), pixel_size, pixel_unit),
    }
    timings = {"pixels": sum(pm.timings.values())}
    particles: list[dict] = []
    found = {}
    kinds = [c for c in classes if c.get("kind") == "objects"]
    if kinds:
        # one instance map over every object class: a particle whose pixels the classifier
        # split between two kinds stays one particle, of its majority class
        ids = [int(c["index"]) for c in kinds]
        inst = objects.instances(
            pm.labels,
            ids if len(ids) > 1 else ids[0],
            intensity=intensity,
            pixel_size=pixel_size,
            pixel_unit=pixel_unit,
        )
        for c in kinds:
            dist = objects.size_distribution(
                inst, n_boot=OBJECT_BOOTSTRAP, seed=seed, only_class=int(c["index"])
            )
            found[c["name"]] = {"class_index": int(c["index"]), **dist}
        name_of = {int(c["index"]): c["name"] for c in kinds}
        particles = [
            {"class": name_of[row["class_id"]], **row} for row in objects.instance_rows(inst)
        ]
    if found:
        stats["objects"] = found
    timings["objects"] = time.perf_counter() - t
    return PixelOutputs(mask, pm.confidence, stats, particles, timings)


def layer_stats(
    labels: np.ndarray, n_classes: int, pixel_size: float | None, pixel_unit: str | None
) -> dict:
    """Class-fraction profiles down the rows ("y") and across the columns ("x") of a pixel map,
    each with the interfaces where its dominant class changes and its purity (the mean share
    of a band's dominant class); ``main_axis`` is the purer one: the axis that crosses the
    layers (horizontal layers give pure row bands and mixed column bands)."""
    out: dict = {}
    for axis, n in (("y", labels.shape[0]), ("x", labels.shape[1])):
        band = max(1, -(-n // PROFILE_BANDS))
        prof = profiles.class_profile(labels, n_classes, axis=axis, band=band)
        out[axis] = {
            **prof.to_dict(pixel_size=pixel_size, pixel_unit=pixel_unit),
            "interfaces": profiles.interfaces(prof, pixel_size=pixel_size, pixel_unit=pixel_unit),
            "purity": float(np.nanmean(prof.fractions.max(1)))
            if np.isfinite(prof.fractions).any()
            else 0.0,
        }
    out["main_axis"] = max(("y", "x"), key=lambda a: out[a]["purity"])
    return out


def profile_csv(layers: dict, classes: list[dict]) -> str:
    """Both profiles as one table: axis, band centre (px and the image's unit), fractions."""
    names = [c["name"] for c in classes]
    buf = io.StringIO()
    unit = layers["y"].get("unit")
    header = ["axis", "position_px", *([f"position_{unit}"] if unit else []), *map(csv_cell, names)]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for axis in ("y", "x"):
        prof = layers[axis]
        for i, pos in enumerate(prof["positions_px"]):
            phys = [prof["positions"][i]] if unit else []
            fr = ["" if v is None else v for v in prof["fractions"][i]]
            writer.writerow([axis, pos, *phys, *fr])
    return buf.getvalue()


def pixel_stats(
    labels: np.ndarray,
    confidence: np.ndarray,
    n_classes: int,
    pixel_size: float | None,
    pixel_unit: str | None,
) -> dict:
    """Class fractions and areas of a pixel map (labels -1 = not covered) and how sure it is."""
    covered = labels >= 0
    n = int(covered.sum())
    counts = np.bincount(labels[covered].astype(np.int64), minlength=n_classes)[:n_classes]
    conf = confidence[covered]
    out = {
        "n_pixels": n,
        "counts": counts.tolist(),
        "fractions": (counts / max(n, 1)).tolist(),
        "mean_confidence": float(conf.mean()) if n else 0.0,
        "uncertain_fraction": float((conf < UNCERTAIN_BELOW).mean()) if n else 0.0,
        "uncertain_below": UNCERTAIN_BELOW,
        "method": "pixel classifier on the chip map (workers.fewshot.pixels); no interval",
    }
    if pixel_size:
        out["areas"] = (counts * float(pixel_size) ** 2).tolist()
        out["area_unit"] = f"{pixel_unit or 'px'}^2"
    return out


def particles_csv(rows: list[dict], *, provenance: dict | None = None) -> str:
    """The particle table of a result: one line per instance of every object class (the
    calibrated columns when the image has a pixel size); the job and image as columns."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    if not header:
        header = ["class", "id", "class_id", "area_px", "equivalent_diameter_px"]
    extra = {}
    if provenance:
        extra = {"job": provenance.get("job", ""), "image": provenance.get("image", {}).get("id")}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*header, *extra], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in {**row, **extra}.items()})
    return buf.getvalue()
