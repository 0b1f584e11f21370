"""Writes of datasets and images: upload (validate, store bit-exact, enqueue ingest) and ingest."""

import contextlib
import hashlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Lab, Role
from accounts.selectors import require_role
from common import storage
from common.errors import Conflict, Invalid, NotFound, TooLarge, Unsupported
from common.jobs import enqueue_on_commit
from webhooks.services import event_emit

from . import formats, tiles
from .formats.units import calibration, uncalibrated
from .licences import LICENCES
from .models import Dataset, Image, ImageStatus, Visibility

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


# --- datasets ----------------------------------------------------------------------
def _clean_dataset_fields(fields: dict) -> dict:
    if "title" in fields and not (fields["title"] or "").strip():
        raise Invalid("A dataset needs a title.", fields={"title": ["required"]})
    if "licence" in fields and fields["licence"] not in LICENCES:
        raise Invalid(
            f"Unknown licence '{fields['licence']}'; use an SPDX id such as CC-BY-4.0.",
            fields={"licence": ["unknown SPDX id"]},
        )
    if "visibility" in fields and fields["visibility"] not in Visibility.values:
        raise Invalid(
            "Visibility must be private, lab or public.", fields={"visibility": ["invalid"]}
        )
    for creator in fields.get("creators", []) or []:
        if not isinstance(creator, dict) or not str(creator.get("name", "")).strip():
            raise Invalid("Each creator needs a name.", fields={"creators": ["name required"]})
    if "keywords" in fields:
        fields["keywords"] = [str(k).strip() for k in fields["keywords"] or [] if str(k).strip()]
    if "funding" in fields:
        # kept as given, less empty values (a partial update does not make the API check
        # nested required fields, so the funder's name is checked here)
        funding = [
            {k: str(v).strip() for k, v in dict(entry).items() if str(v or "").strip()}
            for entry in fields["funding"] or []
        ]
        if any(not entry.get("funder_name") for entry in funding):
            raise Invalid(
                "Each funding reference needs the funder's name.",
                fields={"funding": ["funder_name required"]},
            )
        fields["funding"] = funding
    return fields


@transaction.atomic
def dataset_create(*, user, lab: Lab, title: str, **fields) -> Dataset:
    require_role(user=user, lab_id=lab.pk, role=Role.CURATOR)
    fields = _clean_dataset_fields({"title": title, **fields})
    if not fields.get("creators"):
        name = user.get_full_name() or user.username
        fields["creators"] = [{"name": name, **({"orcid": user.orcid} if user.orcid else {})}]
    return Dataset.objects.create(lab=lab, created_by=user, **fields)


@transaction.atomic
def dataset_update(*, user, dataset: Dataset, **fields) -> Dataset:
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    fields = _clean_dataset_fields(fields)
    for name, value in fields.items():
        setattr(dataset, name, value)
    # Only the fields sent, so concurrent edits of different fields do not undo each other.
    dataset.save(update_fields=[*fields, "modified"])
    return dataset


@transaction.atomic
def dataset_delete(*, user, dataset: Dataset) -> None:
    """Delete a dataset with its images, grids, schemas, votes, results and stored files.

    Refused (409) while any of its schemas has a frozen support-set version, like an image's.
    """
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    dataset = _lock_for_delete(dataset.pk)
    if n := dataset.versions.count():
        raise Conflict(
            f"The dataset has {n} published version(s), which are citable records; it cannot "
            "be deleted (make it private instead).",
            code="published",
        )
    frozen = dataset.schemas.filter(versions__isnull=False).values("versions").distinct()
    if n := frozen.count():
        raise Conflict(
            f"The dataset has {n} frozen support-set version(s), which jobs and trained models "
            "refer to; it cannot be deleted without breaking them (make it private instead).",
            code="in_use",
        )
    images = list(dataset.images.all())
    keys = [k for image in images for k in _stored_keys(image)]
    shas = {image.sha256 for image in images}
    lab_id = dataset.lab_id
    for schema in dataset.schemas.all():  # votes and gold answers protect their classes
        schema.votes.all().delete()
        schema.gold.all().delete()
    folder = f"labs/{lab_id}/datasets/{dataset.pk}"
    dataset.delete()
    transaction.on_commit(lambda: _stored_delete(keys, lab_id=lab_id, shas=shas, folders=[folder]))


# --- images ------------------------------------------------------------------------
def _image_prefix(dataset: Dataset, image_id: uuid.UUID) -> str:
    return f"labs/{dataset.lab_id}/datasets/{dataset.pk}/images/{image_id}"


def _image_keys(image: Image) -> list[str]:
    frames = [frame_preview_key(image, i) for i in range(1, image.preview_frames)]
    return [k for k in (image.original_key, image.preview_key, image.thumbnail_key) if k] + frames


#: time series get a preview for each of their first frames (about 0.1-4 MB each)
MAX_FRAME_PREVIEWS = 100


def frame_preview_key(image: Image, frame: int) -> str:
    """Storage key of the preview of frame ``frame`` >= 1 (frame 0 is ``image.preview_key``)."""
    return f"{_image_prefix(image.dataset, image.pk)}/preview-frame-{frame:05d}.png"


@contextlib.contextmanager
def _local_copy(upload: UploadedFile) -> Iterator[Path]:
    """A filesystem path for the upload (Django already spooled big ones to disk)."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name or "").suffix) as tmp:
        for chunk in upload.chunks(_CHUNK):
            tmp.write(chunk)
        tmp.flush()
        yield Path(tmp.name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


_FORMAT_STATUS = {400: Invalid, 413: TooLarge, 415: Unsupported}


def _probe(path: Path, filename: str) -> "formats.Probe":
    try:
        return formats.probe(
            path,
            filename=filename,
            max_pixels=settings.CHIPLAB_MAX_PIXELS,
            max_bytes=settings.CHIPLAB_MAX_DECODED_BYTES,
        )
    except formats.FormatError as err:
        raise _FORMAT_STATUS.get(err.http_status, Invalid)(str(err), code=err.code) from err


def check_upload_size(size: int | None) -> None:
    limit = settings.CHIPLAB_MAX_UPLOAD_BYTES
    if size is not None and size > limit:
        raise TooLarge(
            f"The file is {size} bytes; this server accepts at most {limit}.", code="file_too_large"
        )


def image_upload(*, user, dataset: Dataset, upload: UploadedFile) -> Image:
    """Validate an uploaded micrograph, store it bit-exact and enqueue its ingest.

    Nothing is stored unless the file is a readable micrograph of a supported format
    and not already in the dataset.
    """
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    filename = Path(upload.name or "upload").name[:255]
    if not upload.size:
        raise Invalid("The file is empty.", code="empty")
    check_upload_size(upload.size)
    with _local_copy(upload) as path:
        sha256 = _sha256(path)
        _refuse_duplicate(dataset, sha256)
        probe = _probe(path, filename)
        image_id = uuid.uuid4()
        key = f"{_image_prefix(dataset, image_id)}/original{Path(filename).suffix.lower()}"
        try:
            with path.open("rb") as fh:
                storage.put(key, File(fh, name=filename))
        except BaseException:
            # the store failing (down, restarting: a 503) may have kept the object whole
            _stored_delete([key], lab_id=dataset.lab_id, shas=set())
            raise
    try:
        return image_register(
            user=user,
            dataset=dataset,
            image_id=image_id,
            filename=filename,
            key=key,
            size=upload.size,
            sha256=sha256,
            probe=probe,
        )
    except BaseException:
        _stored_delete([key], lab_id=dataset.lab_id, shas=set())  # never masks the error
        raise


def image_register(
    *, user, dataset: Dataset, image_id, filename: str, key: str, size: int, sha256: str, probe
) -> Image:
    """The image row of an original already stored at ``key`` (checked and probed by the
    caller), its ingest enqueued on commit; 409 when the file is already in the dataset (a
    concurrent upload of the same file). The caller deletes the stored object on failure."""
    try:
        with transaction.atomic():
            image = Image.objects.create(
                id=image_id,
                dataset=dataset,
                original_filename=filename,
                original_key=key,
                size_bytes=size,
                sha256=sha256,
                format=probe.format,
                width=probe.width,
                height=probe.height,
                frames=probe.frames,
                channels=probe.channels,
                dtype=probe.dtype,
                uploaded_by=user,
            )
            enqueue_on_commit("workers.tasks.ingest.ingest_image", image.pk)
    except IntegrityError as err:
        raise Conflict("This file is already in the dataset.", code="duplicate") from err
    return image


def _refuse_duplicate(dataset: Dataset, sha256: str) -> None:
    existing = dataset.images.filter(sha256=sha256).first()
    if existing is not None:
        raise Conflict(
            f"This file is already in the dataset as image {existing.pk} "
            f"('{existing.original_filename}').",
            code="duplicate",
        )


@transaction.atomic
def image_delete(*, user, image: Image) -> None:
    """Delete an image with its grids, votes, results and every stored file derived from it.

    Refused (409) while chips of the image belong to a frozen support-set version: versions are
    immutable records that jobs re-run and models were trained on.
    """
    require_role(user=user, lab_id=image.dataset.lab_id, role=Role.CURATOR)
    _lock_for_delete(image.dataset_id)
    image = Image.objects.filter(pk=image.pk).select_related("dataset").first()
    if image is None:
        raise NotFound("Image not found (deleted meanwhile).")
    if numbers := list(image.dataset_versions.values_list("number", flat=True)):
        raise Conflict(
            f"The image is in published version(s) {', '.join(map(str, sorted(numbers)))} of "
            "the dataset, which never change; it cannot be deleted.",
            code="published",
        )
    frozen = image.grids.filter(support_sets__isnull=False).values("support_sets").distinct()
    if n := frozen.count():
        raise Conflict(
            f"Chips of this image are in {n} frozen support-set version(s), which jobs and "
            "trained models refer to; the image cannot be deleted without breaking them.",
            code="in_use",
        )
    keys = _stored_keys(image)
    lab_id, shas = image.dataset.lab_id, {image.sha256}
    folder = _image_prefix(image.dataset, image.pk)  # previews, tiles: whatever is under it
    image.delete()
    transaction.on_commit(lambda: _stored_delete(keys, lab_id=lab_id, shas=shas, folders=[folder]))


def _lock_for_delete(dataset_id) -> Dataset:
    """Lock a dataset's row and its label schemas' rows before deleting from it.

    Publishing a dataset version locks the dataset (``catalog.versions``) and freezing a
    support-set version locks its schema (``labeling``): a delete waits for a freeze under way
    and then sees the version it made (409), and a freeze that comes second sees the image gone.
    """
    dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
    list(dataset.schemas.select_for_update().order_by("pk").values_list("pk", flat=True))
    return dataset


def _stored_keys(image: Image) -> list[str]:
    """Every stored file derived from ``image``: original, previews, its results' exports
    (overlays show the micrograph)."""
    keys = _image_keys(image)
    for result in image.segmentation_results.all():
        keys += [result.arrays_key, *result.artefacts.values()]
    return keys


def embeddings_prefixes(lab_id, sha256: str) -> list[str]:
    """The folders of a lab's stored embeddings of the image with ``sha256``, one per model
    version (layout: ``analysis.artefacts.embeddings_key``)."""
    root = f"labs/{lab_id}/embeddings"
    try:
        versions, _files = storage.listdir(root)
    except FileNotFoundError:
        return []
    return [f"{root}/{version}/{sha256}" for version in versions]


def _stored_delete(keys: list[str], *, lab_id, shas: set[str], folders=()) -> None:
    """After a delete committed: its images' stored files (``keys``, and every object under
    ``folders``), and their embeddings unless another image of the lab has the same bytes.
    Never raises: the rows are gone whatever happens, and a store that is down leaves files
    behind (logged, by key)."""
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            log.exception("could not delete %s of a deleted image: left in storage", key)
    for folder in folders:
        try:
            storage.delete_under(folder)
        except Exception:
            log.exception("could not delete the objects under %s: left in storage", folder)
    for sha in shas:
        try:
            if Image.objects.filter(dataset__lab_id=lab_id, sha256=sha).exists():
                continue  # the same file in another dataset of the lab uses them
            for prefix in embeddings_prefixes(lab_id, sha):
                storage.delete_under(prefix)
        except Exception:
            log.exception("could not delete the embeddings of image bytes %s: left", sha)


def image_calibrate(*, user, image: Image, pixel_size: float | None, pixel_unit: str) -> Image:
    """Set the pixel size by hand (e.g. from a JPEG's scale bar), or with ``None`` go back to
    what the file said. The file's own calibration is kept under ``calibration["extracted"]``;
    results already computed keep the pixel size they used (their provenance names it)."""
    require_role(user=user, lab_id=image.dataset.lab_id, role=Role.CURATOR)
    if image.status != ImageStatus.READY:
        raise Conflict(
            f"The image is {image.status}: its calibration is read at ingest; set it by hand "
            "once the image is ready.",
            code="not_ready",
        )
    current = image.calibration or {}
    extracted = current.get("extracted", current) if current.get("source") == "manual" else current
    if pixel_size is None:
        cal = {k: v for k, v in extracted.items() if k != "extracted"} or uncalibrated()
    else:
        cal = calibration(pixel_size, pixel_unit, source="manual")
        cal.update(set_by=str(user.pk), set_at=timezone.now().isoformat(), extracted=extracted)
    image.calibration = cal
    image.pixel_size = cal.get("pixel_size")
    image.pixel_unit = cal.get("pixel_unit") or ""
    image.save(update_fields=["calibration", "pixel_size", "pixel_unit"])
    Dataset.objects.filter(pk=image.dataset_id).update(modified=timezone.now())
    return image


@contextlib.contextmanager
def original_path(image: Image) -> Iterator[Path]:
    """A local path to the original bytes (downloaded to a temporary file from S3)."""
    with tempfile.TemporaryDirectory(prefix="chiplab-") as tmp:
        path = Path(tmp) / f"original{Path(image.original_filename).suffix.lower()}"
        with storage.open_(image.original_key) as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        yield path


def original_pixels(image: Image) -> np.ndarray:
    """The decoded original ((H, W) or (T, H, W)), within the decoded-bytes budget; errors
    name the file by its original name, never by a local path."""
    with original_path(image) as path:
        return formats.read(
            path,
            fmt=image.format,
            filename=image.original_filename,
            max_bytes=settings.CHIPLAB_MAX_DECODED_BYTES,
        ).data


def image_ingest(*, image_id) -> Image:
    """Extract metadata and calibration and write the preview and thumbnail (idempotent)."""
    image = Image.objects.filter(pk=image_id).select_related("dataset").first()
    if image is None:
        raise NotFound(f"Image {image_id} not found.")
    if image.status == ImageStatus.READY:
        return image
    try:
        with original_path(image) as path:
            micrograph = formats.read(
                path,
                fmt=image.format,
                filename=image.original_filename,
                max_bytes=settings.CHIPLAB_MAX_DECODED_BYTES,
            )
        prefix = _image_prefix(image.dataset, image.pk)
        preview = formats.preview(micrograph.data)
        preview_key = storage.put_bytes(f"{prefix}/preview.png", formats.encode_png(preview))
        thumb_key = storage.put_bytes(
            f"{prefix}/thumbnail.png", formats.encode_png(formats.thumbnail(micrograph.data))
        )
        preview_frames = min(micrograph.frames, MAX_FRAME_PREVIEWS)
        for frame in range(1, preview_frames):
            storage.put_bytes(
                frame_preview_key(image, frame),
                formats.encode_png(formats.preview(micrograph.data, index=frame)),
            )
        # real pixels in the viewer past the preview's size (catalog.tiles): frame 0
        tiles.tiles_write(image, micrograph.data)
    except formats.FormatError as err:
        Image.objects.filter(pk=image.pk).update(status=ImageStatus.FAILED, error=str(err))
        image.refresh_from_db()
        event_emit("image.failed", image.pk)
        return image
    calibration = micrograph.calibration or {}
    pending = image.calibration or {}
    if pending.get("source") == "manual" and pending.get("pixel_size") != calibration.get(
        "pixel_size"
    ):
        # set before the ingest (an imported image's published pixel size): kept over the file's
        calibration = {**pending, "extracted": calibration}
    written = Image.objects.filter(pk=image.pk).update(
        status=ImageStatus.READY,
        error="",
        preview_key=preview_key,
        preview_frames=preview_frames,
        thumbnail_key=thumb_key,
        pixel_size=calibration.get("pixel_size"),
        pixel_unit=calibration.get("pixel_unit") or "",
        calibration=calibration,
        instrument=micrograph.instrument or {},
        metadata_raw=micrograph.raw or {},
        ingested=timezone.now(),
    )
    if not written:  # deleted while being ingested: its delete could not know these files
        frames = [frame_preview_key(image, f) for f in range(1, preview_frames)]
        _stored_delete([preview_key, thumb_key, *frames], lab_id=image.dataset.lab_id, shas=set())
        raise NotFound(f"Image {image_id} was deleted while it was ingested.")
    image.refresh_from_db()
    event_emit("image.ready", image.pk)
    return image


def image_mark_failed(*, image_id, reason: str) -> None:
    changed = (
        Image.objects.filter(pk=image_id)
        .exclude(status=ImageStatus.READY)
        .update(status=ImageStatus.FAILED, error=reason[:2000])
    )
    if changed:
        event_emit("image.failed", image_id)
