from django.urls import path

from . import apis

urlpatterns = [
    path("models/", apis.ModelListApi.as_view(), name="model-list"),
    path("models/<str:name>/", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("models/<str:name>/rollback", apis.ModelRollbackApi.as_view(), name="model-rollback"),
    path("model-versions/", apis.ModelVersionListApi.as_view(), name="model-version-list"),
    path(
        "model-versions/<uuid:version_id>/",
        apis.ModelVersionDetailApi.as_view(),
        name="model-version-detail",
    ),
    path(
        "model-versions/<uuid:version_id>/promote",
        apis.ModelVersionPromoteApi.as_view(),
        name="model-version-promote",
    ),
    path(
        "model-versions/<uuid:version_id>/download",
        apis.ModelVersionDownloadApi.as_view(),
        name="model-version-download",
    ),
    path("labs/<uuid:lab_id>/champion", apis.LabChampionApi.as_view(), name="lab-champion"),
    path(
        "labs/<uuid:lab_id>/model-versions/import",
        apis.ModelImportApi.as_view(),
        name="model-version-import",
    ),
    path(
        "labs/<uuid:lab_id>/training-jobs/",
        apis.TrainingJobListApi.as_view(),
        name="training-job-list",
    ),
    path(
        "training-jobs/<uuid:job_id>/",
        apis.TrainingJobDetailApi.as_view(),
        name="training-job-detail",
    ),
    path(
        "training-jobs/<uuid:job_id>/cancel",
        apis.TrainingJobCancelApi.as_view(),
        name="training-job-cancel",
    ),
]
