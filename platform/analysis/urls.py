from django.urls import path

from . import apis

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
        "images/<uuid:image_id>/results/", apis.ImageResultListApi.as_view(), name="image-results"
    ),
    path(
        "dataset-versions/<uuid:version_id>/results/<uuid:result_id>/rederive",
        apis.PublishedResultRederiveApi.as_view(),
        name="dataset-version-result-rederive",
    ),
]
