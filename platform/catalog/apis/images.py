"""Images: details and calibration, the original, OME-Zarr, preview, thumbnail and tiles."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common import storage
from common.apis import valid
from common.errors import Invalid, NotFound

from .. import ome_zarr, selectors, services, tiles
from ..models import ImageStatus
from ..serializers import ImageCalibrationSerializer, ImageDetailSerializer, TilesIndexSerializer


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


DOWNLOAD_RESPONSES = {
    200: OpenApiResponse(description="The file (local storage)"),
    302: OpenApiResponse(description="Redirect to a short-lived presigned URL (S3)"),
}


DOWNLOAD = extend_schema(responses=DOWNLOAD_RESPONSES)


class ImageOriginalApi(APIView):
    permission_classes = [AllowAny]

    @DOWNLOAD
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

    @DOWNLOAD
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
        responses=DOWNLOAD_RESPONSES,
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

    @extend_schema(operation_id="images_tile_retrieve", responses=DOWNLOAD_RESPONSES)
    def get(self, request, image_id, z, row, col):
        image = selectors.image_get(user=request.user, image_id=image_id)
        key = tiles.tile_get_key(image, z, row, col)
        stem = image.original_filename.rsplit(".", 1)[0]
        return storage.download_response(
            key, filename=f"{stem}.tile-z{z}-{row}-{col}.png", content_type="image/png"
        )
