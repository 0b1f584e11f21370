from django.urls import path

from .apis import grids, quality, schemas, support, votes

urlpatterns = [
    path(
        "datasets/<uuid:dataset_id>/schemas/",
        schemas.DatasetSchemaListApi.as_view(),
        name="dataset-schemas",
    ),
    path("schemas/<uuid:schema_id>/", schemas.SchemaDetailApi.as_view(), name="schema-detail"),
    path(
        "schemas/<uuid:schema_id>/classes/",
        schemas.SchemaClassListApi.as_view(),
        name="schema-classes",
    ),
    path("classes/<uuid:class_id>/", schemas.ClassDetailApi.as_view(), name="class-detail"),
    path("images/<uuid:image_id>/grids/", grids.ImageGridListApi.as_view(), name="image-grids"),
    path(
        "images/<uuid:image_id>/chip-size-suggestion",
        grids.ChipSizeSuggestionApi.as_view(),
        name="image-chip-size-suggestion",
    ),
    path("grids/<uuid:grid_id>/", grids.GridDetailApi.as_view(), name="grid-detail"),
    path("grids/<uuid:grid_id>/votes/", votes.GridVoteApi.as_view(), name="grid-votes"),
    path("grids/<uuid:grid_id>/support", votes.GridSupportApi.as_view(), name="grid-support"),
    path("grids/<uuid:grid_id>/carry", grids.GridCarryApi.as_view(), name="grid-carry"),
    # grids/<id>/next-chips (grid-next-chips) is served by analysis: it reads results
    path("grids/<uuid:grid_id>/gold/", votes.GridGoldApi.as_view(), name="grid-gold"),
    path("grids/<uuid:grid_id>/import", votes.GridImportApi.as_view(), name="grid-import"),
    path(
        "schemas/<uuid:schema_id>/versions/",
        support.SchemaVersionListApi.as_view(),
        name="schema-versions",
    ),
    path(
        "support-sets/<uuid:version_id>/",
        support.SupportSetDetailApi.as_view(),
        name="support-set-detail",
    ),
    path(
        "schemas/<uuid:schema_id>/agreement",
        quality.SchemaAgreementApi.as_view(),
        name="schema-agreement",
    ),
    path(
        "schemas/<uuid:schema_id>/crowd-task",
        quality.CrowdTaskNextApi.as_view(),
        name="schema-crowd-task",
    ),
    path("crowd-tasks/answer", quality.CrowdTaskAnswerApi.as_view(), name="crowd-task-answer"),
    path("images/<uuid:image_id>/classes", schemas.ImageClassesApi.as_view(), name="image-classes"),
    path(
        "schemas/<uuid:schema_id>/review", quality.SchemaReviewApi.as_view(), name="schema-review"
    ),
]
