from django.urls import path

from . import apis, archive_apis, search_apis

urlpatterns = [
    path("licences/", apis.LicenceListApi.as_view(), name="licence-list"),
    path("datasets/", apis.DatasetListApi.as_view(), name="dataset-list"),
    path("datasets/<uuid:dataset_id>/", apis.DatasetDetailApi.as_view(), name="dataset-detail"),
    path(
        "datasets/<uuid:dataset_id>/jsonld", apis.DatasetJsonLdApi.as_view(), name="dataset-jsonld"
    ),
    path(
        "datasets/<uuid:dataset_id>/images/",
        apis.DatasetImageListApi.as_view(),
        name="dataset-images",
    ),
    path(
        "datasets/<uuid:dataset_id>/uploads/",
        apis.DirectUploadListApi.as_view(),
        name="dataset-uploads",
    ),
    path(
        "datasets/<uuid:dataset_id>/uploads/<uuid:upload_id>/",
        apis.DirectUploadDetailApi.as_view(),
        name="dataset-upload-detail",
    ),
    path(
        "datasets/<uuid:dataset_id>/uploads/<uuid:upload_id>/commit",
        apis.DirectUploadCommitApi.as_view(),
        name="dataset-upload-commit",
    ),
    path(
        "datasets/<uuid:dataset_id>/imports/",
        apis.DatasetImportApi.as_view(),
        name="dataset-imports",
    ),
    path(
        "datasets/<uuid:dataset_id>/versions/",
        apis.DatasetVersionListApi.as_view(),
        name="dataset-versions",
    ),
    path(
        "datasets/<uuid:dataset_id>/versions/latest",
        apis.DatasetVersionLatestApi.as_view(),
        name="dataset-version-latest",
    ),
    path(
        "dataset-versions/<uuid:version_id>/",
        apis.DatasetVersionDetailApi.as_view(),
        name="dataset-version-detail",
    ),
    path(
        "dataset-versions/<uuid:version_id>/jsonld",
        apis.DatasetVersionJsonLdApi.as_view(),
        name="dataset-version-jsonld",
    ),
    path(
        "dataset-versions/<uuid:version_id>/ro-crate-metadata.json",
        apis.DatasetVersionCrateMetadataApi.as_view(),
        name="dataset-version-crate-metadata",
    ),
    path(
        "dataset-versions/<uuid:version_id>/ro-crate.zip",
        apis.DatasetVersionCrateApi.as_view(),
        name="dataset-version-crate",
    ),
    path(
        "dataset-versions/<uuid:version_id>/datacite.json",
        apis.DatasetVersionDataCiteApi.as_view(),
        name="dataset-version-datacite",
    ),
    path(
        "dataset-versions/<uuid:version_id>/doi",
        apis.DatasetVersionDoiApi.as_view(),
        name="dataset-version-doi",
    ),
    path(
        "dataset-versions/<uuid:version_id>/citation.json",
        apis.DatasetVersionCitationCslApi.as_view(),
        name="dataset-version-citation-csl",
    ),
    path(
        "dataset-versions/<uuid:version_id>/citation.bib",
        apis.DatasetVersionCitationBibTeXApi.as_view(),
        name="dataset-version-citation-bibtex",
    ),
    path("search/", search_apis.SearchApi.as_view(), name="search"),
    path(
        "dataset-archives/",
        archive_apis.DatasetArchiveImportApi.as_view(),
        name="dataset-archive-import",
    ),
    path("images/<uuid:image_id>/", apis.ImageDetailApi.as_view(), name="image-detail"),
    path(
        "images/<uuid:image_id>/annotations",
        search_apis.ImageAnnotationsApi.as_view(),
        name="image-annotations",
    ),
    path("images/<uuid:image_id>/original", apis.ImageOriginalApi.as_view(), name="image-original"),
    path("images/<uuid:image_id>/ome-zarr", apis.ImageOmeZarrApi.as_view(), name="image-ome-zarr"),
    path("images/<uuid:image_id>/preview", apis.ImagePreviewApi.as_view(), name="image-preview"),
    path("images/<uuid:image_id>/tiles", apis.ImageTilesApi.as_view(), name="image-tiles"),
    path(
        "images/<uuid:image_id>/tiles/<int:z>/<int:row>/<int:col>",
        apis.ImageTileApi.as_view(),
        name="image-tile",
    ),
    path(
        "images/<uuid:image_id>/thumbnail", apis.ImageThumbnailApi.as_view(), name="image-thumbnail"
    ),
]
