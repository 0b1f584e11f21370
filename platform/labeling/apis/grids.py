"""Chip grids of an image, chip-size suggestions, carrying examples (chips to label next:
``analysis.suggestion_apis``, they come from a segmentation result)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.selectors import image_get
from common.apis import valid

from .. import selectors, services
from ..serializers.grids import (
    CarryResultSerializer,
    CarrySerializer,
    ChipSizeSuggestionSerializer,
    GridCreateSerializer,
    GridSerializer,
)
from .shared import TAG, identities


class ImageGridListApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(tags=TAG, responses=GridSerializer(many=True))
    def get(self, request, image_id):
        grids = list(selectors.grids_of_image(user=request.user, image_id=image_id))
        context = identities(request, grids[0].image.dataset if grids else None)
        return Response(GridSerializer(grids, many=True, context=context).data)

    @extend_schema(
        tags=TAG,
        request=GridCreateSerializer,
        responses={201: GridSerializer, 200: GridSerializer},
        description="Creating an existing (chip size, offset) returns it (200).",
    )
    def post(self, request, image_id):
        image = image_get(user=request.user, image_id=image_id)
        data = valid(GridCreateSerializer, request.data)
        grid, created = services.grid_create(user=request.user, image=image, **data)
        return Response(
            GridSerializer(grid, context={"identities": True}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class GridDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(tags=TAG, responses=GridSerializer)
    def get(self, request, grid_id):
        grid = selectors.grid_get(user=request.user, grid_id=grid_id)
        return Response(GridSerializer(grid, context=identities(request, grid.image.dataset)).data)


class ChipSizeSuggestionApi(APIView):
    @extend_schema(tags=TAG, responses=ChipSizeSuggestionSerializer)
    def get(self, request, image_id):
        suggestion = selectors.chip_size_suggestion(user=request.user, image_id=image_id)
        return Response(ChipSizeSuggestionSerializer(suggestion).data)


class GridCarryApi(APIView):
    @extend_schema(
        tags=TAG,
        request=CarrySerializer,
        responses=CarryResultSerializer,
        description="Carry your example clicks from another grid of the same image (another "
        "chip size or offset) to this one: each of this grid's chips takes the class whose "
        "examples cover most of it (at least half of the smaller chip). They become your "
        "votes here; the old grid keeps its own. Nothing is carried onto a grid where you "
        "have labels already (reason target_labelled), so retries and going back change "
        "nothing.",
    )
    def post(self, request, grid_id):
        data = valid(CarrySerializer, request.data)
        target = selectors.grid_get(user=request.user, grid_id=grid_id)
        source = selectors.grid_get(user=request.user, grid_id=data["from_grid"])
        schema = selectors.schema_for_grid(
            user=request.user, grid=target, schema_id=data.get("schema")
        )
        answer = services.votes_carry(
            user=request.user, source=source, target=target, schema=schema
        )
        return Response(CarryResultSerializer(answer).data)
