from django.urls import path

from . import apis

urlpatterns = [
    path(
        "datasets/<uuid:dataset_id>/schemas/",
        apis.DatasetSchemaListApi.as_view(),
        name="dataset-schemas",
    ),
    path("schemas/<uuid:schema_id>/", apis.SchemaDetailApi.as_view(), name="schema-detail"),
    path(
        "schemas/<uuid:schema_id>/classes/",
        apis.SchemaClassListApi.as_view(),
        name="schema-classes",
    ),
    path("classes/<uuid:class_id>/", apis.ClassDetailApi.as_view(), name="class-detail"),
    path("images/<uuid:image_id>/grids/", apis.ImageGridListApi.as_view(), name="image-grids"),
    path(
        "images/<uuid:image_id>/chip-size-suggestion",
        apis.ChipSizeSuggestionApi.as_view(),
        name="image-chip-size-suggestion",
    ),
    path("grids/<uuid:grid_id>/", apis.GridDetailApi.as_view(), name="grid-detail"),
    path("grids/<uuid:grid_id>/votes/", apis.GridVoteApi.as_view(), name="grid-votes"),
    path("grids/<uuid:grid_id>/support", apis.GridSupportApi.as_view(), name="grid-support"),
    path("grids/<uuid:grid_id>/carry", apis.GridCarryApi.as_view(), name="grid-carry"),
    path(
        "grids/<uuid:grid_id>/next-chips", apis.GridNextChipsApi.as_view(), name="grid-next-chips"
    ),
    path("grids/<uuid:grid_id>/gold/", apis.GridGoldApi.as_view(), name="grid-gold"),
    path("grids/<uuid:grid_id>/import", apis.GridImportApi.as_view(), name="grid-import"),
    path(
        "schemas/<uuid:schema_id>/versions/",
        apis.SchemaVersionListApi.as_view(),
        name="schema-versions",
    ),
    path(
        "support-sets/<uuid:version_id>/",
        apis.SupportSetDetailApi.as_view(),
        name="support-set-detail",
    ),
    path(
        "schemas/<uuid:schema_id>/agreement",
        apis.SchemaAgreementApi.as_view(),
        name="schema-agreement",
    ),
    path(
        "schemas/<uuid:schema_id>/crowd-task",
        apis.CrowdTaskNextApi.as_view(),
        name="schema-crowd-task",
    ),
    path("crowd-tasks/answer", apis.CrowdTaskAnswerApi.as_view(), name="crowd-task-answer"),
    path("images/<uuid:image_id>/classes", apis.ImageClassesApi.as_view(), name="image-classes"),
    path("schemas/<uuid:schema_id>/review", apis.SchemaReviewApi.as_view(), name="schema-review"),
]
