"""Search API: images and their datasets, with facets."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import LimitOffsetPagination

from .. import search
from ..search_serializers import (
    SearchImageSerializer,
    SearchQuerySerializer,
    SearchResultsSerializer,
)


class SearchPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = search.MAX_PAGE


def _query_parameters() -> list[OpenApiParameter]:
    """The query serializer's fields as parameters (lists: repeated, ``?tag=a&tag=b``)."""
    parameters = []
    for name, f in SearchQuerySerializer().fields.items():
        many = hasattr(f, "child")
        kind = {
            "FloatField": OpenApiTypes.DOUBLE,
            "DateField": OpenApiTypes.DATE,
            "BooleanField": OpenApiTypes.BOOL,
        }.get(type(f).__name__, OpenApiTypes.STR)
        if many and type(f.child).__name__ == "UUIDField":
            kind = OpenApiTypes.UUID
        parameters.append(
            OpenApiParameter(
                name,
                kind,
                many=many,
                explode=True if many else None,
                description=str(f.help_text or ""),
            )
        )
    paginator = SearchPagination
    parameters += [
        OpenApiParameter(
            "limit",
            int,
            description=f"Results per page (default {paginator.default_limit}, "
            f"at most {paginator.max_limit}).",
        ),
        OpenApiParameter("offset", int, description="Index of the first result."),
    ]
    return parameters


class SearchApi(APIView):
    permission_classes = [AllowAny]
    throttle_scope = "search"  # per client address: CHIPLAB_SEARCH_RATE

    @extend_schema(
        operation_id="search_images",
        parameters=_query_parameters(),
        responses=SearchResultsSerializer,
        description="Images you may see (your labs' and public ones) matching the words and "
        "filters, a page at a time, with facet counts over every match.",
    )
    def get(self, request):
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = search.images_search(
            user=request.user, params=query.params(), facets=query.validated_data["facets"]
        )
        paginator = SearchPagination()
        page = paginator.paginate_queryset(found["images"], request, view=self)
        body = paginator.get_paginated_response(
            SearchImageSerializer(page, many=True, context={"request": request}).data
        ).data
        if query.validated_data["facets"]:
            body["facets"] = found["facets"]
        return Response(body)
