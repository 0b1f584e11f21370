"""The object store's side of direct uploads: the minio client, S3's multipart bounds, the
parts received, presigned part URLs, and ending an upload that made no image."""

import contextlib
import logging
import math
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from minio.error import S3Error

from common import storage
from common.errors import ChiplabError, Conflict, NotFound, TooLarge

from ..models import DirectUpload, DirectUploadStatus

log = logging.getLogger(__name__)

#: S3's bounds on multipart uploads: parts of 5 MiB to 5 GiB (the last may be smaller),
#: at most 10,000 of them
MIN_PART_BYTES = 5 * 1024**2
MAX_PART_BYTES = 5 * 1024**3
MAX_PARTS = 10_000
#: presigned URLs live at most this long (S3's limit for V4 signatures)
MAX_URL_SECONDS = 7 * 86400


def s3():
    """The minio client and bucket, or a clear 409 on a server without an S3 store."""
    try:
        return storage.s3_client(), storage.s3_bucket()
    except storage.NeedsS3 as err:
        raise Conflict(
            "Direct upload needs an S3 store; this server keeps files on its disk "
            "(embedded mode). Upload through POST /api/datasets/<id>/images/ instead.",
            code="needs_s3",
        ) from err


def s3_error(err: Exception, doing: str) -> ChiplabError:
    """An object-store error the user can act on (a missing object or upload), else re-raised."""
    if isinstance(err, S3Error) and err.code in ("NoSuchUpload", "NoSuchKey", "NoSuchBucket"):
        return NotFound(f"{doing}: the object store says {err.code}.", code=err.code.lower())
    raise err


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


def received_parts(upload: DirectUpload) -> dict[int, tuple[int, str]]:
    """The parts the object store holds: number -> (size, etag)."""
    client, bucket = s3()
    parts: dict[int, tuple[int, str]] = {}
    marker = None
    for _ in range(MAX_PARTS // 1000 + 1):
        try:
            page = client._list_parts(
                bucket, upload.staging_key, upload.s3_upload_id, part_number_marker=marker
            )
        except Exception as err:
            raise s3_error(err, "Listing the parts") from err
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


def finish(upload: DirectUpload, status: str, error: str, code: str = "") -> None:
    """End an upload that made no image, with why: its parts and staged object deleted."""
    client, bucket = s3()
    abort_quietly(client, bucket, upload.staging_key, upload.s3_upload_id)
    with contextlib.suppress(Exception):
        client.remove_object(bucket, upload.staging_key)
    fields = {"status": status, "error": error[:2000], "error_code": (code or "")[:64]}
    DirectUpload.objects.filter(pk=upload.pk).update(**fields)
    upload.status, upload.error, upload.error_code = status, fields["error"], fields["error_code"]


def abort_quietly(client, bucket: str, key: str, s3_upload_id: str) -> None:
    try:
        client._abort_multipart_upload(bucket, key, s3_upload_id)
    except Exception as err:  # already completed or aborted: nothing left to delete
        log.info("abort of multipart upload %s of %s: %s", s3_upload_id, key, err)
