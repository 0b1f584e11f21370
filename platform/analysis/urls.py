from django.urls import path

from . import apis, batch_apis, profile_apis, suggestion_apis

urlpatterns = [
    path("segmentation-jobs/", apis.SegmentationJobListApi.as_view(), name="segmentation-job-list"),
    path(
        "segmentation-jobs/<uuid:job_id>/",
        apis.SegmentationJobDetailApi.as_view(),
        name="segmentation-job-detail",
    ),
    path(
        "segmentation-jobs/<uuid:job_id>/cancel",
        apis.SegmentationJobCancelApi.as_view(),
        name="segmentation-job-cancel",
    ),
    path(
        "segmentation-jobs/<uuid:job_id>/rerun",
        apis.SegmentationJobRerunApi.as_view(),
        name="segmentation-job-rerun",
    ),
    path(
        "segmentation-results/<uuid:result_id>/",
        apis.SegmentationResultDetailApi.as_view(),
        name="segmentation-result-detail",
    ),
    path(
        "segmentation-results/<uuid:result_id>/export/<str:kind>",
        apis.SegmentationResultExportApi.as_view(),
        name="segmentation-result-export",
    ),
    path(
        "segmentation-results/<uuid:result_id>/profile",
        profile_apis.ResultProfileApi.as_view(),
        name="segmentation-result-profile",
    ),
    path(
        "segmentation-results/<uuid:result_id>/thumbnail",
        apis.SegmentationResultThumbnailApi.as_view(),
        name="segmentation-result-thumbnail",
    ),
    path(
        "images/<uuid:image_id>/results/", apis.ImageResultListApi.as_view(), name="image-results"
    ),
    path(
        "dataset-versions/<uuid:version_id>/results/<uuid:result_id>/rederive",
        apis.PublishedResultRederiveApi.as_view(),
        name="dataset-version-result-rederive",
    ),
    # batch and compare: the dataset results table, comparisons, the jobs overview
    path(
        "datasets/<uuid:dataset_id>/results/",
        batch_apis.DatasetResultsApi.as_view(),
        name="dataset-results",
    ),
    path(
        "datasets/<uuid:dataset_id>/results.csv",
        batch_apis.DatasetResultsCsvApi.as_view(),
        name="dataset-results-csv",
    ),
    path(
        "segmentation-results/<uuid:result_id>/compare/<uuid:other_id>",
        batch_apis.ResultCompareApi.as_view(),
        name="segmentation-result-compare",
    ),
    path(
        "segmentation-jobs/overview/",
        batch_apis.JobOverviewApi.as_view(),
        name="segmentation-job-overview",
    ),
    path(
        "grids/<uuid:grid_id>/next-chips",
        suggestion_apis.GridNextChipsApi.as_view(),
        name="grid-next-chips",
    ),
]
