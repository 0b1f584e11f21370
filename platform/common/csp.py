"""Content-Security-Policy of the browser app: scripts, styles and data from this site only
(plus the object store that presigned downloads and previews redirect to)."""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings


def _storage_origin() -> str:
    if settings.CHIPLAB_STORAGE != "s3":
        return ""
    url = settings.S3_PUBLIC_ENDPOINT_URL or settings.STORAGES["default"]["OPTIONS"].get(
        "endpoint_url"
    )
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "https://*.amazonaws.com"


def app_policy() -> str:
    """No inline or foreign script, no inline style attributes (the app sets styles through
    the CSSOM), no plugins, no framing."""
    storage = _storage_origin()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob: {storage}".strip(),
            f"connect-src 'self' {storage}".strip(),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def with_app_policy(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = app_policy()
        return response

    return wrapped
