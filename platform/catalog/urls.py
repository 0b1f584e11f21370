from django.urls import path

from .apis import annotations, datasets, images, uploads

urlpatterns = [
    path("licences/", datasets.LicenceListApi.as_view(), name="licence-list"),
    path("datasets/", datasets.DatasetListApi.as_view(), name="dataset-list"),
    path("datasets/<uuid:dataset_id>/", datasets.DatasetDetailApi.as_view(), name="dataset-detail"),
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
    path("images/<uuid:image_id>/", images.ImageDetailApi.as_view(), name="image-detail"),
    path(
        "images/<uuid:image_id>/annotations",
        annotations.ImageAnnotationsApi.as_view(),
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
