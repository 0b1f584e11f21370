"""Uploading an image: validate, store the original bit-exact, register it, enqueue its ingest."""

import contextlib
import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from accounts.models import Role
from accounts.selectors import require_role
from common import storage
from common.errors import Conflict, Invalid, TooLarge, Unsupported
from common.jobs import enqueue_on_commit

from .. import formats
from ..models import Dataset, Image
from .deletes import _stored_delete
from .keys import image_prefix
from .originals import _CHUNK


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


def upload_probe(path: Path, filename: str) -> "formats.Probe":
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
        refuse_duplicate(dataset, sha256)
        probe = upload_probe(path, filename)
        image_id = uuid.uuid4()
        key = f"{image_prefix(dataset, image_id)}/original{Path(filename).suffix.lower()}"
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


def refuse_duplicate(dataset: Dataset, sha256: str) -> None:
    existing = dataset.images.filter(sha256=sha256).first()
    if existing is not None:
        raise Conflict(
            f"This file is already in the dataset as image {existing.pk} "
            f"('{existing.original_filename}').",
            code="duplicate",
        )
