"""Direct uploads from the API's side: start one, its state (to resume), cancel it, expire
the forgotten ones, and commit: the parts are checked here, the bytes by a worker."""

import re
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Conflict, Invalid, NotFound
from common.jobs import enqueue_on_commit

from ..models import Dataset, DirectUpload, DirectUploadStatus
from ..services import refuse_duplicate
from .store import (
    MAX_URL_SECONDS,
    abort_quietly,
    finish,
    part_plan,
    part_size,
    part_urls,
    received_parts,
    s3,
)

COMMIT_TASK = "workers.tasks.ingest.commit_direct_upload"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_OPEN = (DirectUploadStatus.UPLOADING, DirectUploadStatus.COMMITTING)


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


# --- writes --------------------------------------------------------------------------------
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
    refuse_duplicate(dataset, sha256)
    client, bucket = s3()
    direct_uploads_expire(dataset=dataset)
    open_now = dataset.direct_uploads.filter(status__in=_OPEN).count()
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
        abort_quietly(client, bucket, key, s3_upload_id)
        raise


def direct_upload_abort(*, user, upload: DirectUpload) -> None:
    """Cancel an open upload: the parts are deleted (a committed one is an image: 409)."""
    require_role(user=user, lab_id=upload.dataset.lab_id, role=Role.CURATOR)
    if upload.status in (DirectUploadStatus.COMMITTED, DirectUploadStatus.COMMITTING):
        raise Conflict(f"The upload is {upload.status}; delete the image instead.", code="state")
    finish(upload, DirectUploadStatus.ABORTED, "cancelled", "cancelled")


def direct_uploads_expire(*, dataset: Dataset | None = None) -> int:
    """Abort every upload past its expiry (of one dataset); the number aborted."""
    due = DirectUpload.objects.filter(status__in=_OPEN, expires__lt=timezone.now())
    if dataset is not None:
        due = due.filter(dataset=dataset)
    n = 0
    for upload in due[:1000]:
        n += _expire_if_due(upload)
    return n


def _expire_if_due(upload: DirectUpload) -> bool:
    # a commit runs at most a few hours past expiry; one stuck longer died with its process
    grace = timedelta(hours=6) if upload.status == DirectUploadStatus.COMMITTING else timedelta()
    if upload.status in _OPEN and upload.expires + grace < timezone.now():
        finish(upload, DirectUploadStatus.ABORTED, "expired before it was committed", "expired")
        return True
    return False


def direct_upload_commit(*, user, upload: DirectUpload) -> DirectUpload:
    """Queue the commit of an upload whose parts have all arrived (a worker checks its size
    and sha256 and makes the image; GET the upload for its progress and outcome). Missing
    parts: 409 (PUT them and commit again); parts of the wrong size: 400, nothing kept. An
    upload already committing is answered as it is (a repeated commit is harmless)."""
    require_role(user=user, lab_id=upload.dataset.lab_id, role=Role.CURATOR)
    _expire_if_due(upload)
    if upload.status == DirectUploadStatus.COMMITTING:
        return upload
    if upload.status != DirectUploadStatus.UPLOADING:
        raise _state_conflict(upload)
    parts = received_parts(upload)
    missing = [n for n in range(1, upload.part_count + 1) if n not in parts]
    if missing:
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
        n, size = min(wrong.items())
        expected = part_size(upload, n) if n <= upload.part_count else 0
        err = Invalid(
            f"Part {n} has {size} bytes, not {expected}: the file differs from the "
            f"{upload.size_bytes} bytes announced. Start a new upload.",
            code="size_mismatch",
        )
        finish(upload, DirectUploadStatus.FAILED, err.message, err.code)
        raise err
    with transaction.atomic():
        claimed = DirectUpload.objects.filter(
            pk=upload.pk, status=DirectUploadStatus.UPLOADING
        ).update(status=DirectUploadStatus.COMMITTING, checked_bytes=0, error="", error_code="")
        if claimed:
            enqueue_on_commit(COMMIT_TASK, upload.pk)
    upload.refresh_from_db()
    if not claimed and upload.status != DirectUploadStatus.COMMITTING:
        raise _state_conflict(upload)
    return upload


def _state_conflict(upload: DirectUpload) -> Conflict:
    return Conflict(
        f"The upload is {upload.status}"
        + (f" ({upload.error})" if upload.error else "")
        + "; only an open upload can be committed.",
        code="state",
    )
