"""One domain error type, mapped to HTTP once (in the DRF exception handler)."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError
from django.db import OperationalError as DatabaseDown
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


class ChiplabError(Exception):
    """A domain error with a user-facing message; ``status`` is its HTTP status."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class Invalid(ChiplabError):
    status, code = 400, "invalid"


class NotFound(ChiplabError):
    """Also used for objects a user may not see, so that their existence does not leak."""

    status, code = 404, "not_found"


class Forbidden(ChiplabError):
    status, code = 403, "forbidden"


class Conflict(ChiplabError):
    status, code = 409, "conflict"


class TooLarge(ChiplabError):
    status, code = 413, "too_large"


class Unsupported(ChiplabError):
    status, code = 415, "unsupported_media_type"


class TooMany(ChiplabError):
    status, code = 429, "too_many"


class Unavailable(ChiplabError):
    """A service the request needs (database, task queue, object store) did not answer."""

    status, code = 503, "unavailable"
    #: seconds a client should wait before trying again (the ``Retry-After`` header)
    retry_after = 5


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The API's error body: ``{"error": {"code", "message", "fields"?}}``."""
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


def flat_fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """Nested validation errors as ``{"params.chip_size": ["…"], "votes[3].row": ["…"]}``.

    Serializer errors nest dicts (nested serializers), dicts keyed by index (list fields and
    ``many=True``) and lists of per-item dicts (older DRF); clients get one level of plain
    strings, and an object-level error of a nested serializer is reported under its path.
    """
    flat: dict[str, list[str]] = {}

    def add(path: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, int):
                    add(f"{path}[{key}]", item)
                elif key == NON_FIELD and path:
                    add(path, item)
                else:
                    add(f"{path}.{key}" if path else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                add(f"{path}[{index}]" if isinstance(item, dict | list) else path, item)
        elif value is not None:
            flat.setdefault(path or NON_FIELD, []).append(str(value))

    add(prefix, detail)
    return flat


def _validation_message(fields: dict[str, list[str]]) -> str:
    path, messages = next(iter(fields.items()), (NON_FIELD, ["Invalid input."]))
    return messages[0] if path == NON_FIELD else f"{path}: {messages[0]}"


def _request_limit_error(exc) -> ChiplabError | None:
    """Django's limits on request bodies, raised when a view first reads the data.

    Left to Django they become a bare "400 Bad Request" with no reason given.
    """
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return TooLarge(
            f"The request's JSON or form data is over this server's limit of {limit:,} bytes "
            f"({limit / 1024**2:.1f} MiB). Send files as multipart/form-data file fields, "
            f"which may be larger."
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Invalid(f"The request has more than {limit} form fields.", code="too_many_fields")
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return Invalid(f"The request has more than {limit} files.", code="too_many_files")
    return None


def unavailable(exc: BaseException) -> Unavailable | None:
    """The 503 for an exception that says a service the request needs is down (or None).

    A database that refuses or drops connections (restarting, unreachable), a task broker
    that cannot take a message, an object store that cannot be reached: the request failed
    through no fault of its own, nothing was committed, and the client may try again.
    """
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, DatabaseDown | InterfaceError):
        return Unavailable(
            "The database is unavailable (restarting or unreachable); nothing was changed. "
            "Try again in a few seconds.",
            code="database_unavailable",
        )
    if isinstance(exc, broker_errors()):
        return Unavailable(
            "The job queue or its cache (Redis) is unavailable (restarting or unreachable); "
            "try again in a few seconds.",
            code="queue_unavailable",
        )
    if isinstance(exc, _storage_errors()) or _storage_server_error(exc):
        return Unavailable(
            "The file store is unavailable (restarting or unreachable); nothing was stored. "
            "Try again in a few seconds.",
            code="storage_unavailable",
        )
    return None


def broker_errors() -> tuple[type[BaseException], ...]:
    """What sending a Celery message raises when the broker cannot take it."""
    # broker client classes (kombu, redis): loaded when a send fails, common imports no broker
    from kombu.exceptions import OperationalError as BrokerDown
    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import TimeoutError as RedisTimeout

    return BrokerDown, RedisDown, RedisTimeout


def _storage_errors() -> tuple[type[BaseException], ...]:
    """Transport failures of the two S3 clients (boto3 via django-storages, the minio SDK)."""
    # object-store client classes (botocore, urllib3): loaded when a storage call fails
    from botocore.exceptions import ConnectionError as BotoConnection
    from botocore.exceptions import HTTPClientError
    from urllib3.exceptions import MaxRetryError, ProtocolError

    return BotoConnection, HTTPClientError, MaxRetryError, ProtocolError


def _storage_server_error(exc: BaseException) -> bool:
    """An S3 answer of 5xx (``ServiceUnavailable``, ``SlowDown``, ``InternalError``)."""
    # object-store client classes (botocore, urllib3): loaded when a storage call fails
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500


def error_response(exc: ChiplabError) -> Response:
    response = Response(
        error_body(exc.code, exc.message, flat_fields(exc.fields)), status=exc.status
    )
    if isinstance(exc, Unavailable):
        response["Retry-After"] = str(exc.retry_after)
    return response


def exception_handler(exc, context):
    """Render every API error as ``{"error": {"code", "message", "fields"?}}``."""
    exc = _request_limit_error(exc) or exc
    if (down := unavailable(exc)) is not None and down is not exc:
        log.warning("503 %s: %r", down.code, exc, exc_info=exc)
        exc = down
    if isinstance(exc, ChiplabError):
        return error_response(exc)
    if isinstance(exc, DjangoValidationError):
        # e.g. a malformed id in a query parameter reaching a UUID lookup
        message = "; ".join(exc.messages) or "Invalid input."
        return Response(error_body("invalid", message), status=400)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = flat_fields(detail if isinstance(detail, dict) else {NON_FIELD: detail})
        response.data = error_body("invalid", _validation_message(fields), fields)
    else:
        message = detail.get("detail", str(exc)) if isinstance(detail, dict) else str(detail)
        code = getattr(exc, "default_code", "error")
        response.data = error_body(code, str(message))
    return response
