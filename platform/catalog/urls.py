from django.urls import path

from .apis import archive, datasets, images, search, uploads, versions

urlpatterns = [
    path("licences/", datasets.LicenceListApi.as_view(), name="licence-list"),
    path("datasets/", datasets.DatasetListApi.as_view(), name="dataset-list"),
    path("datasets/<uuid:dataset_id>/", datasets.DatasetDetailApi.as_view(), name="dataset-detail"),
    path(
        "datasets/<uuid:dataset_id>/jsonld",
        datasets.DatasetJsonLdApi.as_view(),
        name="dataset-jsonld",
    ),
    path(
        "datasets/<uuid:dataset_id>/images/",
        datasets.DatasetImageListApi.as_view(),
        name="dataset-images",
    ),
    path(
        "datasets/<uuid:dataset_id>/uploads/",
        uploads.DirectUploadListApi.as_view(),
        name="dataset-uploads",
    ),
    path(
        "datasets/<uuid:dataset_id>/uploads/<uuid:upload_id>/",
        uploads.DirectUploadDetailApi.as_view(),
        name="dataset-upload-detail",
    ),
    path(
        "datasets/<uuid:dataset_id>/uploads/<uuid:upload_id>/commit",
        uploads.DirectUploadCommitApi.as_view(),
        name="dataset-upload-commit",
    ),
    path(
        "datasets/<uuid:dataset_id>/imports/",
        uploads.DatasetImportApi.as_view(),
        name="dataset-imports",
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
    path(
        "dataset-archives/",
        archive.DatasetArchiveImportApi.as_view(),
        name="dataset-archive-import",
    ),
    path("images/<uuid:image_id>/", images.ImageDetailApi.as_view(), name="image-detail"),
    path(
        "images/<uuid:image_id>/annotations",
        search.ImageAnnotationsApi.as_view(),
        name="image-annotations",
    ),
    path(
        "images/<uuid:image_id>/original", images.ImageOriginalApi.as_view(), name="image-original"
    ),
    path(
        "images/<uuid:image_id>/ome-zarr", images.ImageOmeZarrApi.as_view(), name="image-ome-zarr"
    ),
    path("images/<uuid:image_id>/preview", images.ImagePreviewApi.as_view(), name="image-preview"),
    path("images/<uuid:image_id>/tiles", images.ImageTilesApi.as_view(), name="image-tiles"),
    path(
        "images/<uuid:image_id>/tiles/<int:z>/<int:row>/<int:col>",
        images.ImageTileApi.as_view(),
        name="image-tile",
    ),
    path(
        "images/<uuid:image_id>/thumbnail",
        images.ImageThumbnailApi.as_view(),
        name="image-thumbnail",
    ),
]
