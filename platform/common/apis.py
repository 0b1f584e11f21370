"""Small helpers shared by the API views."""

from rest_framework.pagination import LimitOffsetPagination


def valid(serializer_class, data, **kwargs) -> dict:
    """Validate request data with a serializer; errors become a 400 with field messages."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def paginated(request, view, queryset, serializer_class, **context):
    """A page of ``queryset`` as ``{"count", "next", "previous", "results"}``.

    ``?limit=`` and ``?offset=`` select the page. Views that call it set
    ``pagination_class = LimitOffsetPagination`` and declare ``Serializer(many=True)`` in
    ``extend_schema``, so that drf-spectacular describes that envelope and those parameters.
    """
    paginator = (getattr(view, "pagination_class", None) or LimitOffsetPagination)()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **context}).data
    return paginator.get_paginated_response(data)
