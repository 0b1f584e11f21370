"""Small helpers shared by the API views."""

from rest_framework.pagination import LimitOffsetPagination


def valid(serializer_class, data, **kwargs) -> dict:
    """Validate request data with a serializer; errors become a 400 with field messages."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def paginated(request, view, queryset, serializer_class, **context):
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **context}).data
    return paginator.get_paginated_response(data)
