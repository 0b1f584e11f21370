"""Labeling API: schemas and classes, grids, votes, live and frozen support sets, gold,
agreement and crowd micro-tasks."""

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.selectors import dataset_get, image_get
from common.apis import valid
from common.errors import TooLarge

from . import selectors, services, suggestions
from .serializers import (
    AgreementQuerySerializer,
    AgreementSerializer,
    AnnotationImportResultSerializer,
    AnnotationImportSerializer,
    CarryResultSerializer,
    CarrySerializer,
    ChipSizeSuggestionSerializer,
    ClassUpdateSerializer,
    ClassWriteSerializer,
    CrowdAnswerResultSerializer,
    CrowdAnswerSerializer,
    CrowdTaskQuerySerializer,
    CrowdTaskSerializer,
    FreezeSerializer,
    GoldChipSerializer,
    GoldSetSerializer,
    GridCreateSerializer,
    GridSerializer,
    ImageClassesSerializer,
    ImageClassesSetSerializer,
    LabelClassSerializer,
    LabelSchemaSerializer,
    NextChipsQuerySerializer,
    NextChipsSerializer,
    ReviewDecisionSerializer,
    ReviewQuerySerializer,
    ReviewQueueSerializer,
    SchemaCreateSerializer,
    SchemaQuerySerializer,
    SupportQuerySerializer,
    SupportSetVersionSerializer,
    SupportStateSerializer,
    VoteBatchResultSerializer,
    VoteCastSerializer,
    VoteSerializer,
    VotesQuerySerializer,
)

TAG = ["labeling"]


def _schema_param(required=False):
    return OpenApiParameter(
        "schema",
        str,
        required=required,
        description="Label schema id (default: the dataset's default schema)",
    )


# --- schemas and classes -----------------------------------------------------------
def _identities(request, dataset) -> dict:
    """Serializer context: may the reader see who created things (a member of the lab)?"""
    shown = dataset is not None and selectors.identities_visible(
        user=request.user, lab_id=dataset.lab_id
    )
    return {"identities": shown}


class DatasetSchemaListApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]  # a public dataset's, for anyone

    @extend_schema(tags=TAG, responses=LabelSchemaSerializer(many=True))
    def get(self, request, dataset_id):
        schemas = list(selectors.schemas_of_dataset(user=request.user, dataset_id=dataset_id))
        context = _identities(request, schemas[0].dataset if schemas else None)
        return Response(LabelSchemaSerializer(schemas, many=True, context=context).data)

    @extend_schema(
        tags=TAG,
        request=SchemaCreateSerializer,
        responses={201: LabelSchemaSerializer, 200: LabelSchemaSerializer},
        description="Without a name: get or create the dataset's default schema "
        "(annotators). With a name: a new schema (curators).",
    )
    def post(self, request, dataset_id):
        data = valid(SchemaCreateSerializer, request.data)
        dataset = dataset_get(user=request.user, dataset_id=dataset_id)
        if (data.get("name") or "").strip():
            schema, created = (
                services.schema_create(user=request.user, dataset=dataset, name=data["name"]),
                True,
            )
        else:
            schema, created = services.schema_get_or_create_default(
                user=request.user, dataset=dataset
            )
        return Response(
            LabelSchemaSerializer(schema, context={"identities": True}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SchemaDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(tags=TAG, responses=LabelSchemaSerializer)
    def get(self, request, schema_id):
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        return Response(
            LabelSchemaSerializer(schema, context=_identities(request, schema.dataset)).data
        )


class SchemaClassListApi(APIView):
    @extend_schema(tags=TAG, request=ClassWriteSerializer, responses={201: LabelClassSerializer})
    def post(self, request, schema_id):
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        data = valid(ClassWriteSerializer, request.data)
        label_class = services.class_create(user=request.user, schema=schema, **data)
        return Response(LabelClassSerializer(label_class).data, status=status.HTTP_201_CREATED)


class ClassDetailApi(APIView):
    @extend_schema(
        tags=TAG,
        request=ClassUpdateSerializer,
        responses=LabelClassSerializer,
        description="Rename, recolour, reorder or re-kind (region | objects) a class; "
        "`active: true` restores a removed class with its votes.",
    )
    def patch(self, request, class_id):
        label_class = selectors.class_get(user=request.user, class_id=class_id)
        data = valid(ClassUpdateSerializer, request.data, partial=True)
        label_class = services.class_update(user=request.user, label_class=label_class, **data)
        return Response(LabelClassSerializer(label_class).data)

    @extend_schema(
        tags=TAG,
        responses={204: None},
        description="Soft removal: history keeps the class; it takes no new votes.",
    )
    def delete(self, request, class_id):
        label_class = selectors.class_get(user=request.user, class_id=class_id)
        services.class_remove(user=request.user, label_class=label_class)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- grids -------------------------------------------------------------------------
class ImageGridListApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(tags=TAG, responses=GridSerializer(many=True))
    def get(self, request, image_id):
        grids = list(selectors.grids_of_image(user=request.user, image_id=image_id))
        context = _identities(request, grids[0].image.dataset if grids else None)
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
        return Response(GridSerializer(grid, context=_identities(request, grid.image.dataset)).data)


class ChipSizeSuggestionApi(APIView):
    @extend_schema(tags=TAG, responses=ChipSizeSuggestionSerializer)
    def get(self, request, image_id):
        suggestion = selectors.chip_size_suggestion(user=request.user, image_id=image_id)
        return Response(ChipSizeSuggestionSerializer(suggestion).data)


# --- votes -------------------------------------------------------------------------
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
            _schema_param(),
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


class GridNextChipsApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[NextChipsQuerySerializer],
        responses=NextChipsSerializer,
        description="Label these next: the chips the newest result on this grid is least "
        "sure about and that look least like your examples (workers.fewshot.guidance."
        "label_next), your current examples skipped. 409 no_result before a result exists.",
    )
    def get(self, request, grid_id):
        query = valid(NextChipsQuerySerializer, request.query_params)
        grid = selectors.grid_get(user=request.user, grid_id=grid_id)
        schema = selectors.schema_for_grid(
            user=request.user, grid=grid, schema_id=query.get("schema")
        )
        answer = suggestions.next_chips(user=request.user, grid=grid, schema=schema, n=query["n"])
        return Response(NextChipsSerializer(answer).data)


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


# --- annotation import -------------------------------------------------------------
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


# --- frozen versions, agreement ----------------------------------------------------
class SchemaVersionListApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]  # frozen versions are published

    @extend_schema(
        tags=TAG,
        responses=SupportSetVersionSerializer(many=True),
        description="The frozen versions, oldest first; anonymised for readers outside the "
        "dataset's lab (see SupportSetVersion).",
    )
    def get(self, request, schema_id):
        versions = list(selectors.versions_of_schema(user=request.user, schema_id=schema_id))
        context = _identities(request, versions[0].schema.dataset if versions else None)
        return Response(SupportSetVersionSerializer(versions, many=True, context=context).data)

    @extend_schema(
        tags=TAG,
        request=FreezeSerializer,
        responses={201: SupportSetVersionSerializer, 200: SupportSetVersionSerializer},
        description="Freeze the current support set into the next immutable version (201); "
        "with `reuse: true` an unchanged support set returns its newest version (200).",
    )
    def post(self, request, schema_id):
        data = valid(FreezeSerializer, request.data)
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        grids = (
            selectors.grids_get_many(user=request.user, grid_ids=data["grids"])
            if "grids" in data
            else None
        )
        version = services.support_set_freeze(
            user=request.user,
            schema=schema,
            rule=data["rule"],
            owner=data.get("owner"),
            min_votes=data["min_votes"],
            grids=grids,
            reuse=data["reuse"],
        )
        created = not getattr(version, "reused", False)
        return Response(
            SupportSetVersionSerializer(version, context={"identities": True}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SupportSetDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        tags=TAG,
        responses=SupportSetVersionSerializer,
        description="One frozen version; anonymised for readers outside the dataset's lab "
        "(see SupportSetVersion).",
    )
    def get(self, request, version_id):
        version = selectors.support_set_get(user=request.user, version_id=version_id)
        context = _identities(request, version.schema.dataset)
        return Response(SupportSetVersionSerializer(version, context=context).data)


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
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        grid = (
            selectors.grid_get(user=request.user, grid_id=query["grid"])
            if query.get("grid")
            else None
        )
        return Response(
            AgreementSerializer(
                selectors.agreement(user=request.user, schema=schema, grid=grid)
            ).data
        )


# --- crowd tasks -------------------------------------------------------------------
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
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        grid = (
            selectors.grid_get(user=request.user, grid_id=query["grid"])
            if query.get("grid")
            else None
        )
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


# --- classes per image, curator review ---------------------------------------------
class ImageClassesApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[SchemaQuerySerializer],
        responses=ImageClassesSerializer,
        description="The classes of the schema that apply to this image: crowd tasks, "
        "guidance and suggestions only ask about these. mode chosen: ticked by its "
        "annotators; labels: the classes its labels use; all: every class (nobody labelled "
        "it yet). 404 no_schema before the dataset has a schema.",
    )
    def get(self, request, image_id):
        query = valid(SchemaQuerySerializer, request.query_params)
        found = selectors.image_classes(
            user=request.user, image_id=image_id, schema_id=query.get("schema")
        )
        return Response(ImageClassesSerializer(found).data)

    @extend_schema(
        tags=TAG,
        request=ImageClassesSetSerializer,
        responses=ImageClassesSerializer,
        description="Tick the classes that apply to this image (annotators and up); "
        "classes null goes back to the default. An empty list or a class of another schema "
        "is a 400.",
    )
    def put(self, request, image_id):
        data = valid(ImageClassesSetSerializer, request.data)
        image = image_get(user=request.user, image_id=image_id)
        current = selectors.image_classes(
            user=request.user, image_id=image.pk, schema_id=data.get("schema")
        )
        schema = selectors.schema_get(user=request.user, schema_id=current["schema"])
        mode, classes = services.image_classes_set(
            user=request.user, image=image, schema=schema, classes=data["classes"]
        )
        chosen = {"image": image.pk, "schema": schema.pk, "mode": mode, "classes": classes}
        return Response(ImageClassesSerializer(chosen).data)


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
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        grid = (
            selectors.grid_get(user=request.user, grid_id=query["grid"])
            if query.get("grid")
            else None
        )
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
