"""Direct uploads to the object store and import in place (catalog.direct)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import LimitOffsetPagination, paginated, valid
from common.errors import Invalid

from .. import direct, selectors
from ..models import DirectUploadStatus
from ..serializers import (
    DatasetImportResultSerializer,
    DatasetImportSerializer,
    DirectUploadCreateSerializer,
    DirectUploadListSerializer,
    DirectUploadSerializer,
)


class DirectUploadListApi(APIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=DirectUploadStatus.values)],
        responses=DirectUploadListSerializer(many=True),
        description="The dataset's direct uploads (curators), newest first.",
    )
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        uploads = direct.direct_uploads_of(user=request.user, dataset=dataset)
        if upload_status := request.query_params.get("status"):
            if upload_status not in DirectUploadStatus.values:
                raise Invalid(
                    f"status: {upload_status[:20]!r} is not one of "
                    f"{', '.join(DirectUploadStatus.values)}.",
                    fields={"status": ["invalid_choice"]},
                )
            uploads = uploads.filter(status=upload_status)
        return paginated(request, self, uploads, DirectUploadListSerializer)

    @extend_schema(
        request=DirectUploadCreateSerializer,
        responses={201: DirectUploadSerializer},
        description="Start a direct upload (S3 stores only; curators): PUT each part's bytes "
        "to its presigned URL, then commit. 409 `needs_s3` on a server that keeps files on "
        "its disk; 413 above CHIPLAB_DIRECT_UPLOAD_MAX_BYTES.",
    )
    def post(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DirectUploadCreateSerializer, request.data)
        upload = direct.direct_upload_create(user=request.user, dataset=dataset, **data)
        state = direct.direct_upload_state(user=request.user, upload=upload)
        return Response(DirectUploadSerializer(state).data, status=status.HTTP_201_CREATED)


class DirectUploadDetailApi(APIView):
    @extend_schema(
        responses=DirectUploadSerializer,
        description="The upload, the parts received and fresh URLs for the missing ones "
        "(to resume).",
    )
    def get(self, request, dataset_id, upload_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = direct.direct_upload_get(user=request.user, dataset=dataset, upload_id=upload_id)
        state = direct.direct_upload_state(user=request.user, upload=upload)
        return Response(DirectUploadSerializer(state).data)

    @extend_schema(responses={204: None}, description="Cancel the upload: its parts are deleted.")
    def delete(self, request, dataset_id, upload_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = direct.direct_upload_get(user=request.user, dataset=dataset, upload_id=upload_id)
        direct.direct_upload_abort(user=request.user, upload=upload)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectUploadCommitApi(APIView):
    @extend_schema(
        request=None,
        responses={202: DirectUploadSerializer},
        description="Commit the upload once every part has arrived: a worker completes it, "
        "checks its size and sha256 and makes it an image (then ingested like an upload). "
        "Poll GET the upload: `checked_bytes` grows while `status` is `committing`; then "
        "`committed` with its `image`, or `failed` with `error` and `error_code` "
        "(`sha256_mismatch`, `size_mismatch`, `duplicate`, a refused file…), keeping nothing. "
        "409 `missing_parts`: PUT them and commit again. Committing again while it runs "
        "answers the same.",
    )
    def post(self, request, dataset_id, upload_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = direct.direct_upload_get(user=request.user, dataset=dataset, upload_id=upload_id)
        upload = direct.direct_upload_commit(user=request.user, upload=upload)
        state = direct.direct_upload_state(user=request.user, upload=upload)
        return Response(DirectUploadSerializer(state).data, status=status.HTTP_202_ACCEPTED)


class DatasetImportApi(APIView):
    @extend_schema(
        request=DatasetImportSerializer,
        responses=DatasetImportResultSerializer,
        description="Import in place (curators; S3 stores only): every object under a prefix "
        "becomes an image, checked like an upload; errors are listed per object. The "
        "platform's bucket is open under imports/<lab id>/, other buckets when the operator "
        "lists them in CHIPLAB_IMPORT_BUCKETS. 413 above CHIPLAB_IMPORT_MAX_OBJECTS objects.",
    )
    def post(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DatasetImportSerializer, request.data)
        result = direct.dataset_import_objects(
            user=request.user,
            dataset=dataset,
            bucket=data.get("bucket", ""),
            prefix=data["prefix"],
        )
        return Response(DatasetImportResultSerializer(result).data)
