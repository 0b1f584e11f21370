"""Refuse request bodies over the upload limit before anything reads them."""

from django.conf import settings
from django.http import JsonResponse


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                {"error": {"code": "invalid", "message": "Bad Content-Length header."}},
                status=400,
            )
        # Multipart framing adds a little; the file itself is checked again after parsing.
        limit = settings.CHIPLAB_MAX_UPLOAD_BYTES + 64 * 1024
        if length > limit:
            return JsonResponse(
                {
                    "error": {
                        "code": "file_too_large",
                        "message": f"The request is {length} bytes; this server accepts "
                        f"uploads of at most {settings.CHIPLAB_MAX_UPLOAD_BYTES} bytes.",
                    }
                },
                status=413,
            )
        return self.get_response(request)
