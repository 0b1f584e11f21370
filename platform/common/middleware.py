"""Request guards: the upload limit, JSON error bodies for everything under /api/, and 503s
while a service the site needs is down."""

import logging
from http import HTTPStatus

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from rest_framework.response import Response as DrfResponse

from common.errors import error_body, unavailable

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("invalid", "Bad Content-Length header."), status=400)
        # Multipart framing adds a little; the file itself is checked again after parsing.
        limit = settings.CHIPLAB_MAX_UPLOAD_BYTES + 64 * 1024
        if length > limit:
            message = (
                f"The request is {length} bytes; this server accepts "
                f"uploads of at most {settings.CHIPLAB_MAX_UPLOAD_BYTES} bytes."
            )
            return JsonResponse(error_body("file_too_large", message), status=413)
        return self.get_response(request)


class ApiErrorMiddleware:
    """Give error pages under /api/ the API's JSON error body instead of Django's HTML.

    DRF views already answer errors in JSON; this covers what happens outside them: URLs
    that match no route (404) and unhandled exceptions (500, also with DEBUG on, whose
    traceback page must not reach API clients). Django has logged the exception by the
    time the response gets here. Keep it last in ``MIDDLEWARE`` so that it sees the
    response for the failed view and the other middleware still add their headers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path_info.startswith(API_PREFIX)
            or isinstance(response, DrfResponse)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        if status == 404:
            code = "not_found"
            if getattr(request, "resolver_match", None) is None:
                message = f"Not found: no API endpoint matches {request.path} (see /api/docs/)."
            else:
                message = "Not found."
        elif status >= 500:
            code, message = "server_error", "Internal server error; it has been logged."
        else:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            code, message = phrase.lower().replace(" ", "_"), f"{phrase}."
        json_response = JsonResponse(error_body(code, message), status=status)
        # Django logs an error response once; the replacement must not be logged again.
        if getattr(response, "_has_been_logged", False):
            json_response._has_been_logged = True
        return json_response


class UnavailableMiddleware:
    """Answer 503 (with ``Retry-After``), not 500, when a view fails because the database,
    the task queue or the object store is down; the site recovers by itself once it is back.

    DRF views get the same answer from ``common.errors.exception_handler``; this covers the
    other views (pages, the admin). A broken database connection is closed by Django at the
    end of the request (``errors_occurred``), so the next request opens a new one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        down = unavailable(exception)
        if down is None:
            return None
        log.warning("503 %s on %s: %r", down.code, request.path, exception)
        if request.path_info.startswith(API_PREFIX):
            response = JsonResponse(error_body(down.code, down.message), status=503)
        else:
            response = HttpResponse(
                down.message, status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = str(down.retry_after)
        return response
