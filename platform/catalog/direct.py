"""Direct and bulk ingest through the object store (S3/MinIO, with the ``minio`` SDK).

Direct upload: ``direct_upload_create`` starts a multipart upload of a staged object and
presigns a URL for each part; the client PUTs the parts straight to the object store;
``direct_upload_commit`` completes it, checks its size and sha256 (streamed), and makes an
image of it exactly like a normal upload (same checks, same ingest). A refused or failed
commit deletes the staged object: nothing half-stored. Uploads expire.

Import in place: ``dataset_import_objects`` makes an image of every object under a prefix of
an allowed bucket, each checked like an upload; per-object errors are reported, not raised.
"""

import contextlib
import hashlib
import logging
import math
import re
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from common import storage
from common.errors import ChiplabError, Conflict, Invalid, NotFound, TooLarge

from .models import Dataset, DirectUpload, DirectUploadStatus, Image
from .services import _image_prefix, _probe, _refuse_duplicate, image_register

log = logging.getLogger(__name__)

#: S3's bounds on multipart uploads: parts of 5 MiB to 5 GiB (the last may be smaller),
#: at most 10,000 of them
MIN_PART_BYTES = 5 * 1024**2
MAX_PART_BYTES = 5 * 1024**3
MAX_PARTS = 10_000
#: presigned URLs live at most this long (S3's limit for V4 signatures)
MAX_URL_SECONDS = 7 * 86400
_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _s3():
    """The minio client and bucket, or a clear 409 on a server without an S3 store."""
    try:
        return storage.s3_client(), storage.s3_bucket()
    except storage.NeedsS3 as err:
        raise Conflict(
            "Direct upload needs an S3 store; this server keeps files on its disk "
            "(embedded mode). Upload through POST /api/datasets/<id>/images/ instead.",
            code="needs_s3",
        ) from err


def _s3_error(err: Exception, doing: str) -> ChiplabError:
    """An object-store error the user can act on (a missing object or upload), else re-raised."""
    from minio.error import S3Error

    if isinstance(err, S3Error) and err.code in ("NoSuchUpload", "NoSuchKey", "NoSuchBucket"):
        return NotFound(f"{doing}: the object store says {err.code}.", code=err.code.lower())
    raise err


# --- reads ---------------------------------------------------------------------------------
def direct_uploads_of(*, user, dataset: Dataset):
    """The dataset's direct uploads (curators of its lab), newest first."""
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    return dataset.direct_uploads.all()


def direct_upload_get(*, user, dataset: Dataset, upload_id) -> DirectUpload:
    """One upload of the dataset (curators of its lab; others: 404 or 403 as for the lab)."""
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    upload = dataset.direct_uploads.select_related("dataset").filter(pk=upload_id).first()
    if upload is None:
        raise NotFound("Upload not found.")
    return upload


# --- direct upload -------------------------------------------------------------------------
def part_plan(size: int) -> tuple[int, int]:
    """(part size, part count) for a file of ``size`` bytes, within the settings and S3."""
    limit = settings.CHIPLAB_DIRECT_UPLOAD_MAX_BYTES
    if size > limit:
        raise TooLarge(
            f"The file is {size} bytes; direct uploads to this server are at most {limit}.",
            code="file_too_large",
        )
    max_parts = min(settings.CHIPLAB_DIRECT_UPLOAD_MAX_PARTS, MAX_PARTS)
    part = max(settings.CHIPLAB_DIRECT_UPLOAD_PART_BYTES, MIN_PART_BYTES, -(-size // max_parts))
    if part > MAX_PART_BYTES:
        raise TooLarge(
            f"The file is {size} bytes: more than {max_parts} parts of at most "
            f"{MAX_PART_BYTES} bytes.",
            code="file_too_large",
        )
    return part, max(1, math.ceil(size / part))


def part_size(upload: DirectUpload, number: int) -> int:
    """Bytes of part ``number`` (1-based): the part size, the last one what is left."""
    if number < upload.part_count:
        return upload.part_size
    return upload.size_bytes - upload.part_size * (upload.part_count - 1)


def _clean_filename(filename: str) -> str:
    name = Path(str(filename).replace("\\", "/")).name.strip()[:255]
    if not name or name in (".", ".."):
        raise Invalid("The file needs a name.", fields={"filename": ["required"]})
    return name


def direct_upload_create(
    *, user, dataset: Dataset, filename: str, size: int, sha256: str
) -> DirectUpload:
    """Start a presigned multipart upload of one file (curators; S3 stores only)."""
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    filename = _clean_filename(filename)
    sha256 = str(sha256).lower()
    if not _SHA256.match(sha256):
        raise Invalid("sha256 must be 64 hex digits.", fields={"sha256": ["invalid"]})
    if size < 1:
        raise Invalid("The file is empty.", code="empty", fields={"size": ["at least 1"]})
    part, count = part_plan(size)
    _refuse_duplicate(dataset, sha256)
    client, bucket = _s3()
    direct_uploads_expire(dataset=dataset)
    open_now = dataset.direct_uploads.filter(
        status__in=[DirectUploadStatus.UPLOADING, DirectUploadStatus.COMMITTING]
    ).count()
    if open_now >= settings.CHIPLAB_DIRECT_UPLOADS_OPEN_PER_DATASET:
        raise Conflict(
            f"The dataset has {open_now} direct uploads open, the most this server allows; "
            "commit or cancel some first.",
            code="too_many_uploads",
        )
    upload_id = uuid.uuid4()
    key = f"labs/{dataset.lab_id}/datasets/{dataset.pk}/uploads/{upload_id}/staged"
    s3_upload_id = client._create_multipart_upload(bucket, key, {})
    expiry = min(settings.CHIPLAB_DIRECT_UPLOAD_EXPIRY_SECONDS, MAX_URL_SECONDS)
    try:
        return DirectUpload.objects.create(
            id=upload_id,
            dataset=dataset,
            filename=filename,
            size_bytes=size,
            sha256=sha256,
            staging_key=key,
            s3_upload_id=s3_upload_id,
            part_size=part,
            part_count=count,
            created_by=user,
            expires=timezone.now() + timedelta(seconds=expiry),
        )
    except BaseException:
        _abort_quietly(client, bucket, key, s3_upload_id)
        raise


def received_parts(upload: DirectUpload) -> dict[int, tuple[int, str]]:
    """The parts the object store holds: number -> (size, etag)."""
    client, bucket = _s3()
    parts: dict[int, tuple[int, str]] = {}
    marker = None
    for _ in range(MAX_PARTS // 1000 + 1):
        try:
            page = client._list_parts(
                bucket, upload.staging_key, upload.s3_upload_id, part_number_marker=marker
            )
        except Exception as err:
            raise _s3_error(err, "Listing the parts") from err
        parts.update({p.part_number: (p.size or 0, p.etag) for p in page.parts})
        if not page.is_truncated or not page.next_part_number_marker:
            break
        marker = page.next_part_number_marker
    return parts


def part_urls(upload: DirectUpload, numbers: list[int]) -> list[dict]:
    """Presigned PUT URLs of parts ``numbers``, valid until the upload expires."""
    if upload.status != DirectUploadStatus.UPLOADING or not numbers:
        return []
    seconds = int((upload.expires - timezone.now()).total_seconds())
    if seconds < 1:
        return []
    signer = storage.s3_client(public=True)
    bucket = storage.s3_bucket()
    expires = timedelta(seconds=min(seconds, MAX_URL_SECONDS))
    return [
        {
            "number": n,
            "size": part_size(upload, n),
            "url": signer.get_presigned_url(
                "PUT",
                bucket,
                upload.staging_key,
                expires=expires,
                extra_query_params={"partNumber": str(n), "uploadId": upload.s3_upload_id},
            ),
        }
        for n in numbers
    ]


def direct_upload_state(*, user, upload: DirectUpload) -> dict:
    """The upload with the parts received and fresh URLs for the missing ones (to resume)."""
    require_role(user=user, lab_id=upload.dataset.lab_id, role=Role.CURATOR)
    _expire_if_due(upload)
    received: dict[int, tuple[int, str]] = {}
    if upload.status == DirectUploadStatus.UPLOADING:
        received = {
            n: v
            for n, v in received_parts(upload).items()
            if 1 <= n <= upload.part_count and v[0] == part_size(upload, n)
        }
    missing = [n for n in range(1, upload.part_count + 1) if n not in received]
    return {"upload": upload, "received": sorted(received), "parts": part_urls(upload, missing)}


def direct_upload_abort(*, user, upload: DirectUpload) -> None:
    """Cancel an open upload: the parts are deleted (a committed one is an image: 409)."""
    require_role(user=user, lab_id=upload.dataset.lab_id, role=Role.CURATOR)
    if upload.status in (DirectUploadStatus.COMMITTED, DirectUploadStatus.COMMITTING):
        raise Conflict(f"The upload is {upload.status}; delete the image instead.", code="state")
    _finish(upload, DirectUploadStatus.ABORTED, "cancelled")


def direct_uploads_expire(*, dataset: Dataset | None = None) -> int:
    """Abort every upload past its expiry (of one dataset); the number aborted."""
    due = DirectUpload.objects.filter(
        status__in=[DirectUploadStatus.UPLOADING, DirectUploadStatus.COMMITTING],
        expires__lt=timezone.now(),
    )
    if dataset is not None:
        due = due.filter(dataset=dataset)
    n = 0
    for upload in due[:1000]:
        n += _expire_if_due(upload)
    return n


def _expire_if_due(upload: DirectUpload) -> bool:
    # a commit runs at most a few hours past expiry; one stuck longer died with its process
    grace = timedelta(hours=6) if upload.status == DirectUploadStatus.COMMITTING else timedelta()
    if upload.status in (DirectUploadStatus.UPLOADING, DirectUploadStatus.COMMITTING) and (
        upload.expires + grace < timezone.now()
    ):
        _finish(upload, DirectUploadStatus.ABORTED, "expired before it was committed")
        return True
    return False


def _finish(upload: DirectUpload, status: str, error: str) -> None:
    """End an upload that made no image: its parts and staged object deleted."""
    client, bucket = _s3()
    _abort_quietly(client, bucket, upload.staging_key, upload.s3_upload_id)
    with contextlib.suppress(Exception):
        client.remove_object(bucket, upload.staging_key)
    DirectUpload.objects.filter(pk=upload.pk).update(status=status, error=error[:2000])
    upload.status, upload.error = status, error[:2000]


def _abort_quietly(client, bucket: str, key: str, s3_upload_id: str) -> None:
    try:
        client._abort_multipart_upload(bucket, key, s3_upload_id)
    except Exception as err:  # already completed or aborted: nothing left to delete
        log.info("abort of multipart upload %s of %s: %s", s3_upload_id, key, err)


def direct_upload_commit(*, user, upload: DirectUpload) -> Image:
    """Complete the upload, check its size and sha256, and make an image of it (then the
    normal ingest). Missing parts: 409 (PUT them and commit again). Bytes that differ from
    what was announced, or a file an upload would refuse: the error, and nothing is kept."""
    require_role(user=user, lab_id=upload.dataset.lab_id, role=Role.CURATOR)
    _expire_if_due(upload)
    claimed = DirectUpload.objects.filter(pk=upload.pk, status=DirectUploadStatus.UPLOADING).update(
        status=DirectUploadStatus.COMMITTING
    )
    if not claimed:
        upload.refresh_from_db()
        raise Conflict(
            f"The upload is {upload.status}"
            + (f" ({upload.error})" if upload.error else "")
            + "; only an open upload can be committed.",
            code="state",
        )
    upload.status = DirectUploadStatus.COMMITTING
    client, bucket = _s3()
    try:
        parts = received_parts(upload)
        missing = [n for n in range(1, upload.part_count + 1) if n not in parts]
        if missing:
            DirectUpload.objects.filter(pk=upload.pk).update(status=DirectUploadStatus.UPLOADING)
            upload.status = DirectUploadStatus.UPLOADING
            shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
            raise Conflict(
                f"{len(missing)} of {upload.part_count} parts have not arrived: {shown}. "
                "PUT them (GET the upload for their URLs) and commit again.",
                code="missing_parts",
            )
        wrong = {
            n: size
            for n, (size, _) in parts.items()
            if n > upload.part_count or size != part_size(upload, n)
        }
        if wrong:
            n, size = next(iter(sorted(wrong.items())))
            expected = part_size(upload, n) if n <= upload.part_count else 0
            raise Invalid(
                f"Part {n} has {size} bytes, not {expected}: the file differs from the "
                f"{upload.size_bytes} bytes announced. Start a new upload.",
                code="size_mismatch",
            )
        from minio.datatypes import Part

        client._complete_multipart_upload(
            bucket,
            upload.staging_key,
            upload.s3_upload_id,
            [Part(n, parts[n][1]) for n in range(1, upload.part_count + 1)],
        )
        image = _image_from_object(
            user=user,
            dataset=upload.dataset,
            bucket=bucket,
            key=upload.staging_key,
            filename=upload.filename,
            size=upload.size_bytes,
            sha256=upload.sha256,
            move=True,
        )
    except ChiplabError as err:
        if upload.status == DirectUploadStatus.COMMITTING:  # the bytes are refused for good
            _finish(upload, DirectUploadStatus.FAILED, err.message)
        raise
    except BaseException as err:
        _finish(upload, DirectUploadStatus.FAILED, f"commit failed: {err}")
        raise
    DirectUpload.objects.filter(pk=upload.pk).update(
        status=DirectUploadStatus.COMMITTED, image=image, error=""
    )
    upload.status, upload.image = DirectUploadStatus.COMMITTED, image
    return image


# --- from an object to an image --------------------------------------------------------------
@contextlib.contextmanager
def _downloaded(client, bucket: str, key: str, suffix: str) -> Iterator[tuple[Path, int, str]]:
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
        finally:
            response.close()
            response.release_conn()
        tmp.flush()
        yield Path(tmp.name), size, digest.hexdigest()


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
) -> Image:
    """Check an object like an upload and make it an image: copied server-side to the
    image's own key (``move``: the source deleted, also when refused), then ingested."""
    client = storage.s3_client()
    own_bucket = storage.s3_bucket()
    suffix = Path(filename).suffix.lower()
    stored_key = None
    try:
        with _downloaded(client, bucket, key, suffix) as (path, got_size, got_sha):
            if not got_size:
                raise Invalid("The file is empty.", code="empty")
            if size is not None and got_size != size:
                raise Invalid(
                    f"The object has {got_size} bytes, not the {size} announced.",
                    code="size_mismatch",
                )
            if sha256 is not None and got_sha != sha256:
                raise Invalid(
                    f"The object's sha256 is {got_sha}, not the {sha256} announced: the file "
                    "changed or arrived damaged. Nothing was kept; upload it again.",
                    code="sha256_mismatch",
                )
            _refuse_duplicate(dataset, got_sha)
            probe = _probe(path, filename)
        from minio.commonconfig import CopySource

        image_id = uuid.uuid4()
        stored_key = f"{_image_prefix(dataset, image_id)}/original{suffix}"
        client.copy_object(own_bucket, stored_key, CopySource(bucket, key))
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
    except BaseException:
        if stored_key:
            storage.delete(stored_key)
        raise
    finally:
        if move:
            with contextlib.suppress(Exception):
                client.remove_object(bucket, key)
    return image


# --- import in place ---------------------------------------------------------------------------
def _import_source(dataset: Dataset, bucket: str, prefix: str) -> None:
    own = storage.s3_bucket()
    allowed = [b for b in settings.CHIPLAB_IMPORT_BUCKETS if b]
    lab_prefix = f"imports/{dataset.lab_id}/"
    if bucket == own:
        if not prefix.startswith(lab_prefix) or ".." in prefix.split("/"):
            raise Invalid(
                f"In the platform's bucket, imports read only under '{lab_prefix}' (this lab's "
                "drop folder).",
                code="import_not_allowed",
                fields={"prefix": [f"must start with {lab_prefix}"]},
            )
    elif bucket not in allowed:
        raise Invalid(
            f"Bucket '{bucket}' is not open to imports on this server (CHIPLAB_IMPORT_BUCKETS).",
            code="import_not_allowed",
            fields={"bucket": ["not allowed"]},
        )


def dataset_import_objects(*, user, dataset: Dataset, bucket: str, prefix: str) -> dict:
    """Make an image of every object under ``bucket``/``prefix`` (curators), each checked like
    an upload and copied to the image's own key (the source is left as it is).

    More objects than ``CHIPLAB_IMPORT_MAX_OBJECTS``: 413 before anything is imported.
    Returns ``{"images": [...], "errors": [{"key", "code", "message"}]}``."""
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    client, _ = _s3()
    bucket = (bucket or "").strip() or storage.s3_bucket()
    prefix = (prefix or "").lstrip("/")
    _import_source(dataset, bucket, prefix)
    limit = settings.CHIPLAB_IMPORT_MAX_OBJECTS
    objects = []
    try:
        for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
            if obj.is_dir or obj.object_name.endswith("/"):
                continue
            objects.append(obj)
            if len(objects) > limit:
                raise TooLarge(
                    f"More than {limit} objects under '{prefix}'; one import takes at most "
                    f"{limit}. Import a narrower prefix.",
                    code="too_many_objects",
                )
    except ChiplabError:
        raise
    except Exception as err:
        raise _s3_error(err, f"Listing {bucket}/{prefix}") from err
    if not objects:
        raise Invalid(f"No objects under '{prefix}' in bucket '{bucket}'.", code="empty_prefix")
    images: list[Image] = []
    errors: list[dict] = []
    max_bytes = settings.CHIPLAB_DIRECT_UPLOAD_MAX_BYTES
    for obj in objects:
        name = obj.object_name
        try:
            if obj.size is not None and obj.size > max_bytes:
                raise TooLarge(
                    f"The object is {obj.size} bytes; this server takes at most {max_bytes}.",
                    code="file_too_large",
                )
            images.append(
                _image_from_object(
                    user=user,
                    dataset=dataset,
                    bucket=bucket,
                    key=name,
                    filename=_clean_filename(name),
                    size=None,
                    sha256=None,
                    move=False,
                )
            )
        except ChiplabError as err:
            errors.append({"key": name, "code": err.code, "message": err.message})
    return {"images": images, "errors": errors}
