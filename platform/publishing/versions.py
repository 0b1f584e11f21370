"""Dataset versions: immutable, numbered, citable snapshots of a dataset (writes).

A version freezes what a reader needs to cite and reuse the data: the dataset's metadata,
licence and creators as they are now, every ready image (by sha256; originals are never
modified), the frozen support-set versions and the segmentation results a curator chooses.
Result files are copied to the version's own keys (a result's ``result.json`` is rewritten by
later checks; the version's copy never is) and support sets are written as anonymised JSON
documents, each with its sha256 and size in ``manifest``. There is no update: a correction
is a new version, and images in a version cannot be deleted.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts.models import Role
from accounts.selectors import require_role
from analysis.models import JobStatus, SegmentationResult
from catalog.models import Dataset, DatasetVersion, Image, ImageStatus
from common import storage
from common.errors import Conflict, Invalid, TooLarge
from labeling.models import SupportSetVersion

#: bounds of one version (the crate is streamed; creating a version copies result files)
MAX_VERSION_IMAGES = 5000
MAX_VERSION_RESULTS = 200
MAX_VERSION_SUPPORT_SETS = 50
MAX_NOTE_CHARS = 2000

#: what a result contributes to a version: its label maps and tables (not overlays or charts,
#: which are views of these)
RESULT_FILES: dict[str, str] = {
    "mask.ome.tif": "image/tiff",
    "mask.png": "image/png",
    "confidence.png": "image/png",
    "counts.csv": "text/csv",
    "particles.csv": "text/csv",
    "series.csv": "text/csv",
    "profile.csv": "text/csv",
    "result.json": "application/json",
    # the chip arrays (labels, probabilities, confidence): what an import restores a result from
    "arrays.npz": "application/x-npz",
}

MIME = {
    "tiff": "image/tiff",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "dm3": "application/x-gatan-dm3",
    "dm4": "application/x-gatan-dm4",
}

_CHUNK = 1024 * 1024


def version_prefix(dataset: Dataset, version_id) -> str:
    return f"labs/{dataset.lab_id}/datasets/{dataset.pk}/versions/{version_id}"


def dataset_version_create(
    *,
    user,
    dataset: Dataset,
    note: str = "",
    support_sets: list | tuple = (),
    results: list | tuple = (),
) -> DatasetVersion:
    """Publish the next version of ``dataset`` (curators): its ready images, the given frozen
    support-set versions (ids) and results (ids) with the support sets they used."""
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise Invalid(
            f"The note has {len(note)} characters; at most {MAX_NOTE_CHARS}.",
            fields={"note": ["too_long"]},
        )
    support_ids = _unique_ids(support_sets, "support_sets", MAX_VERSION_SUPPORT_SETS)
    result_ids = _unique_ids(results, "results", MAX_VERSION_RESULTS)
    version_id = uuid.uuid4()
    written: list[str] = []
    try:
        with transaction.atomic():
            # the row lock serialises numbering and reads the metadata as it is now
            dataset = Dataset.objects.select_for_update().select_related("lab").get(pk=dataset.pk)
            images = _ready_images(dataset)
            chosen_results = _results(dataset, result_ids, images)
            chosen_sets = _support_sets(dataset, support_ids, chosen_results)
            prefix = version_prefix(dataset, version_id)
            manifest = {
                "lab": {"id": str(dataset.lab_id), "name": dataset.lab.name},
                "dataset": {"id": str(dataset.pk), "created": dataset.created.isoformat()},
                "images": [_image_entry(image) for image in images],
                "support_sets": [
                    _support_set_entry(version, prefix, written) for version in chosen_sets
                ],
                "results": [_result_entry(result, prefix, written) for result in chosen_results],
            }
            number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = DatasetVersion.objects.create(
                id=version_id,
                dataset=dataset,
                number=number,
                note=note,
                title=dataset.title,
                description=dataset.description,
                keywords=list(dataset.keywords),
                licence=dataset.licence,
                creators=list(dataset.creators),
                funding=list(dataset.funding),
                # a version's DOI is its own (minted by publishing.doi); the dataset's DOI,
                # if any, names the whole dataset and is cited as what the version is part of
                manifest=manifest,
                created_by=user,
            )
            version.images.set(images)
            version.support_sets.set(chosen_sets)
            version.results.set(chosen_results)
    except IntegrityError as err:
        _delete(written)
        raise Conflict(
            "Another version of this dataset was published at the same moment; try again.",
            code="version_race",
        ) from err
    except BaseException:
        _delete(written)
        raise
    return version


def _delete(keys: list[str]) -> None:
    for key in keys:
        storage.delete(key)


def _unique_ids(values, field: str, limit: int) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    for value in values or []:
        try:
            parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            raise Invalid(
                f"{field}: {value!r} is not an id.", fields={field: ["invalid"]}
            ) from None
        if parsed not in out:
            out.append(parsed)
    if len(out) > limit:
        raise TooLarge(
            f"{field}: {len(out)} given; a version takes at most {limit}.",
            fields={field: ["too_many"]},
        )
    return out


def _ready_images(dataset: Dataset) -> list[Image]:
    images = dataset.images.filter(status=ImageStatus.READY).order_by("created", "pk")
    n = images.count()
    if n == 0:
        raise Conflict(
            "The dataset has no ready image: a version needs at least one.", code="empty"
        )
    if n > MAX_VERSION_IMAGES:
        raise TooLarge(
            f"The dataset has {n} ready images; a version takes at most {MAX_VERSION_IMAGES}.",
            code="too_many_images",
        )
    if dataset.images.filter(status=ImageStatus.PENDING).exists():
        raise Conflict(
            "Images of the dataset are still being ingested; publish once they are ready.",
            code="not_ready",
        )
    return list(images)


def _results(dataset: Dataset, ids: list[uuid.UUID], images: list[Image]) -> list:
    found = {
        r.pk: r
        for r in SegmentationResult.objects.filter(
            pk__in=ids, image__dataset=dataset, job__status=JobStatus.SUCCEEDED
        ).select_related("job", "job__support_set", "image")
    }
    if missing := [str(i) for i in ids if i not in found]:
        raise Invalid(
            "Not finished results of this dataset's images: " + ", ".join(missing),
            fields={"results": ["not_found"]},
        )
    ready = {image.pk for image in images}
    if stray := [str(i) for i in ids if found[i].image_id not in ready]:
        raise Conflict("Results of images that are not ready: " + ", ".join(stray))
    return [found[i] for i in ids]


def _support_sets(dataset: Dataset, ids: list[uuid.UUID], results: list) -> list:
    found = {
        v.pk: v
        for v in SupportSetVersion.objects.filter(
            pk__in=ids, schema__dataset=dataset
        ).select_related("schema")
    }
    if missing := [str(i) for i in ids if i not in found]:
        raise Invalid(
            "Not frozen support sets of this dataset: " + ", ".join(missing),
            fields={"support_sets": ["not_found"]},
        )
    chosen = [found[i] for i in ids]
    for result in results:  # a result's support set is part of its provenance
        used = result.job.support_set
        if used.pk not in {v.pk for v in chosen}:
            chosen.append(used)
    return chosen


def _scalars(values: dict) -> dict:
    return {
        str(k): v
        for k, v in sorted((values or {}).items())
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }


def _image_entry(image: Image) -> dict:
    return {
        "id": str(image.pk),
        "filename": image.original_filename,
        "key": image.original_key,
        "sha256": image.sha256,
        "size": image.size_bytes,
        "format": image.format,
        "encoding_format": MIME.get(image.format, "application/octet-stream"),
        "width": image.width,
        "height": image.height,
        "frames": image.frames,
        "channels": image.channels,
        "dtype": image.dtype,
        "pixel_size": image.pixel_size,
        "pixel_unit": image.pixel_unit,
        "instrument": _scalars(image.instrument),
        "created": image.created.isoformat(),
    }


def _put(key: str, data: bytes, written: list[str]) -> dict:
    storage.put_bytes(key, data)
    written.append(key)
    return {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _support_set_entry(version, prefix: str, written: list[str]) -> dict:
    """The support set as an anonymised document (contributors counted, not named)."""
    document = {
        "id": str(version.pk),
        "schema": {"id": str(version.schema_id), "name": version.schema.name},
        "number": version.number,
        "rule": version.rule,
        "params": version.params,
        "chip_size": version.chip_size,
        "offset": [version.offset_y, version.offset_x],
        "classes": version.classes,
        "chips": version.chips,
        "n_contributors": len(version.contributors),
        "agreement": version.agreement,
        "created": version.created.isoformat(),
    }
    data = json.dumps(document, indent=1, sort_keys=True).encode()
    stored = _put(f"{prefix}/support-sets/{version.pk}.json", data, written)
    return {
        "id": str(version.pk),
        "name": f"{version.schema.name} support set v{version.number}",
        "number": version.number,
        "n_chips": len(version.chips),
        "classes": [c.get("name") for c in version.classes],
        "created": version.created.isoformat(),
        **stored,
    }


def _result_entry(result, prefix: str, written: list[str]) -> dict:
    """The result's provenance and a copy of its maps and tables, each with its checksum."""
    files = []
    for name, mime in RESULT_FILES.items():
        key = result.arrays_key if name == "arrays.npz" else (result.artefacts or {}).get(name)
        if not key or not storage.exists(key):
            continue
        with storage.open_(key) as fh:
            data = fh.read()
        stored = _put(f"{prefix}/results/{result.pk}/{name}", data, written)
        files.append({"name": name, "encoding_format": mime, **stored})
    prov = result.provenance or {}
    return {
        "id": str(result.pk),
        "image": str(result.image_id),
        "frame": result.frame,
        "job": str(result.job_id),
        "support_set": str(result.job.support_set_id),
        "model_version": prov.get("model_version") or {"id": str(result.job.model_version_id)},
        "params": {
            **(prov.get("params") or result.job.params),
            "temperature": prov.get("temperature"),
        },
        "code_version": prov.get("code_version") or result.job.code_version,
        "started": prov.get("started"),
        "created": result.created.isoformat(),
        "classes": [c.get("name") for c in result.classes],
        "files": files,
    }
