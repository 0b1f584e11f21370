"""Crowd quality: agreement, crowd micro-tasks and curator review."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import valid

from .. import selectors, services
from ..serializers.quality import (
    AgreementQuerySerializer,
    AgreementSerializer,
    CrowdAnswerResultSerializer,
    CrowdAnswerSerializer,
    CrowdTaskQuerySerializer,
    CrowdTaskSerializer,
    ReviewDecisionSerializer,
    ReviewQuerySerializer,
    ReviewQueueSerializer,
)
from ..serializers.votes import VoteSerializer
from .shared import TAG


class SchemaAgreementApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[AgreementQuerySerializer],
        responses={
            200: AgreementSerializer,
            403: OpenApiResponse(
                description="Someone outside the dataset's lab (a public dataset): members_only"
            ),
        },
        description="Agreement per chip and per annotator. It rates individual people, so "
        "it is for members of the dataset's lab only: others get 403 members_only (frozen "
        "versions carry per-chip agreement anonymously). Below curator, chips with a gold "
        "answer are left out of per_chip, overall and the agreement with the consensus. "
        "Gold accuracy counts each annotator's first answer per gold chip; curators and "
        "owners see everyone's, others only their own and only per batch of gold answers "
        "(gold_scoring), so no answer can be recovered by voting and reading the score. A "
        "grid of another dataset is a 400.",
    )
    def get(self, request, schema_id):
        query = valid(AgreementQuerySerializer, request.query_params)
        schema, grid = _schema_and_grid(request, schema_id, query.get("grid"))
        return Response(
            AgreementSerializer(
                selectors.agreement(user=request.user, schema=schema, grid=grid)
            ).data
        )


class CrowdTaskNextApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[CrowdTaskQuerySerializer],
        responses=CrowdTaskSerializer,
        description="The next micro-task for you (nothing is stored until you "
        "answer). 409 no_task when nothing is left to ask.",
    )
    def get(self, request, schema_id):
        query = valid(CrowdTaskQuerySerializer, request.query_params)
        schema, grid = _schema_and_grid(request, schema_id, query.get("grid"))
        task = services.crowd_task_next(
            user=request.user, schema=schema, grid=grid, seed=query.get("seed")
        )
        return Response(CrowdTaskSerializer(task).data)


class CrowdTaskAnswerApi(APIView):
    @extend_schema(
        tags=TAG, request=CrowdAnswerSerializer, responses={201: CrowdAnswerResultSerializer}
    )
    def post(self, request):
        data = valid(CrowdAnswerSerializer, request.data)
        votes = services.crowd_task_answer(
            user=request.user, task=data["task"], selected=data["selected"]
        )
        positive = sum(1 for v in votes if not v.negative)
        answered = services.crowd_answers_count(user=request.user, schema=votes[0].schema)
        return Response(
            {
                "votes": len(votes),
                "selected": positive,
                "not_selected": len(votes) - positive,
                "answered": answered,
            },
            status=status.HTTP_201_CREATED,
        )


class SchemaReviewApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[ReviewQuerySerializer],
        responses=ReviewQueueSerializer,
        description="Curators: contested chips (two or more opinions, agreement below "
        "`below`), most contested first, with every opinion, the gold answer and the chip's "
        "box. A chip leaves the queue once a curator accepts or rejects it and comes back "
        "with the next vote on it.",
    )
    def get(self, request, schema_id):
        query = valid(ReviewQuerySerializer, request.query_params)
        schema, grid = _schema_and_grid(request, schema_id, query.get("grid"))
        return Response(
            ReviewQueueSerializer(
                selectors.review_queue(
                    user=request.user,
                    schema=schema,
                    grid=grid,
                    limit=query["limit"],
                    below=query["below"],
                )
            ).data
        )

    @extend_schema(
        tags=TAG,
        request=ReviewDecisionSerializer,
        responses={201: VoteSerializer},
        description="Curators: accept (the chip is `class`) or reject (it is not `class`) a "
        "chip; stored as your vote with source review (append-only).",
    )
    def post(self, request, schema_id):
        data = valid(ReviewDecisionSerializer, request.data)
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        grid = selectors.grid_get(user=request.user, grid_id=data["grid"])
        vote = services.review_decide(
            user=request.user,
            schema=schema,
            grid=grid,
            row=data["row"],
            col=data["col"],
            action=data["action"],
            label_class=data["class"],
        )
        return Response(VoteSerializer(vote).data, status=status.HTTP_201_CREATED)


def _schema_and_grid(request, schema_id, grid_id):
    """The schema and, when a grid is asked for, that grid (each membership-checked)."""
    schema = selectors.schema_get(user=request.user, schema_id=schema_id)
    grid = selectors.grid_get(user=request.user, grid_id=grid_id) if grid_id else None
    return schema, grid
