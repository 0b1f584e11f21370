"""Segmentation API: jobs (create, status, cancel, re-run), results and their exports."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.selectors import dataset_version_get
from common import storage
from common.apis import LimitOffsetPagination, paginated, valid
from common.errors import NotFound

from . import exports, selectors, services
from .artefacts import EXPORT_KINDS, export_filename
from .serializers import (
    JobCreateSerializer,
    JobDetailSerializer,
    JobQuerySerializer,
    JobSerializer,
    JobWaitQuerySerializer,
    RederiveReportSerializer,
    ResultDetailSerializer,
    ResultSerializer,
    ThumbnailQuerySerializer,
)

_RUN_RULES = (
    "Annotators may run jobs on their own working set (rule single_owner, owner = themselves) "
    "or on a frozen version of it; any other support set needs the curator role. Images must "
    "belong to the support set's lab and be ready."
)


class SegmentationJobListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    @extend_schema(
        parameters=[
            OpenApiParameter("image", OpenApiTypes.UUID, description="jobs that segment it"),
            OpenApiParameter("lab", OpenApiTypes.UUID, description="jobs of this lab"),
            OpenApiParameter("grid", OpenApiTypes.UUID, description="jobs on this grid"),
            OpenApiParameter(
                "status",
                str,
                description="one or more of queued, running, succeeded, failed, cancelled, "
                "comma-separated (e.g. queued,running: the jobs still to finish)",
            ),
        ],
        responses=JobSerializer(many=True),
    )
    def get(self, request):
        query = valid(JobQuerySerializer, request.query_params)
        jobs = selectors.jobs_list(
            user=request.user,
            image_id=query.get("image"),
            lab_id=query.get("lab"),
            grid_id=query.get("grid"),
            statuses=query.get("status"),
        )
        return paginated(request, self, jobs, JobSerializer)

    @extend_schema(
        request=JobCreateSerializer,
        responses={201: JobDetailSerializer},
        description="Segment images with a support set. " + _RUN_RULES,
    )
    def post(self, request):
        data = valid(JobCreateSerializer, request.data)
        job = services.segmentation_job_create(user=request.user, **data)
        return Response(
            JobDetailSerializer(job, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class SegmentationJobDetailApi(APIView):
    @extend_schema(
        parameters=[JobWaitQuerySerializer],
        responses=JobDetailSerializer,
        description="Status, progress (chips done / total), timings and results. With "
        "`wait`, the answer comes once the job lists a result or has ended, or after that "
        "many seconds.",
    )
    def get(self, request, job_id):
        query = valid(JobWaitQuerySerializer, request.query_params)
        job = selectors.job_get(user=request.user, job_id=job_id)
        if query["wait"] > 0:
            job = selectors.job_first_map_wait(user=request.user, job=job, seconds=query["wait"])
        return Response(JobDetailSerializer(job, context={"request": request}).data)


class SegmentationJobCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: JobDetailSerializer, 409: OpenApiResponse(description="already finished")},
    )
    def post(self, request, job_id):
        job = selectors.job_get(user=request.user, job_id=job_id)
        job = services.segmentation_job_cancel(user=request.user, job=job)
        return Response(JobDetailSerializer(job, context={"request": request}).data)


class SegmentationJobRerunApi(APIView):
    @extend_schema(
        request=None,
        responses={201: JobDetailSerializer},
        description="A new job with the same support set, model version, images and "
        "parameters (it reproduces the labels). " + _RUN_RULES,
    )
    def post(self, request, job_id):
        job = selectors.job_get(user=request.user, job_id=job_id)
        new = services.segmentation_job_rerun(user=request.user, job=job)
        return Response(
            JobDetailSerializer(new, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class SegmentationResultDetailApi(APIView):
    @extend_schema(
        responses=ResultDetailSerializer,
        description="Label and confidence grids, statistics and provenance.",
    )
    def get(self, request, result_id):
        result = selectors.result_get(user=request.user, result_id=result_id)
        arrays = selectors.result_arrays(result=result)
        return Response(ResultDetailSerializer(result, context={"arrays": arrays}).data)


class SegmentationResultExportApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(EXPORT_KINDS))],
        responses={
            200: OpenApiResponse(description="The file (local storage)"),
            302: OpenApiResponse(description="Redirect to a presigned URL (S3)"),
        },
    )
    def get(self, request, result_id, kind):
        result = selectors.result_get(user=request.user, result_id=result_id)
        if kind not in EXPORT_KINDS:
            raise NotFound(f"Unknown export '{kind}'; use one of {', '.join(EXPORT_KINDS)}.")
        key = result.artefacts.get(kind)
        if not key:
            raise NotFound(f"This result has no {kind} export.")
        return storage.download_response(
            key, filename=export_filename(result, kind), content_type=EXPORT_KINDS[kind]
        )


class SegmentationResultThumbnailApi(APIView):
    @extend_schema(
        parameters=[ThumbnailQuerySerializer],
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        description="The chip map as a small PNG in the result's class colours (long side at "
        "most `size` px), e.g. for lists of results.",
    )
    def get(self, request, result_id):
        query = valid(ThumbnailQuerySerializer, request.query_params)
        result = selectors.result_get(user=request.user, result_id=result_id)
        labels = selectors.result_arrays(result=result)["labels"]
        response = HttpResponse(
            exports.thumbnail_png(labels, result.classes, size=query["size"]),
            content_type="image/png",
        )
        response["Cache-Control"] = "private, max-age=86400"  # a result never changes
        return response


class ImageResultListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    @extend_schema(
        responses=ResultSerializer(many=True),
        description="Every segmentation of this image, newest first.",
    )
    def get(self, request, image_id):
        results = selectors.results_of_image(user=request.user, image_id=image_id)
        return paginated(request, self, results, ResultSerializer)


class PublishedResultRederiveApi(APIView):
    throttle_scope = "rederive"  # per client address: CHIPLAB_REDERIVE_RATE

    @extend_schema(
        request=None,
        responses={
            200: RederiveReportSerializer,
            409: OpenApiResponse(description="model, file or image of the version unavailable"),
            413: OpenApiResponse(description="more pixels than CHIPLAB_REDERIVE_MAX_PIXELS"),
        },
        description="Re-run a result of a published dataset version from the version's "
        "provenance alone (frozen originals, support set, model version, parameters) and "
        "report whether the chip labels, the pixel mask and the fractions are bit-identical.",
    )
    def post(self, request, version_id, result_id):
        # heavy dependency: re-deriving runs the segmentation (torch); importing it here keeps
        # torch off every other request's import path (each web worker would load it at start)
        from . import rederive

        version = dataset_version_get(user=request.user, version_id=version_id)
        report = rederive.result_rederive(version=version, result_id=str(result_id))
        return Response(RederiveReportSerializer(report).data)
