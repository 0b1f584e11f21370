"""Datasets: licences, the list and one dataset, its JSON-LD, its images and uploads."""

from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import lab_get
from common.apis import LimitOffsetPagination, paginated, valid
from common.errors import Invalid, NotFound

from .. import selectors, services
from ..licences import LICENCES
from ..models import ImageStatus
from ..serializers import (
    DatasetCreateSerializer,
    DatasetSerializer,
    DatasetWriteSerializer,
    ImageSerializer,
    ImageUploadSerializer,
    LicenceSerializer,
)


class LicenceListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=LicenceSerializer(many=True))
    def get(self, request):
        return Response([{"id": k, "name": v} for k, v in LICENCES.items()])


class DatasetListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("lab", str, description="Only datasets of this lab (id)")],
        responses=DatasetSerializer(many=True),
    )
    def get(self, request):
        datasets = selectors.datasets_visible_to(user=request.user).annotate(
            n_images=Count("images")
        )
        if lab := request.query_params.get("lab"):
            datasets = datasets.filter(lab_id=lab_get(user=request.user, lab_id=lab).pk)
        return paginated(request, self, datasets, DatasetSerializer)

    @extend_schema(request=DatasetCreateSerializer, responses={201: DatasetSerializer})
    def post(self, request):
        if not request.user.is_authenticated:
            raise NotFound("Lab not found.")
        data = valid(DatasetCreateSerializer, request.data)
        lab = lab_get(user=request.user, lab_id=data.pop("lab"))
        dataset = services.dataset_create(user=request.user, lab=lab, **data)
        return Response(
            DatasetSerializer(dataset, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class DatasetDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        return Response(DatasetSerializer(dataset, context={"request": request}).data)

    @extend_schema(request=DatasetWriteSerializer, responses=DatasetSerializer)
    def patch(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DatasetWriteSerializer, request.data, partial=True)
        dataset = services.dataset_update(user=request.user, dataset=dataset, **data)
        return Response(DatasetSerializer(dataset, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        services.dataset_delete(user=request.user, dataset=dataset)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetImageListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser, FormParser]  # the upload: a file

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=ImageStatus.values)],
        responses=ImageSerializer(many=True),
    )
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        images = dataset.images.all()
        if image_status := request.query_params.get("status"):
            if image_status not in ImageStatus.values:
                raise Invalid(
                    f"status: {image_status!r} is not one of {', '.join(ImageStatus.values)}.",
                    fields={"status": ["invalid_choice"]},
                )
            images = images.filter(status=image_status)
        return paginated(request, self, images, ImageSerializer)

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer}, responses={201: ImageSerializer}
    )
    def post(self, request, dataset_id):
        if not request.user.is_authenticated:
            raise NotFound("Dataset not found.")
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise Invalid(
                "Send the micrograph as a multipart field named 'file'.",
                code="no_file",
                fields={"file": ["required"]},
            )
        image = services.image_upload(user=request.user, dataset=dataset, upload=upload)
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)
