"""Routes of the publishing app (filled as modules move here from catalog)."""

from django.urls import path

from .apis import archive, search, versions

urlpatterns = [
    path(
        "dataset-archives/",
        archive.DatasetArchiveImportApi.as_view(),
        name="dataset-archive-import",
    ),
    path(
        "dataset-archives/<uuid:import_id>/",
        archive.DatasetArchiveImportDetailApi.as_view(),
        name="dataset-archive-import-detail",
    ),
    path(
        "datasets/<uuid:dataset_id>/jsonld",
        versions.DatasetJsonLdApi.as_view(),
        name="dataset-jsonld",
    ),
    path(
        "datasets/<uuid:dataset_id>/versions/",
        versions.DatasetVersionListApi.as_view(),
        name="dataset-versions",
    ),
    path(
        "datasets/<uuid:dataset_id>/versions/latest",
        versions.DatasetVersionLatestApi.as_view(),
        name="dataset-version-latest",
    ),
    path(
        "dataset-versions/<uuid:version_id>/",
        versions.DatasetVersionDetailApi.as_view(),
        name="dataset-version-detail",
    ),
    path(
        "dataset-versions/<uuid:version_id>/jsonld",
        versions.DatasetVersionJsonLdApi.as_view(),
        name="dataset-version-jsonld",
    ),
    path(
        "dataset-versions/<uuid:version_id>/ro-crate-metadata.json",
        versions.DatasetVersionCrateMetadataApi.as_view(),
        name="dataset-version-crate-metadata",
    ),
    path(
        "dataset-versions/<uuid:version_id>/ro-crate.zip",
        versions.DatasetVersionCrateApi.as_view(),
        name="dataset-version-crate",
    ),
    path(
        "dataset-versions/<uuid:version_id>/datacite.json",
        versions.DatasetVersionDataCiteApi.as_view(),
        name="dataset-version-datacite",
    ),
    path(
        "dataset-versions/<uuid:version_id>/doi",
        versions.DatasetVersionDoiApi.as_view(),
        name="dataset-version-doi",
    ),
    path(
        "dataset-versions/<uuid:version_id>/citation.json",
        versions.DatasetVersionCitationCslApi.as_view(),
        name="dataset-version-citation-csl",
    ),
    path(
        "dataset-versions/<uuid:version_id>/citation.bib",
        versions.DatasetVersionCitationBibTeXApi.as_view(),
        name="dataset-version-citation-bibtex",
    ),
    path("search/", search.SearchApi.as_view(), name="search"),
]
