"""Catalog API: datasets, image upload, metadata, downloads and JSON-LD."""

import json

from django.db.models import Count
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import lab_get
from common import storage
from common.apis import LimitOffsetPagination, paginated, valid
from common.errors import Invalid, NotFound

from . import (
    citation,
    datacite,
    direct,
    ome_zarr,
    rocrate,
    selectors,
    services,
    tiles,
    versions,
)
from .fair import dataset_jsonld, version_jsonld
from .licences import LICENCES
from .models import DirectUploadStatus, ImageStatus
from .serializers import (
    DatasetCreateSerializer,
    DatasetImportResultSerializer,
    DatasetImportSerializer,
    DatasetSerializer,
    DatasetVersionCreateSerializer,
    DatasetVersionSerializer,
    DatasetWriteSerializer,
    DirectUploadCreateSerializer,
    DirectUploadListSerializer,
    DirectUploadSerializer,
    ImageCalibrationSerializer,
    ImageDetailSerializer,
    ImageSerializer,
    ImageUploadSerializer,
    LicenceSerializer,
    TilesIndexSerializer,
)


class LicenceListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=LicenceSerializer(many=True))
    def get(self, request):
        return Response([{"id": k, "name": v} for k, v in LICENCES.items()])


class DatasetListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("lab", str, description="Only datasets of this lab (id)")],
        responses=DatasetSerializer(many=True),
    )
    def get(self, request):
        datasets = selectors.datasets_visible_to(user=request.user).annotate(
            n_images=Count("images")
        )
        if lab := request.query_params.get("lab"):
            datasets = datasets.filter(lab_id=lab_get(user=request.user, lab_id=lab).pk)
        return paginated(request, self, datasets, DatasetSerializer)

    @extend_schema(request=DatasetCreateSerializer, responses={201: DatasetSerializer})
    def post(self, request):
        if not request.user.is_authenticated:
            raise NotFound("Lab not found.")
        data = valid(DatasetCreateSerializer, request.data)
        lab = lab_get(user=request.user, lab_id=data.pop("lab"))
        dataset = services.dataset_create(user=request.user, lab=lab, **data)
        return Response(
            DatasetSerializer(dataset, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class DatasetDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        return Response(DatasetSerializer(dataset, context={"request": request}).data)

    @extend_schema(request=DatasetWriteSerializer, responses=DatasetSerializer)
    def patch(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DatasetWriteSerializer, request.data, partial=True)
        dataset = services.dataset_update(user=request.user, dataset=dataset, **data)
        return Response(DatasetSerializer(dataset, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        services.dataset_delete(user=request.user, dataset=dataset)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetJsonLdApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description="schema.org Dataset JSON-LD")})
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        return Response(dataset_jsonld(dataset, request), content_type="application/ld+json")


class DatasetImageListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser, FormParser]  # the upload: a file

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=ImageStatus.values)],
        responses=ImageSerializer(many=True),
    )
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        images = dataset.images.all()
        if image_status := request.query_params.get("status"):
            if image_status not in ImageStatus.values:
                raise Invalid(
                    f"status: {image_status!r} is not one of {', '.join(ImageStatus.values)}.",
                    fields={"status": ["invalid_choice"]},
                )
            images = images.filter(status=image_status)
        return paginated(request, self, images, ImageSerializer)

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer}, responses={201: ImageSerializer}
    )
    def post(self, request, dataset_id):
        if not request.user.is_authenticated:
            raise NotFound("Dataset not found.")
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise Invalid(
                "Send the micrograph as a multipart field named 'file'.",
                code="no_file",
                fields={"file": ["required"]},
            )
        image = services.image_upload(user=request.user, dataset=dataset, upload=upload)
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)


class ImageDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=ImageDetailSerializer)
    def get(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        return Response(ImageDetailSerializer(image).data)

    @extend_schema(
        request=ImageCalibrationSerializer,
        responses=ImageDetailSerializer,
        description="Set the pixel size by hand (curators), e.g. from the scale bar of a "
        "JPEG or PNG export; ``pixel_size: null`` goes back to the file's own calibration.",
    )
    def patch(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        data = valid(ImageCalibrationSerializer, request.data, partial=True)
        if "pixel_size" in data:  # nothing sent: nothing changes
            image = services.image_calibrate(
                user=request.user,
                image=image,
                pixel_size=data["pixel_size"],
                pixel_unit=data.get("pixel_unit", "nm"),
            )
        return Response(ImageDetailSerializer(image).data)

    @extend_schema(responses={204: None})
    def delete(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        services.image_delete(user=request.user, image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)


_DOWNLOAD_RESPONSES = {
    200: OpenApiResponse(description="The file (local storage)"),
    302: OpenApiResponse(description="Redirect to a short-lived presigned URL (S3)"),
}
_DOWNLOAD = extend_schema(responses=_DOWNLOAD_RESPONSES)


class ImageOriginalApi(APIView):
    permission_classes = [AllowAny]

    @_DOWNLOAD
    def get(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        return storage.download_response(image.original_key, filename=image.original_filename)


class ImageOmeZarrApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="images_ome_zarr_retrieve",
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        description="The original's pixels (every frame, their own data type) as OME-Zarr "
        "(OME-NGFF 0.4, one zip: a zarr ZipStore) with the physical pixel size and seconds "
        "per frame, for napari, ome-zarr-py, Fiji or QuPath.",
    )
    def get(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        stem = image.original_filename.rsplit(".", 1)[0]
        return FileResponse(
            ome_zarr.image_ome_zarr(image),
            as_attachment=True,
            filename=f"{stem}.ome.zarr.zip",
            content_type="application/zip",
        )


class _DerivedImageApi(APIView):
    permission_classes = [AllowAny]
    key_field = ""
    suffix = ""

    @_DOWNLOAD
    def get(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        return self.serve(image, getattr(image, self.key_field), self.suffix)

    def serve(self, image, key: str, name: str):
        """Stream (or redirect to) the PNG at ``key``, downloaded as ``<stem>.<name>.png``."""
        if image.status != ImageStatus.READY or not key:
            raise NotFound(f"No {self.suffix} yet: the image is {image.status}.", code="not_ready")
        stem = image.original_filename.rsplit(".", 1)[0]
        return storage.download_response(
            key, filename=f"{stem}.{name}.png", content_type="image/png"
        )


class ImagePreviewApi(_DerivedImageApi):
    key_field, suffix = "preview_key", "preview"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "frame",
                int,
                description="Frame of a time series (default 0). Previews exist for the first "
                f"{services.MAX_FRAME_PREVIEWS} frames.",
            )
        ],
        responses=_DOWNLOAD_RESPONSES,
    )
    def get(self, request, image_id):
        raw = request.query_params.get("frame", "0")
        try:
            frame = int(raw)
        except ValueError:
            raise Invalid(
                f"frame: {raw!r} is not a frame number.", fields={"frame": ["invalid"]}
            ) from None
        image = selectors.image_get(user=request.user, image_id=image_id)
        if frame == 0:
            return self.serve(image, image.preview_key, self.suffix)
        if not 0 <= frame < image.frames:
            raise Invalid(
                f"Frame {frame} is out of range: the image has {image.frames} frame(s).",
                fields={"frame": ["out_of_range"]},
            )
        if image.status == ImageStatus.READY and frame >= image.preview_frames:
            raise NotFound(
                f"Frame {frame} has no preview: previews are made for the first "
                f"{image.preview_frames} frames.",
                code="no_frame_preview",
            )
        return self.serve(image, services.frame_preview_key(image, frame), f"frame{frame}.preview")


class ImageThumbnailApi(_DerivedImageApi):
    key_field, suffix = "thumbnail_key", "thumbnail"


class ImageTilesApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="images_tiles_index",
        responses=TilesIndexSerializer,
        description="Full-resolution tiles of frame 0 for images larger than the preview: the "
        "tile size and each level (z: downscaled by 2^z) with its size and tile rows/cols. "
        "No levels: the preview already has every pixel.",
    )
    def get(self, request, image_id):
        image = selectors.image_get(user=request.user, image_id=image_id)
        return Response(TilesIndexSerializer(tiles.tiles_index(image)).data)


class ImageTileApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="images_tile_retrieve", responses=_DOWNLOAD_RESPONSES)
    def get(self, request, image_id, z, row, col):
        image = selectors.image_get(user=request.user, image_id=image_id)
        key = tiles.tile_get_key(image, z, row, col)
        stem = image.original_filename.rsplit(".", 1)[0]
        return storage.download_response(
            key, filename=f"{stem}.tile-z{z}-{row}-{col}.png", content_type="image/png"
        )


# --- dataset versions ------------------------------------------------------------------
class DatasetVersionListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetVersionSerializer(many=True))
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        found = selectors.dataset_versions_visible_to(user=request.user).filter(dataset=dataset)
        return paginated(request, self, found, DatasetVersionSerializer)

    @extend_schema(
        request=DatasetVersionCreateSerializer,
        responses={201: DatasetVersionSerializer},
        description="Publish the next version (curators): the dataset's metadata, licence and "
        "ready images as they are now, with the chosen frozen support sets and results. A "
        "version never changes; a correction is a new version.",
    )
    def post(self, request, dataset_id):
        if not request.user.is_authenticated:
            raise NotFound("Dataset not found.")
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DatasetVersionCreateSerializer, request.data)
        version = versions.dataset_version_create(user=request.user, dataset=dataset, **data)
        return Response(
            DatasetVersionSerializer(version, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class DatasetVersionLatestApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetVersionSerializer, description="The latest version.")
    def get(self, request, dataset_id):
        version = selectors.dataset_version_latest(user=request.user, dataset_id=dataset_id)
        return Response(DatasetVersionSerializer(version, context={"request": request}).data)


class DatasetVersionDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetVersionSerializer)
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(DatasetVersionSerializer(version, context={"request": request}).data)


class DatasetVersionJsonLdApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description="schema.org Dataset JSON-LD")})
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(version_jsonld(version, request), content_type="application/ld+json")


class DatasetVersionCrateMetadataApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_crate_metadata_retrieve",
        responses={200: OpenApiResponse(description="The crate's ro-crate-metadata.json")},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(rocrate.metadata(version, request), content_type="application/ld+json")


class DatasetVersionCrateApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_crate_retrieve",
        responses={200: OpenApiResponse(description="The RO-Crate 1.2 package (zip, streamed)")},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        response = StreamingHttpResponse(
            rocrate.zip_stream(version, request), content_type="application/zip"
        )
        stem = "".join(c if c.isalnum() else "-" for c in version.title)[:60].strip("-")
        name = f"{stem or 'dataset'}-v{version.number}.crate.zip"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Content-Size-Hint"] = str(rocrate.zip_size_hint(version))
        return response


# --- DOIs and citations (catalog.datacite, catalog.citation) -------------------------------
class BibTeXRenderer(BaseRenderer):
    media_type = "application/x-bibtex"
    format = "bib"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # errors reach here as the API's error body when a client asked for BibTeX only
        return data if isinstance(data, str) else json.dumps(data)


class DatasetVersionDataCiteApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_datacite_retrieve",
        responses={
            200: OpenApiResponse(
                description="DataCite metadata (the REST API's JSON attributes, kernel-4)"
            )
        },
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(datacite.version_datacite(version, request))


class DatasetVersionDoiApi(APIView):
    @extend_schema(
        operation_id="dataset_versions_doi_create",
        request=None,
        responses={200: DatasetVersionSerializer},
        description="Register the version's DOI with DataCite and make it findable "
        "(curators; versions of public datasets). 409 `doi_not_configured` when the server "
        "has no DataCite account, 409 `has_doi` when it has one, 502 when DataCite refuses "
        "(a retry registers the same DOI).",
    )
    def post(self, request, version_id):
        if not request.user.is_authenticated:
            raise NotFound("Dataset version not found.")
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        version = datacite.dataset_version_doi_mint(
            user=request.user, version=version, request=request
        )
        return Response(DatasetVersionSerializer(version, context={"request": request}).data)


class DatasetVersionCitationCslApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_citation_csl_retrieve",
        responses={200: OpenApiResponse(description="CSL-JSON (a list of one item)")},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(
            [citation.version_csl(version, request)],
            content_type="application/vnd.citationstyles.csl+json",
        )


class DatasetVersionCitationBibTeXApi(APIView):
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, BibTeXRenderer]

    @extend_schema(
        operation_id="dataset_versions_citation_bibtex_retrieve",
        responses={(200, "application/x-bibtex"): OpenApiTypes.STR},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return HttpResponse(
            citation.version_bibtex(version, request),
            content_type="application/x-bibtex; charset=utf-8",
        )


# --- direct upload to the object store and import in place (catalog.direct) ----------------
class DirectUploadListApi(APIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=DirectUploadStatus.values)],
        responses=DirectUploadListSerializer(many=True),
        description="The dataset's direct uploads (curators), newest first.",
    )
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        uploads = direct.direct_uploads_of(user=request.user, dataset=dataset)
        if upload_status := request.query_params.get("status"):
            if upload_status not in DirectUploadStatus.values:
                raise Invalid(
                    f"status: {upload_status[:20]!r} is not one of "
                    f"{', '.join(DirectUploadStatus.values)}.",
                    fields={"status": ["invalid_choice"]},
                )
            uploads = uploads.filter(status=upload_status)
        return paginated(request, self, uploads, DirectUploadListSerializer)

    @extend_schema(
        request=DirectUploadCreateSerializer,
        responses={201: DirectUploadSerializer},
        description="Start a direct upload (S3 stores only; curators): PUT each part's bytes "
        "to its presigned URL, then commit. 409 `needs_s3` on a server that keeps files on "
        "its disk; 413 above CHIPLAB_DIRECT_UPLOAD_MAX_BYTES.",
    )
    def post(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DirectUploadCreateSerializer, request.data)
        upload = direct.direct_upload_create(user=request.user, dataset=dataset, **data)
        state = direct.direct_upload_state(user=request.user, upload=upload)
        return Response(DirectUploadSerializer(state).data, status=status.HTTP_201_CREATED)


class DirectUploadDetailApi(APIView):
    @extend_schema(
        responses=DirectUploadSerializer,
        description="The upload, the parts received and fresh URLs for the missing ones "
        "(to resume).",
    )
    def get(self, request, dataset_id, upload_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = direct.direct_upload_get(user=request.user, dataset=dataset, upload_id=upload_id)
        state = direct.direct_upload_state(user=request.user, upload=upload)
        return Response(DirectUploadSerializer(state).data)

    @extend_schema(responses={204: None}, description="Cancel the upload: its parts are deleted.")
    def delete(self, request, dataset_id, upload_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = direct.direct_upload_get(user=request.user, dataset=dataset, upload_id=upload_id)
        direct.direct_upload_abort(user=request.user, upload=upload)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectUploadCommitApi(APIView):
    @extend_schema(
        request=None,
        responses={201: ImageSerializer},
        description="Complete the upload, check its size and sha256, and make it an image "
        "(then ingested like an upload). 409 `missing_parts`: PUT them and commit again. "
        "400 `sha256_mismatch`/`size_mismatch` or a refused file: nothing is kept.",
    )
    def post(self, request, dataset_id, upload_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        upload = direct.direct_upload_get(user=request.user, dataset=dataset, upload_id=upload_id)
        image = direct.direct_upload_commit(user=request.user, upload=upload)
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)


class DatasetImportApi(APIView):
    @extend_schema(
        request=DatasetImportSerializer,
        responses=DatasetImportResultSerializer,
        description="Import in place (curators; S3 stores only): every object under a prefix "
        "becomes an image, checked like an upload; errors are listed per object. The "
        "platform's bucket is open under imports/<lab id>/, other buckets when the operator "
        "lists them in CHIPLAB_IMPORT_BUCKETS. 413 above CHIPLAB_IMPORT_MAX_OBJECTS objects.",
    )
    def post(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DatasetImportSerializer, request.data)
        result = direct.dataset_import_objects(
            user=request.user,
            dataset=dataset,
            bucket=data.get("bucket", ""),
            prefix=data["prefix"],
        )
        return Response(DatasetImportResultSerializer(result).data)
