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
  and the particle table rows (the ``particles.csv`` export), the instance map (the
  ``instances.png`` export and ``labels/particles`` of the OME-Zarr) and the page's compact
  table with each particle's box (the ``particles.json`` export, :func:`particles_json`).

Chip statistics stay what they were (counts of chips, with the support-bootstrap and map-error
interval); the pixel fractions are the map's own areas, without an interval.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from workers.fewshot import objects, profiles
from workers.fewshot.boundary import FrameSpectrum
from workers.fewshot.pipeline import Segmentation
from workers.fewshot.pixels import pixel_map

from .exports import UNLABELLED, csv_cell

#: a pixel below this confidence counts as uncertain in the summary
UNCERTAIN_BELOW = 0.75
#: bootstrap resamples of the particle statistics
OBJECT_BOOTSTRAP = 1000
#: the page's particle table (particles.json) holds at most this many particles; the CSV
#: and the instance map hold every one
MAX_TABLE_PARTICLES = 50_000
#: particles.json's columns: the table the page shows (the CSV has every column)
TABLE_COLUMNS = (
    "id",
    "class",
    "area_px",
    "area_nm2",
    "equivalent_diameter_px",
    "equivalent_diameter_nm",
    "feret_max_px",
    "feret_max_nm",
    "feret_min_px",
    "feret_min_nm",
    "aspect_ratio",
    "circularity",
    "edge",
)
#: at most this many bands per profile (the band is the image side / this, rounded up)
PROFILE_BANDS = 256


@dataclass
class PixelOutputs:
    """mask (H, W) uint8 class indices; confidence (H, W) float32; stats: the "pixels" and
    "objects" entries of a result's stats; particles: one row per instance of every object
    class (empty without object classes); instances: (H, W) int32 particle ids (0 = none,
    i = ``particles[i - 1]``) or None without object classes; boxes: (n, 4) int32
    [x0, y0, x1, y1) per particle; seconds per stage."""

    mask: np.ndarray
    confidence: np.ndarray
    stats: dict
    particles: list[dict] = field(default_factory=list)
    instances: np.ndarray | None = None
    boxes: np.ndarray | None = None
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
    labels, confidence = pm.labels, pm.confidence
    particles: list[dict] = []
    ids_map = boxes = None
    found = {}
    kinds = [c for c in classes if c.get("kind") == "objects"]
    if kinds:
        # one instance map over every object class: a particle whose pixels the classifier
        # split between two kinds stays one particle, of its majority class, and its pixels
        # take that class (no rim of the other kind in the mask and the fractions)
        ids = [int(c["index"]) for c in kinds]
        inst = objects.instances(
            labels,
            ids if len(ids) > 1 else ids[0],
            intensity=intensity,
            pixel_size=pixel_size,
            pixel_unit=pixel_unit,
        )
        objects.one_class_each(labels, inst, confidence)  # in place: this frame's own map
        for c in kinds:
            dist = objects.size_distribution(
                inst, n_boot=OBJECT_BOOTSTRAP, seed=seed, only_class=int(c["index"])
            )
            found[c["name"]] = {"class_index": int(c["index"]), **dist}
        name_of = {int(c["index"]): c["name"] for c in kinds}
        particles = [
            {"class": name_of[row["class_id"]], **row} for row in objects.instance_rows(inst)
        ]
        ids_map, boxes = inst.labels, instance_boxes(inst.labels, inst.n)
    # class ids as bytes and -1 (uncovered) as UNLABELLED: a cast and a masked fill (a where()
    # over the int16 map took 38 ms at 4096²)
    mask = labels.astype(np.uint8)
    np.putmask(mask, labels < 0, UNLABELLED)
    # each class's pixels per row and column, counted once: the fractions and the profiles
    # (on the byte map: a fifth faster than on the int16 one)
    lines = profiles.line_counts(mask, len(classes))
    stats = {
        "pixels": pixel_stats(lines["y"].sum(0), confidence, pixel_size, pixel_unit),
        "layers": layer_stats(labels, lines, pixel_size, pixel_unit),
    }
    timings = {"pixels": pm.timings["total"]}
    if found:
        stats["objects"] = found
    timings["objects"] = time.perf_counter() - t
    return PixelOutputs(
        mask, confidence, stats, particles, instances=ids_map, boxes=boxes, timings=timings
    )


def native_preview(preview: np.ndarray, data: np.ndarray, frame: int) -> np.ndarray:
    """The grey the overlay is drawn on, at the original's size (the overlay export is at
    native resolution): the stored ``preview`` when it is that size, else the frame of
    ``data`` (H, W) or (T, H, W) stretched as previews are, but not downscaled."""
    shape = data.shape[-2:]
    if preview.shape == shape:
        return preview
    # catalog.formats loads every format's decoder: only a map whose preview is not at full
    # size needs it
    from catalog import formats

    return formats.preview(data, max_side=max(shape), index=frame)


def instance_boxes(ids: np.ndarray, n: int) -> np.ndarray:
    """(n, 4) int32 [x0, y0, x1, y1) of particles 1..n of an instance map (0 = none)."""
    boxes = np.zeros((n, 4), np.int32)
    for i, sl in enumerate(ndimage.find_objects(ids, max_label=n)):
        if sl is not None:
            boxes[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return boxes


def layer_stats(
    labels: np.ndarray, lines: dict, pixel_size: float | None, pixel_unit: str | None
) -> dict:
    """Class-fraction profiles down the rows ("y") and across the columns ("x") of a pixel map,
    each with the interfaces where its dominant class changes and its purity (the mean share
    of a band's dominant class); ``main_axis`` is the purer one: the axis that crosses the
    layers (horizontal layers give pure row bands and mixed column bands). ``lines``:
    ``profiles.line_counts(labels, n_classes)``."""
    out: dict = {}
    n_classes = lines["y"].shape[1]
    for axis, n in (("y", labels.shape[0]), ("x", labels.shape[1])):
        band = max(1, -(-n // PROFILE_BANDS))
        prof = profiles.class_profile(labels, n_classes, axis=axis, band=band, per_line=lines[axis])
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
    counts: np.ndarray,
    confidence: np.ndarray,
    pixel_size: float | None,
    pixel_unit: str | None,
) -> dict:
    """Class fractions and areas of a pixel map and how sure it is: ``counts`` (K,) pixels of
    each class (``profiles.line_counts``), ``confidence`` (H, W) the map's, 0 where it does
    not cover the frame (``pixels.PixelMap``)."""
    counts = np.asarray(counts, np.int64)
    n = int(counts.sum())
    # row sums first, in float32 (a float64 sum over the whole map took 15 ms at 4096^2);
    # uncovered pixels (confidence 0) add nothing to it and are taken off the unsure count
    total = float(confidence.sum(1).sum(dtype=np.float64))
    unsure = np.count_nonzero(confidence < UNCERTAIN_BELOW) - (confidence.size - n)
    out = {
        "n_pixels": n,
        "counts": counts.tolist(),
        "fractions": (counts / max(n, 1)).tolist(),
        "mean_confidence": float(total / n) if n else 0.0,
        "uncertain_fraction": unsure / n if n else 0.0,
        "uncertain_below": UNCERTAIN_BELOW,
        "method": "pixel classifier on the chip map (workers.fewshot.pixels); no interval",
    }
    if pixel_size:
        out["areas"] = (counts * float(pixel_size) ** 2).tolist()
        out["area_unit"] = f"{pixel_unit or 'px'}^2"
    return out


def particles_csv(rows: list[dict], *, provenance: dict | None = None) -> str:
    """The particle table of a result: the library's table (``objects.rows_csv``: one line
    per instance of every object class, the calibrated columns when the image has a pixel
    size) with the class name in front, the job and image as columns, and cells a
    spreadsheet cannot take for formulas."""
    extra = {}
    if provenance:
        extra = {"job": provenance.get("job", ""), "image": provenance.get("image", {}).get("id")}
    return objects.rows_csv(rows, leading=("class",), extra=extra, cell=csv_cell)


def _compact(value):
    """A table cell for the page: floats to 5 significant digits (the CSV has them all)."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    return value


def particles_json(
    rows: list[dict], boxes: np.ndarray, *, limit: int = MAX_TABLE_PARTICLES
) -> bytes:
    """The page's particle table: :data:`TABLE_COLUMNS` present in the rows, one list per
    particle (at most ``limit``, in id order) and each particle's box [x0, y0, x1, y1) in
    image pixels, so the page can find and outline a particle in the instance map without
    scanning it; ``n_total`` and ``truncated`` say when the table is cut (the CSV has all)."""
    present = set(objects.table_header(rows[:1])) if rows else set()
    columns = [c for c in TABLE_COLUMNS if c in present]
    shown = rows[:limit]
    document = {
        "format": "chiplab.particles/1",
        "columns": columns,
        "rows": [[_compact(row.get(c)) for c in columns] for row in shown],
        "boxes": np.asarray(boxes[: len(shown)], np.int64).tolist(),
        "n_total": len(rows),
        "truncated": len(rows) > len(shown),
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
