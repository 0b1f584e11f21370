"""Re-derivation: re-run a published result from its dataset version's provenance alone and say
whether what comes out is bit-identical to what was published.

Everything is read from the version's manifest and the files it froze: the original images
(checked against their sha256), the anonymised support set (its chips and classes), the model
version, the job's parameters and the published ``result.json`` and ``mask.png``. No job,
grid or vote row is used, so a result re-derives as long as the version and the model version
exist. The same code as a job's runs the segmentation (``runner.classify_frame``).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from types import SimpleNamespace

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from catalog.models import DatasetVersion
from catalog.services import pixels_decode
from common import storage
from common.errors import Conflict, NotFound, TooLarge
from common.provenance import code_version
from registry.models import ModelVersion
from registry.services import encoder_load
from workers.fewshot.encoders import resolve_device
from workers.fewshot.pipeline import Segmenter, embed_frames, normalised_frames

from .runner import classify_frame, frame_intensity, options_from_params, support_chips
from .services import support_classes


def _read_checked(key: str, sha256: str, what: str) -> bytes:
    """A frozen file's bytes, refused (409) when they are not the ones the version recorded."""
    if not key or not storage.exists(key):
        raise Conflict(f"The version's {what} is missing from storage.", code="file_missing")
    with storage.open_(key) as fh:
        data = fh.read()
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise Conflict(
            f"The version's {what} does not match its recorded sha256.", code="checksum_mismatch"
        )
    return data


def _entry(entries: list[dict], entry_id: str, what: str) -> dict:
    found = next((e for e in entries if e.get("id") == entry_id), None)
    if found is None:
        raise NotFound(f"The version has no {what} {entry_id}.")
    return found


def _image_data(entry: dict) -> np.ndarray:
    """Decoded pixels of a version's original, checked against its recorded sha256."""
    data = _read_checked(entry["key"], entry["sha256"], f"image {entry['filename']}")
    return pixels_decode(io.BytesIO(data), filename=entry["filename"], fmt=entry["format"])


def _pixel_budget(images: list[dict]) -> None:
    pixels = sum(int(i["width"]) * int(i["height"]) * int(i.get("frames") or 1) for i in images)
    limit = settings.CHIPLAB_REDERIVE_MAX_PIXELS
    if pixels > limit:
        raise TooLarge(
            f"Re-deriving this result reads {pixels:,} pixels; this server re-derives at most "
            f"{limit:,} at once (CHIPLAB_REDERIVE_MAX_PIXELS).",
            code="rederive_too_large",
        )


def result_rederive(*, version: DatasetVersion, result_id: str) -> dict:
    """Re-run result ``result_id`` of ``version`` from the version's provenance; a report of
    what matches: chip labels, the pixel mask and the fractions, with the code versions."""
    started = time.perf_counter()
    manifest = version.manifest or {}
    entry = _entry(manifest.get("results", []), str(result_id), "result")
    files = {f["name"]: f for f in entry.get("files", [])}
    if "result.json" not in files or "mask.png" not in files:
        raise Conflict(
            "The version did not freeze this result's result.json and mask.png.",
            code="not_rederivable",
        )
    set_entry = _entry(manifest.get("support_sets", []), entry["support_set"], "support set")
    support_doc = json.loads(_read_checked(set_entry["key"], set_entry["sha256"], "support set"))
    model = _model(entry)
    classes = support_classes(SimpleNamespace(**support_doc))
    support_by_image = support_chips(SimpleNamespace(**support_doc), classes)
    result, pixels = _rerun(manifest, entry, model, classes, support_by_image)
    return {
        "version": str(version.pk),
        "result": entry["id"],
        **_compare(files, result, pixels),
        "model_version": {"id": str(model.pk), "name": model.name, "version": model.version},
        "code_version": {"published": entry.get("code_version"), "now": code_version()},
        "seconds": round(time.perf_counter() - started, 3),
    }


def _model(entry: dict):
    """The model version that made the result (409 when it is not on this server)."""
    model_id = (entry.get("model_version") or {}).get("id")
    model = ModelVersion.objects.filter(pk=model_id).first()
    if model is None:
        raise Conflict(
            f"The model version {model_id} that made this result is not on this server.",
            code="model_unavailable",
        )
    return model


def _rerun(manifest: dict, entry: dict, model, classes: list[dict], support_by_image: dict):
    """The result's frame segmented again from the version's images and support chips."""
    images = {i["id"]: i for i in manifest.get("images", [])}
    needed = [entry["image"], *(i for i in support_by_image if i != entry["image"])]
    if missing := [i for i in needed if i not in images]:
        raise Conflict(
            "The version does not hold the images this result needs: " + ", ".join(missing),
            code="not_rederivable",
        )
    _pixel_budget([images[i] for i in needed])
    params = entry["params"]
    options = options_from_params(params, classes)
    encoder = encoder_load(model_version=model, device=resolve_device("auto"))
    data = {image_id: _image_data(images[image_id]) for image_id in needed}
    embedded = {}
    for image_id in needed:
        frames = normalised_frames(data[image_id])
        embedded[image_id] = embed_frames(
            frames if image_id == entry["image"] else frames[:1],
            encoder=encoder,
            chip_size=int(params["chip_size"]),
            offset=tuple(params["offset"]),
            seed=options.seed,
        )
    support_ids = [i for i in needed if i in support_by_image]
    for image_id in support_ids:
        _check_inside(embedded[image_id].grid, support_by_image[image_id])
    segmenter = Segmenter.fit(
        [embedded[i] for i in support_ids],
        [support_by_image[i] for i in support_ids],
        encoder=encoder,
        options=options,
    )
    frame = int(entry.get("frame") or 0)
    target, image = embedded[entry["image"]], images[entry["image"]]
    has_objects = any(c.get("kind") == "objects" for c in classes)
    return classify_frame(
        segmenter,
        target,
        frame,
        frame_pixels=target.frames[frame],
        classes=classes,
        support=support_by_image.get(entry["image"]) if frame == 0 else None,
        spectrum=None,
        intensity=frame_intensity(data[entry["image"]], frame) if has_objects else None,
        pixel_size=image.get("pixel_size"),
        pixel_unit=image.get("pixel_unit") or None,
    )


def _check_inside(grid, positions: dict) -> None:
    """Refuse support chips outside the grid of the result's parameters."""
    for r, c in (p for chips in positions.values() for p in chips):
        if not (0 <= r < grid.rows and 0 <= c < grid.cols):
            raise Conflict(
                f"Support chip ({r}, {c}) lies outside the {grid.rows} x {grid.cols} grid "
                "of the result's parameters: the provenance is inconsistent.",
                code="not_rederivable",
            )


def _compare(files: dict, result, pixels) -> dict:
    """What matches between the published result.json and mask.png and the re-run."""
    published = json.loads(
        _read_checked(files["result.json"]["key"], files["result.json"]["sha256"], "result.json")
    )
    mask_bytes = _read_checked(files["mask.png"]["key"], files["mask.png"]["sha256"], "mask.png")
    with PILImage.open(io.BytesIO(mask_bytes)) as img:
        published_mask = np.asarray(img)
    labels = np.asarray(published["labels"], dtype=np.int64)
    chip_same = labels.shape == result.labels.shape and bool(np.array_equal(labels, result.labels))
    mask_same = published_mask.shape == pixels.mask.shape and bool(
        np.array_equal(published_mask, pixels.mask)
    )
    fractions = [float(f) for f in result.stats["fractions"]]
    published_fractions = [float(f) for f in published["stats"]["fractions"]]
    return {
        "identical": chip_same and mask_same and fractions == published_fractions,
        "chip_labels": {
            "identical": chip_same,
            "differing": _differing(labels, result.labels),
            "total": int(result.labels.size),
        },
        "pixel_mask": {
            "identical": mask_same,
            "differing": _differing(published_mask, pixels.mask),
            "total": int(pixels.mask.size),
        },
        "fractions": {"published": published_fractions, "rederived": fractions},
    }


def _differing(a: np.ndarray, b: np.ndarray) -> int | None:
    """How many entries differ (None when the shapes differ)."""
    if a.shape != b.shape:
        return None
    return int(np.count_nonzero(np.asarray(a) != np.asarray(b)))
