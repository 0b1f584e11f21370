"""Label schemas, their classes, and the classes that apply to an image."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.selectors import dataset_get, image_get
from common.apis import valid

from .. import selectors, services
from ..models import MAX_SCHEMA_CLASSES
from ..serializers.schemas import (
    ClassUpdateSerializer,
    ClassWriteSerializer,
    ImageClassesSerializer,
    ImageClassesSetSerializer,
    LabelClassSerializer,
    LabelSchemaSerializer,
    SchemaCreateSerializer,
    SchemaQuerySerializer,
)
from .shared import TAG, identities


class DatasetSchemaListApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]  # a public dataset's, for anyone

    @extend_schema(tags=TAG, responses=LabelSchemaSerializer(many=True))
    def get(self, request, dataset_id):
        schemas = list(selectors.schemas_of_dataset(user=request.user, dataset_id=dataset_id))
        context = identities(request, schemas[0].dataset if schemas else None)
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
            LabelSchemaSerializer(schema, context=identities(request, schema.dataset)).data
        )


class SchemaClassListApi(APIView):
    @extend_schema(
        tags=TAG,
        request=ClassWriteSerializer,
        responses={201: LabelClassSerializer},
        description=f"Add a class (curators); a schema holds at most {MAX_SCHEMA_CLASSES} "
        "active classes (400 `too_many_classes` beyond).",
    )
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
        "`active: true` restores a removed class with its votes (while the schema has fewer "
        f"than {MAX_SCHEMA_CLASSES} active classes).",
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
