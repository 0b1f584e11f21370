"""The commit of a direct upload, run by a worker, and an object made an image (shared with
import in place): the bytes streamed once, hashed as they come, checked like an upload's.

The commit is idempotent: the image's id is the upload's, and the image and the upload's
``committed`` are written in one transaction, so a delivery lost with its worker is redone
(or found done) by the next one. A refusal records its message and code on the upload."""

import contextlib
import hashlib
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction
from minio.commonconfig import CopySource
from minio.datatypes import Part
from minio.error import S3Error

from common import storage
from common.errors import ChiplabError, Invalid
from common.runner import job_run

from ..models import Dataset, DirectUpload, DirectUploadStatus, Image
from ..services import image_prefix, image_register, refuse_duplicate, upload_probe
from .store import abort_quietly, finish, received_parts, s3

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
#: bytes checked are recorded every 1% of the file, or this often on small ones
_PROGRESS_BYTES = 8 * _CHUNK


def direct_upload_commit_run(*, upload_id) -> None:
    """Complete, check and ingest a committing upload (what the worker runs, with
    ``common.runner.job_run``: only a committing upload runs; it stays committing until it is
    committed or failed). A refusal records its message and code."""
    job_run(
        DirectUpload,
        upload_id,
        _commit,
        subject=f"commit of direct upload {upload_id}",
        done=_NOT_COMMITTING,
        running=None,
        fields=lambda row: {},
        prepare=lambda row: DirectUpload.objects.select_related("dataset", "created_by").get(
            pk=row.pk
        ),
        refused=(ChiplabError,),
        fail=_failed,
    )


#: committed, failed or aborted meanwhile (or still uploading): nothing to do
_NOT_COMMITTING = tuple(
    status for status in DirectUploadStatus.values if status != DirectUploadStatus.COMMITTING
)


def _commit(upload: DirectUpload) -> None:
    done = Image.objects.filter(pk=upload.pk).first()
    if done is not None:  # a delivery lost after its transaction committed
        _committed(upload, done)
        return
    client, bucket = s3()
    _complete(upload, client, bucket)
    _image_from_object(
        user=upload.created_by,
        dataset=upload.dataset,
        bucket=bucket,
        key=upload.staging_key,
        filename=upload.filename,
        size=upload.size_bytes,
        sha256=upload.sha256,
        move=False,
        image_id=upload.pk,
        progress=_recorder(upload),
        on_image=lambda image: _committed(upload, image),
    )
    with contextlib.suppress(Exception):  # the image has its own copy
        client.remove_object(bucket, upload.staging_key)


def _failed(upload: DirectUpload, reason: str, code: str) -> None:
    if code:  # the bytes are refused for good
        finish(upload, DirectUploadStatus.FAILED, reason, code)
    else:
        direct_upload_mark_failed(upload_id=upload.pk, reason=reason)


def direct_upload_mark_failed(*, upload_id, reason: str) -> None:
    """Record a commit that failed unexpectedly; its staged bytes are deleted."""
    upload = DirectUpload.objects.filter(pk=upload_id).first()
    if upload is not None and upload.status == DirectUploadStatus.COMMITTING:
        finish(upload, DirectUploadStatus.FAILED, f"commit failed: {reason}", "commit_failed")


def direct_upload_sweep(upload_id) -> None:
    """After the commit failed for lost deliveries (``common.jobs.delivery_begin``): its
    parts, its staged object and any copy a delivery made under the image's keys (the image's
    id is the upload's) are deleted, unless the image was made."""
    upload = DirectUpload.objects.select_related("dataset").filter(pk=upload_id).first()
    if upload is None or upload.status != DirectUploadStatus.FAILED:
        return
    if Image.objects.filter(pk=upload.pk).exists():
        return
    client, bucket = s3()
    abort_quietly(client, bucket, upload.staging_key, upload.s3_upload_id)
    with contextlib.suppress(S3Error):
        client.remove_object(bucket, upload.staging_key)
    storage.delete_under(image_prefix(upload.dataset, upload.pk))


def _complete(upload: DirectUpload, client, bucket: str) -> None:
    """Join the parts into the staged object (already joined by a lost delivery: kept)."""
    try:
        parts = received_parts(upload)
    except ChiplabError:
        if storage.exists(upload.staging_key):
            return
        raise
    client._complete_multipart_upload(
        bucket,
        upload.staging_key,
        upload.s3_upload_id,
        [Part(n, parts[n][1]) for n in range(1, upload.part_count + 1) if n in parts],
    )


def _committed(upload: DirectUpload, image: Image) -> None:
    DirectUpload.objects.filter(pk=upload.pk).update(
        status=DirectUploadStatus.COMMITTED, image=image, error="", error_code=""
    )
    upload.status, upload.image = DirectUploadStatus.COMMITTED, image


def _recorder(upload: DirectUpload) -> Callable[[int], None]:
    step = max(upload.size_bytes // 100, _PROGRESS_BYTES)
    last = [0]

    def record(done: int) -> None:
        if done - last[0] >= step or done >= upload.size_bytes:
            last[0] = done
            DirectUpload.objects.filter(pk=upload.pk).update(checked_bytes=done)

    return record


# --- from an object to an image --------------------------------------------------------------
@contextlib.contextmanager
def _downloaded(
    client, bucket: str, key: str, suffix: str, progress: Callable[[int], None] | None = None
) -> Iterator[tuple[Path, int, str]]:
    """The object in a temporary file: (path, bytes, sha256), hashed as it streams."""
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(
        suffix=suffix, prefix="chiplab-direct-", dir=settings.FILE_UPLOAD_TEMP_DIR
    ) as tmp:
        response = client.get_object(bucket, key)
        try:
            for chunk in response.stream(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                tmp.write(chunk)
                if progress is not None:
                    progress(size)
        finally:
            response.close()
            response.release_conn()
        tmp.flush()
        yield Path(tmp.name), size, digest.hexdigest()


def _checked(path_size_sha: tuple[Path, int, str], *, size, sha256, dataset, filename):
    """An upload's checks of the downloaded object; its probe."""
    path, got_size, got_sha = path_size_sha
    if not got_size:
        raise Invalid("The file is empty.", code="empty")
    if size is not None and got_size != size:
        raise Invalid(
            f"The object has {got_size} bytes, not the {size} announced.", code="size_mismatch"
        )
    if sha256 is not None and got_sha != sha256:
        raise Invalid(
            f"The object's sha256 is {got_sha}, not the {sha256} announced: the file "
            "changed or arrived damaged. Nothing was kept; upload it again.",
            code="sha256_mismatch",
        )
    refuse_duplicate(dataset, got_sha)
    return upload_probe(path, filename)


def _image_from_object(
    *,
    user,
    dataset: Dataset,
    bucket: str,
    key: str,
    filename: str,
    size: int | None,
    sha256: str | None,
    move: bool,
    image_id=None,
    progress: Callable[[int], None] | None = None,
    on_image: Callable[[Image], None] | None = None,
) -> Image:
    """Check an object like an upload and make it an image (id ``image_id``, else a new
    one): copied server-side to the image's own key (``move``: the source deleted, also when
    refused), then ingested. ``on_image`` runs in the transaction that makes the image."""
    client = storage.s3_client()
    own_bucket = storage.s3_bucket()
    suffix = Path(filename).suffix.lower()
    stored_key = None
    try:
        with _downloaded(client, bucket, key, suffix, progress) as downloaded:
            probe = _checked(
                downloaded, size=size, sha256=sha256, dataset=dataset, filename=filename
            )
            got_size, got_sha = downloaded[1], downloaded[2]
        image_id = image_id or uuid.uuid4()
        stored_key = f"{image_prefix(dataset, image_id)}/original{suffix}"
        client.copy_object(own_bucket, stored_key, CopySource(bucket, key))
        with transaction.atomic():
            image = image_register(
                user=user,
                dataset=dataset,
                image_id=image_id,
                filename=filename,
                key=stored_key,
                size=got_size,
                sha256=got_sha,
                probe=probe,
            )
            if on_image is not None:
                on_image(image)
    except S3Error as err:
        if stored_key:
            storage.delete(stored_key)
        if err.code in ("NoSuchKey", "NoSuchBucket"):
            raise Invalid(f"The object {key} is gone ({err.code}).", code="gone") from err
        raise
    except BaseException:
        if stored_key:
            storage.delete(stored_key)
        raise
    finally:
        if move:
            with contextlib.suppress(Exception):
                client.remove_object(bucket, key)
    return image
