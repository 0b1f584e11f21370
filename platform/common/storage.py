"""Object storage helpers over Django's default storage (local disk or S3/MinIO)."""

import functools
import mimetypes
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect


def is_s3() -> bool:
    return settings.CHIPLAB_STORAGE == "s3"


def put(key: str, fileobj: IO[bytes]) -> str:
    """Store ``fileobj`` under exactly ``key`` (streamed; overwrites) and return the key."""
    saved = default_storage.save(key, fileobj)
    if saved != key:  # overwriting storages never rename (S3 file_overwrite, local allow_overwrite)
        default_storage.delete(saved)
        raise RuntimeError(f"storage renamed {key!r} to {saved!r}")
    return key


def put_bytes(key: str, data: bytes) -> str:
    return put(key, ContentFile(data))


def open_(key: str) -> IO[bytes]:
    return default_storage.open(key, "rb")


def delete(key: str) -> None:
    if key and default_storage.exists(key):
        default_storage.delete(key)


def exists(key: str) -> bool:
    return default_storage.exists(key)


def listdir(prefix: str) -> tuple[list[str], list[str]]:
    """(folders, files) directly under ``prefix``; FileNotFoundError when there is none."""
    return default_storage.listdir(prefix)


def delete_under(prefix: str) -> int:
    """Delete every object whose key starts with the folder ``prefix`` (no trailing slash);
    how many were deleted."""
    prefix = prefix.rstrip("/")
    try:
        folders, files = default_storage.listdir(prefix)
    except FileNotFoundError:  # local disk: nothing was ever written there
        return 0
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    return len(files) + sum(delete_under(f"{prefix}/{folder}") for folder in folders)


def download_response(key: str, *, filename: str, content_type: str | None = None):
    """A short-lived presigned redirect (S3) or a streamed response (local disk)."""
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if is_s3():
        url = _signer().url(
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


def _signer():
    """The storage that signs download URLs: the default one, or the same bucket addressed
    through ``S3_PUBLIC_ENDPOINT_URL`` (a V4 signature covers the host, so the URL must be
    signed for the host the browser will ask)."""
    public = settings.S3_PUBLIC_ENDPOINT_URL
    if not public:
        return default_storage
    options = settings.STORAGES["default"]["OPTIONS"]
    return _public_storage(tuple(sorted({**options, "endpoint_url": public}.items())))


@functools.lru_cache(maxsize=4)
def _public_storage(options: tuple):
    # boto3 (django-storages): only in S3 mode
    from storages.backends.s3 import S3Storage

    return S3Storage(**dict(options))


# --- the object store's own client (minio SDK): presigned multipart uploads, imports --------
class NeedsS3(Exception):
    """The operation needs an S3 store and this server keeps files on its disk."""


def s3_bucket() -> str:
    if not is_s3():
        raise NeedsS3("this server stores files on its disk")
    return settings.STORAGES["default"]["OPTIONS"]["bucket_name"]


def s3_client(*, public: bool = False):
    """A ``minio.Minio`` client for the default storage's S3 server (the same endpoint,
    credentials and region as django-storages). ``public``: addressed through
    ``S3_PUBLIC_ENDPOINT_URL``, for URLs that clients outside will use (a V4 signature
    covers the host). Signing needs no request (the region is given)."""
    if not is_s3():
        raise NeedsS3("this server stores files on its disk")
    options = settings.STORAGES["default"]["OPTIONS"]
    endpoint = (public and settings.S3_PUBLIC_ENDPOINT_URL) or options.get("endpoint_url")
    return _minio(
        endpoint or "https://s3.amazonaws.com",
        options.get("access_key") or "",
        options.get("secret_key") or "",
        options.get("region_name") or "us-east-1",
    )


@functools.lru_cache(maxsize=8)
def _minio(endpoint_url: str, access_key: str, secret_key: str, region: str):
    # minio: only in S3 mode, for presigned URLs
    from minio import Minio

    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"S3 endpoint must be an http(s) URL, not {endpoint_url!r}")
    return Minio(
        parts.netloc,
        access_key=access_key or None,
        secret_key=secret_key or None,
        secure=parts.scheme == "https",
        region=region,
    )
