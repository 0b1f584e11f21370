"""Small helpers shared by the API views."""

from rest_framework import pagination
from rest_framework.settings import api_settings

from common.errors import Invalid


def valid(serializer_class, data, **kwargs) -> dict:
    """Validate request data with a serializer; errors become a 400 with field messages."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's ``?limit=&offset=`` paging with a maximum page size and checked parameters.

    DRF silently ignores a bad ``limit`` or ``offset`` (``-1``, ``abc``) and has no maximum;
    here they are a 400 naming the parameter, and ``limit`` is at most ``max_limit``.
    The project's ``DEFAULT_PAGINATION_CLASS``.
    """

    max_limit = 1000

    def get_limit(self, request) -> int:
        return self._number(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request) -> int:
        return self._number(request, self.offset_query_param, 0, 0, None)

    @staticmethod
    def _number(request, name: str, default: int, low: int, high: int | None) -> int:
        raw = request.query_params.get(name, "")
        if raw == "":
            return default
        # ASCII digits only: int() would also take " 5", "+5", "1_0" and other scripts' digits
        value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
        if value is None or value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            problem = f"must be a whole number {bounds}, not '{raw[:20]}'."
            raise Invalid(f"{name}: {problem}", fields={name: [problem]})
        return value

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
                parameter["description"] = (
                    f"Number of results to return per page "
                    f"(default {self.default_limit}, at most {self.max_limit})."
                )
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"]["minimum"] = 0
        return parameters


def paginated(request, view, queryset, serializer_class, **context):
    """A page of ``queryset`` as ``{"count", "next", "previous", "results"}``.

    ``?limit=`` and ``?offset=`` select the page. Views that call it set
    ``pagination_class = LimitOffsetPagination`` (this module's) and declare
    ``Serializer(many=True)`` in ``extend_schema``, so that drf-spectacular describes that
    envelope and those parameters.
    """
    paginator_class = getattr(view, "pagination_class", None)
    paginator = (paginator_class or api_settings.DEFAULT_PAGINATION_CLASS)()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **context}).data
    return paginator.get_paginated_response(data)
