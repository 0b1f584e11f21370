"""What a job writes per frame: the provenance, every export and the arrays (deterministic
keys), the result row; a series' table; later additions to a stored result.json."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np

from catalog.links import persistent_url
from catalog.models import Image
from catalog.tiles import PREVIEW_MAX_SIDE
from common import storage
from workers.fewshot.pipeline import Segmentation

from .. import artefacts, exports, maps
from ..models import SegmentationJob, SegmentationResult
from .clock import Clock


def provenance(job: SegmentationJob, image: Image, frame: int, *, temperature: float) -> dict:
    version, model = job.support_set, job.model_version
    return {
        "job": str(job.pk),
        "rerun_of": str(job.rerun_of_id) if job.rerun_of_id else None,
        "image": {
            "id": str(image.pk),
            "sha256": image.sha256,
            "filename": image.original_filename,
            "width": image.width,
            "height": image.height,
            "frames": image.frames,
            "pixel_size": image.pixel_size,
            "pixel_unit": image.pixel_unit,
        },
        "frame": frame,
        "dataset": {
            "id": str(image.dataset_id),
            "persistent_url": persistent_url(image.dataset),
            "licence": image.dataset.licence,
        },
        "support_set": {
            "id": str(version.pk),
            "number": version.number,
            "schema": str(version.schema_id),
            "rule": version.rule,
            "params": version.params,
            "n_chips": len(version.chips),
            "chip_size": version.chip_size,
            "offset": [version.offset_y, version.offset_x],
        },
        "model_version": {
            "id": str(model.pk),
            "name": model.name,
            "version": model.version,
            "run_id": model.mlflow_run_id,
            "encoder_kind": model.encoder_kind,
            "weights_sha256": model.weights_sha256,
        },
        "params": job.params,
        "temperature": temperature,
        "code_version": job.code_version,
        "created_by": str(job.created_by_id),
        "started": job.started.isoformat() if job.started else None,
    }


#: the class map at smaller sizes (name: largest side, px), each written for a map larger
#: than it: the page draws the smallest its display needs at the current zoom, and the next
#: one up, then ``mask.png``, as it is zoomed in (at 4096², the 2048 px copy took 20-50 ms to
#: decode and ~20 ms to draw in Chromium, the 1024 px copy 8-11 ms and 5-6 ms)
MAP_PREVIEWS = {"mask.preview-1024.png": 1024, "mask.preview.png": PREVIEW_MAX_SIDE}

#: the exports the page draws a result with: written with the result's row, so that the map
#: is shown while the downloads are still being written (``result_save``)
MAP_EXPORTS = ("mask.png", *MAP_PREVIEWS, "instances.png", "particles.json")

#: written last of a frame's exports: a result without it is not finished (a redelivered job
#: classifies its frame again)
LAST_EXPORT = "result.json"


def result_save(
    job,
    image: Image,
    grid,
    frame: int,
    result: Segmentation,
    pixels: maps.PixelOutputs,
    classes: list[dict],
    clock: Clock,
) -> SegmentationResult:
    """Write one frame's arrays and the exports the page draws it with (:data:`MAP_EXPORTS`)
    and its result row: the page shows the map from here. :func:`downloads_save` adds the
    rest; a job succeeds after both."""
    t = time.perf_counter()
    stats = {**result.stats, **pixels.stats}
    prov = provenance(job, image, frame, temperature=stats.get("temperature"))
    blobs = map_exports(pixels, classes, stats, geometry=grid_geometry(grid), provenance=prov)
    t = clock.add("exports", t)
    arrays = artefacts.npz_bytes(
        labels=result.labels.astype(np.int16), probs=result.probs, confidence=result.confidence
    )
    keys = exports_put(job, image, frame, {"arrays.npz": arrays, **blobs})
    obj, _created = SegmentationResult.objects.update_or_create(
        job=job,
        image=image,
        frame=frame,
        defaults={
            "grid": grid,
            "rows": grid.rows,
            "cols": grid.cols,
            "arrays_key": keys.pop("arrays.npz"),
            "classes": classes,
            "counts": stats["counts"],
            "fractions": stats["fractions"],
            "fraction_std": stats.get("fractions_std", []),
            "areas": stats.get("areas"),
            "area_unit": stats.get("area_unit", ""),
            "mean_confidence": stats.get("mean_confidence", 0.0),
            "stats": stats,
            "artefacts": keys,
            "provenance": prov,
        },
    )
    clock.add("save", t)
    return obj


def exports_put(job, image: Image, frame: int, blobs: dict[str, bytes]) -> dict[str, str]:
    """Store ``{name: bytes}`` under the result's prefix -> {name: key}."""
    prefix = artefacts.result_prefix(
        lab_id=job.lab_id, job_id=job.pk, image_id=image.pk, frame=frame
    )
    keys = artefacts.put_many({f"{prefix}/{name}": data for name, data in blobs.items()})
    return {name: keys[f"{prefix}/{name}"] for name in blobs}


def grid_document(grid) -> dict:
    return {
        "id": str(grid.pk),
        "chip_size": grid.chip_size,
        "offset": [grid.offset_y, grid.offset_x],
        "rows": grid.rows,
        "cols": grid.cols,
        "margins": grid.margins,
    }


def grid_geometry(grid) -> dict:
    return {"chip_size": grid.chip_size, "offset": (grid.offset_y, grid.offset_x)}


def map_exports(pixels, classes, stats, *, geometry: dict, provenance: dict) -> dict:
    """The exports the page draws a frame's result with (:data:`MAP_EXPORTS`): {name: bytes}."""
    blobs = {
        "mask.png": exports.mask_png(pixels.mask, classes, **geometry, provenance=provenance),
    }
    for name, side in MAP_PREVIEWS.items():  # what the page draws at fit zoom
        if max(pixels.mask.shape) > side:
            blobs[name] = exports.mask_preview_png(pixels.mask, classes, max_side=side)
    if "objects" in stats:
        blobs["particles.json"] = maps.particles_json(pixels.particles, pixels.boxes)
        blobs["instances.png"] = exports.instances_png(pixels.instances)
    return blobs


def result_json_update(result: SegmentationResult, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to the result's stored result.json (when it has one), in place."""
    key = result.artefacts.get("result.json")
    if not key:
        return
    with storage.open_(key) as fh:
        document = json.loads(fh.read())
    change(document)
    storage.put_bytes(key, exports.result_json(document))


def series_write(job: SegmentationJob, image: Image) -> None:
    """Add the per-frame fractions of a series to each frame's stats and result.json, and
    write the whole series' table (series.csv, shared by the frames' results)."""
    results = list(job.results.filter(image=image).order_by("frame"))
    series = [
        {
            "frame": r.frame,
            "fractions": r.fractions,
            "fraction_std": r.fraction_std,
            **(
                {"objects": {n: o["n_total"] for n, o in r.stats["objects"].items()}}
                if r.stats.get("objects")
                else {}
            ),
        }
        for r in results
    ]
    table = exports.series_csv(
        [(r.frame, r.stats) for r in results],
        results[0].classes,
        provenance=results[0].provenance,
    )
    prefix = artefacts.result_prefix(lab_id=job.lab_id, job_id=job.pk, image_id=image.pk, frame=0)
    table_key = storage.put_bytes(f"{prefix.rsplit('/', 1)[0]}/series.csv", table.encode())
    for r in results:
        r.stats = {**r.stats, "series": series}
        r.artefacts = {**r.artefacts, "series.csv": table_key}
        r.save(update_fields=["stats", "artefacts"])
        result_json_update(r, lambda document: document.update(series=series))
