"""API of the dataset results table (and its CSV), result comparisons and the jobs overview."""

import re
from types import SimpleNamespace

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import LimitOffsetPagination, paginated, valid

from .batch_serializers import (
    ComparisonSerializer,
    DatasetResultsQuerySerializer,
    DatasetResultsSerializer,
    JobOverviewQuerySerializer,
    JobOverviewSerializer,
)
from .comparisons import results_compare
from .dataset_results import dataset_results, dataset_results_csv
from .job_overview import jobs_overview

_TABLE_PARAMETERS = [
    OpenApiParameter("q", str, description="file name contains (case-insensitive)"),
    OpenApiParameter("results", str, enum=["all", "with", "without"]),
    OpenApiParameter(
        "sort", str, description=DatasetResultsQuerySerializer().fields["sort"].help_text
    ),
]


class DatasetResultsApi(APIView):
    @extend_schema(
        parameters=[
            *_TABLE_PARAMETERS,
            OpenApiParameter("limit", int, description="rows per page (default 100, at most 1000)"),
            OpenApiParameter("offset", int),
        ],
        responses={
            200: DatasetResultsSerializer,
            413: OpenApiResponse(description="too many images"),
        },
        description="Per image of the dataset its latest succeeded result (frame 0): class "
        "fractions with their interval, chips and objects per class; and per class the mean "
        "fraction over the filtered images with its spread. Lab members only.",
    )
    def get(self, request, dataset_id):
        query = valid(DatasetResultsQuerySerializer, request.query_params)
        table = dataset_results(user=request.user, dataset_id=dataset_id, **query)
        paginator = LimitOffsetPagination()
        paginator.default_limit = 100
        page = paginator.paginate_queryset(table.rows, request, view=self)
        data = SimpleNamespace(
            dataset=table.dataset,
            count=len(table.rows),
            next=paginator.get_next_link(),
            previous=paginator.get_previous_link(),
            classes=table.classes,
            aggregate=table.aggregate,
            page=page,
        )
        return Response(DatasetResultsSerializer(data).data)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60].lower() or "dataset"


class DatasetResultsCsvApi(APIView):
    @extend_schema(
        operation_id="datasets_results_csv_retrieve",
        parameters=_TABLE_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description="The whole filtered, sorted table as CSV: one line per image and class "
        "(image, file name, result, job, created, model version, mean confidence, class, "
        "fraction, its interval and s.d., chips, objects); cells that a spreadsheet would "
        "read as a formula are quoted.",
    )
    def get(self, request, dataset_id):
        query = valid(DatasetResultsQuerySerializer, request.query_params)
        table = dataset_results(user=request.user, dataset_id=dataset_id, **query)
        response = HttpResponse(dataset_results_csv(table), content_type="text/csv; charset=utf-8")
        name = f"{_slug(table.dataset.title)}-{str(table.dataset.pk)[:8]}-results.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class ResultCompareApi(APIView):
    @extend_schema(
        responses=ComparisonSerializer,
        description="Two results of one image: the map of chips (same grid) or pixels "
        "(different grids) whose class differs, their count, a confusion table and the "
        "fraction of each class in both with the difference (b - a).",
    )
    def get(self, request, result_id, other_id):
        comparison = results_compare(user=request.user, result_a_id=result_id, result_b_id=other_id)
        return Response(ComparisonSerializer(comparison).data)


class JobOverviewApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    @extend_schema(
        parameters=[
            OpenApiParameter("who", str, enum=["me", "lab"], description="default me"),
            OpenApiParameter("dataset", OpenApiTypes.UUID),
            OpenApiParameter("status", str, description="one or more statuses, comma-separated"),
        ],
        responses=JobOverviewSerializer(many=True),
        description="Your segmentation jobs across images and datasets, newest first: "
        "status, images (the first few, and how many), datasets, times and duration.",
    )
    def get(self, request):
        query = valid(JobOverviewQuerySerializer, request.query_params)
        jobs = jobs_overview(
            user=request.user,
            who=query["who"],
            statuses=query.get("status"),
            dataset_id=query.get("dataset"),
        )
        return paginated(request, self, jobs, JobOverviewSerializer)
