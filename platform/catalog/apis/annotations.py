"""An image's annotations: its tags and key-value pairs (read by everyone who sees the image,
replaced by its lab's annotators)."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import valid
from common.errors import NotFound

from .. import annotations, selectors
from ..annotation_serializers import AnnotationsSerializer


class ImageAnnotationsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="images_annotations_retrieve", responses=AnnotationsSerializer)
    def get(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        return Response(annotations.image_annotations(image=image))

    @extend_schema(
        operation_id="images_annotations_update",
        request=AnnotationsSerializer,
        responses=AnnotationsSerializer,
        description="Replace the image's tags and/or key-value pairs (a field left out stays "
        "as it is). Annotators and above of the image's lab.",
    )
    def put(self, request, image_id):
        if not request.user.is_authenticated:
            raise NotFound("Image not found.")
        image = selectors.image_get(user=request.user, image_id=image_id)
        data = valid(AnnotationsSerializer, request.data)
        pairs = data.get("pairs")
        return Response(
            annotations.image_annotations_set(
                user=request.user,
                image=image,
                tags=data.get("tags"),
                pairs=None if pairs is None else [dict(p) for p in pairs],
            )
        )
