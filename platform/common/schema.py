"""OpenAPI generation: every operation declares the API's error body for 4xx answers."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="machine-readable, e.g. not_found, in_use, throttled")
    message = serializers.CharField(help_text="what went wrong, for people")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="per request field (nested ones as params.chip_size), when a field is at fault",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_RESPONSE = OpenApiResponse(
    ErrorSerializer,
    description="Bad input (400), not signed in (401), not allowed (403), not found or not "
    "visible to you (404), conflict with the current state (409), too large (413), "
    "unsupported file (415), too many requests (429).",
)


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # explicit codes (e.g. a documented 403) take precedence over the range
        if direction == "response" and "4XX" not in responses:
            responses["4XX"] = self._get_response_for_code(ERROR_RESPONSE, "4XX")
        return responses
