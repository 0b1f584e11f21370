"""Chips to label next on a grid ("label these next"): a labeling route served by analysis,
because the chips come from the grid's newest segmentation result."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import valid
from labeling import selectors as labeling
from labeling.serializers.grids import NextChipsQuerySerializer, NextChipsSerializer

from . import suggestions


class GridNextChipsApi(APIView):
    @extend_schema(
        tags=["labeling"],
        parameters=[NextChipsQuerySerializer],
        responses=NextChipsSerializer,
        description="Label these next: the chips the newest result on this grid is least "
        "sure about and that look least like your examples (workers.fewshot.label_next), your "
        "current examples skipped. 409 no_result before a result exists.",
    )
    def get(self, request, grid_id):
        query = valid(NextChipsQuerySerializer, request.query_params)
        grid = labeling.grid_get(user=request.user, grid_id=grid_id)
        schema = labeling.schema_for_grid(
            user=request.user, grid=grid, schema_id=query.get("schema")
        )
        answer = suggestions.next_chips(user=request.user, grid=grid, schema=schema, n=query["n"])
        return Response(NextChipsSerializer(answer).data)
