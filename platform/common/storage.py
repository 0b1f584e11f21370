"""Object storage helpers over Django's default storage (local disk or S3/MinIO)."""

import mimetypes
from typing import IO

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect


def is_s3() -> bool:
    return settings.CHIPLAB_STORAGE == "s3"


def put(key: str, fileobj: IO[bytes]) -> str:
    """Store ``fileobj`` under exactly ``key`` (streamed; overwrites) and return the key."""
    if default_storage.exists(key):
        default_storage.delete(key)
    saved = default_storage.save(key, fileobj)
    if saved != key:  # storages never rename with file_overwrite; guard the invariant
        default_storage.delete(saved)
        raise RuntimeError(f"storage renamed {key!r} to {saved!r}")
    return key


def put_bytes(key: str, data: bytes) -> str:
    from django.core.files.base import ContentFile

    return put(key, ContentFile(data))


def open_(key: str) -> IO[bytes]:
    return default_storage.open(key, "rb")


def delete(key: str) -> None:
    if key and default_storage.exists(key):
        default_storage.delete(key)


def exists(key: str) -> bool:
    return default_storage.exists(key)


def download_response(key: str, *, filename: str, content_type: str | None = None):
    """A short-lived presigned redirect (S3) or a streamed response (local disk)."""
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if is_s3():
        url = default_storage.url(
            key,
            parameters={
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": content_type,
            },
        )
        return HttpResponseRedirect(url)
    return FileResponse(
        default_storage.open(key, "rb"),
        as_attachment=True,
        filename=filename,
        content_type=content_type,
    )
