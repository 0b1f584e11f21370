"""One domain error type, mapped to HTTP once (in the DRF exception handler)."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


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


def _body(code: str, message: str, fields: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def exception_handler(exc, context):
    """Render every API error as ``{"error": {"code", "message", "fields"?}}``."""
    if isinstance(exc, ChiplabError):
        return Response(_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        # e.g. a malformed id in a query parameter reaching a UUID lookup
        message = "; ".join(exc.messages) or "Invalid input."
        return Response(_body("invalid", message), status=400)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        first = next(iter(fields.items()), ("", ["invalid input"]))
        message = f"{first[0]}: {first[1][0] if isinstance(first[1], list) else first[1]}"
        response.data = _body("invalid", message, fields)
    else:
        message = detail.get("detail", str(exc)) if isinstance(detail, dict) else str(detail)
        code = getattr(exc, "default_code", "error")
        response.data = _body(code, str(message))
    return response
