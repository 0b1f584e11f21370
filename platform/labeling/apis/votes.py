"""Votes on chips, a grid's live support set, gold answers and annotation import."""

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import valid
from common.errors import TooLarge

from .. import selectors, services
from ..serializers.schemas import SchemaQuerySerializer
from ..serializers.support import SupportQuerySerializer, SupportStateSerializer
from ..serializers.votes import (
    AnnotationImportResultSerializer,
    AnnotationImportSerializer,
    GoldChipSerializer,
    GoldSetSerializer,
    VoteBatchResultSerializer,
    VoteCastSerializer,
    VoteSerializer,
    VotesQuerySerializer,
)
from .shared import TAG, schema_param


class GridVoteApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[
            OpenApiParameter(
                "user",
                str,
                enum=["me", "all"],
                description="me: your labels; all: everyone's, with counts (lab members only)",
            ),
            schema_param(),
        ],
        responses={
            200: OpenApiResponse(
                description="Current state per chip: "
                "{grid, schema, user, chips: [{row, col, class, not} | "
                "{row, col, mine, counts, not_counts, users}]}"
            ),
            403: OpenApiResponse(
                description="user=all by someone outside the dataset's lab (a public "
                "dataset): members_only"
            ),
        },
        description="user=all lists each annotator's current label (user id and class) and is "
        "for members of the dataset's lab only. Users below curator see only their own vote "
        "on chips with a gold answer (counts included): the curator's gold answer is "
        "recorded as their vote there.",
    )
    def get(self, request, grid_id):
        query = valid(VotesQuerySerializer, request.query_params)
        grid = selectors.grid_get(user=request.user, grid_id=grid_id)
        schema = selectors.schema_for_grid(
            user=request.user, grid=grid, schema_id=query.get("schema")
        )
        return Response(
            selectors.votes_current(
                user=request.user, grid=grid, schema=schema, scope=query["user"]
            )
        )

    @extend_schema(
        tags=TAG,
        request=VoteCastSerializer,
        responses={
            201: PolymorphicProxySerializer(
                component_name="VoteCastResult",
                resource_type_field_name=None,
                serializers=[VoteSerializer, VoteBatchResultSerializer],
            )
        },
        description="One vote {row, col, class} or a batch {votes: [...]}; "
        "class null retracts. Votes are append-only.",
    )
    def post(self, request, grid_id):
        data = valid(VoteCastSerializer, request.data)
        grid = selectors.grid_for_voting(user=request.user, grid_id=grid_id)
        schema = (
            selectors.schema_get(user=request.user, schema_id=data["schema"])
            if data.get("schema")
            else None
        )
        batch = "votes" in data
        votes = (
            data["votes"]
            if batch
            else [{k: data[k] for k in ("row", "col", "class", "client_id") if k in data}]
        )
        stored = services.votes_cast_many(user=request.user, grid=grid, schema=schema, votes=votes)
        body = (
            {"votes": VoteSerializer(stored, many=True).data}
            if batch
            else VoteSerializer(stored[0]).data
        )
        return Response(body, status=status.HTTP_201_CREATED)


class GridSupportApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[SupportQuerySerializer],
        responses=SupportStateSerializer,
        description="The support set a rule derives from the current votes, with "
        "counts per class and guidance warnings (before freezing). For members of the "
        "dataset's lab only (403 members_only for others: they read frozen versions). Below "
        "curator it is derived as if on chips with a gold answer only you had voted, so it "
        "can differ there from what freezing gives.",
    )
    def get(self, request, grid_id):
        query = valid(SupportQuerySerializer, request.query_params)
        grid = selectors.grid_get(user=request.user, grid_id=grid_id)
        schema = selectors.schema_for_grid(
            user=request.user, grid=grid, schema_id=query.get("schema")
        )
        state = selectors.support_state(
            user=request.user,
            schema=schema,
            grids=[grid],
            rule=query["rule"],
            owner=query.get("owner"),
            min_votes=query["min_votes"],
        )
        return Response(SupportStateSerializer(state).data)


class GridGoldApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[SchemaQuerySerializer],
        responses=GoldChipSerializer(many=True),
        description="The reference answers (curators only).",
    )
    def get(self, request, grid_id):
        query = valid(SchemaQuerySerializer, request.query_params)
        grid = selectors.grid_get(user=request.user, grid_id=grid_id)
        schema = selectors.schema_for_grid(
            user=request.user, grid=grid, schema_id=query.get("schema")
        )
        gold = selectors.gold_of_grid(user=request.user, grid=grid, schema=schema)
        return Response(GoldChipSerializer(gold, many=True).data)

    @extend_schema(
        tags=TAG,
        request=GoldSetSerializer,
        responses=GoldChipSerializer(many=True),
        description="Curators set reference answers; class null clears one. Setting a gold "
        'answer also records it as the curator\'s vote on that chip (source "gold"), which '
        "replaces the curator's own vote (current label) on those chips; earlier votes stay in "
        "the history. Clearing a gold answer leaves the votes as they are.",
    )
    def post(self, request, grid_id):
        data = valid(GoldSetSerializer, request.data)
        grid = selectors.grid_get(user=request.user, grid_id=grid_id)
        schema = (
            selectors.schema_get(user=request.user, schema_id=data["schema"])
            if data.get("schema")
            else None
        )
        gold = services.gold_set(user=request.user, grid=grid, schema=schema, chips=data["chips"])
        return Response(GoldChipSerializer(gold, many=True).data)


class GridImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]  # the file

    @extend_schema(
        tags=TAG,
        request={"multipart/form-data": AnnotationImportSerializer},
        responses={201: AnnotationImportResultSerializer},
        description="Import a label mask (PNG/TIFF: integer values or RGB colours, mapped to "
        "classes by `classes`) or a CSV of chips (row,col,class) into this grid as your votes "
        "(annotators and up) or as gold answers (`target=gold`, curators). A mask's chip gets "
        "the class covering at least `threshold` of it, else it is skipped. All or nothing; "
        "the answer counts chips per class and the chips skipped. 400 on a mask of another "
        "size (size_mismatch), an unknown class (unknown_class) or unmapped values "
        "(unknown_value); 413 past the size limits.",
    )
    def post(self, request, grid_id):
        grid = selectors.grid_get(user=request.user, grid_id=grid_id)
        upload = request.FILES.get("file")
        if upload is not None and upload.size > services.imports.MAX_IMPORT_BYTES:
            raise TooLarge(
                f"An import file may have at most "
                f"{services.imports.MAX_IMPORT_BYTES // 1024**2} MB.",
                fields={"file": ["too large"]},
            )
        data = valid(AnnotationImportSerializer, request.data)
        schema = (
            selectors.schema_get(user=request.user, schema_id=data["schema"])
            if data.get("schema")
            else None
        )
        report = services.annotations_import(
            user=request.user,
            grid=grid,
            data=data["file"].read(),
            classes=data.get("classes"),
            schema=schema,
            target=data["target"],
            threshold=data["threshold"],
        )
        return Response(
            AnnotationImportResultSerializer(report).data, status=status.HTTP_201_CREATED
        )
