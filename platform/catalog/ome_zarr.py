"""An image's original pixels as OME-Zarr (OME-NGFF 0.4) in one zip file, with its physical
pixel size, seconds per frame and provenance: for napari, ome-zarr-py, Fiji or QuPath.

The pixels are the decoded original's, every frame, in their own data type (what the
segmentation reads), not the preview's 8-bit stretch. Results have their own OME-Zarr, with
the label maps (``analysis.exports.mask_ome_zarr``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
from django.conf import settings

from common import ngff
from common.errors import NotFound

from .models import Image, ImageStatus
from .services import original_pixels

IMAGE_KEY = "chiplab:image"


def image_ome_zarr(image: Image) -> BinaryIO:
    """The OME-Zarr zip of ``image`` as an open file (already unlinked from the disk: closing
    it frees the space)."""
    if image.status != ImageStatus.READY:
        raise NotFound(f"No OME-Zarr yet: the image is {image.status}.", code="not_ready")
    data = original_pixels(image)
    frame_seconds = (image.instrument or {}).get("frame_time_s")
    attributes = {
        **ngff.multiscales(
            Path(image.original_filename).stem,
            pixel_size=image.pixel_size,
            pixel_unit=image.pixel_unit,
            frames=1 if data.ndim == 2 else int(data.shape[0]),
            frame_seconds=frame_seconds if isinstance(frame_seconds, int | float) else None,
        ),
        IMAGE_KEY: {
            "id": str(image.pk),
            "dataset": str(image.dataset_id),
            "filename": image.original_filename,
            "sha256": image.sha256,
            "format": image.format,
            "pixel_size": image.pixel_size,
            "pixel_unit": image.pixel_unit,
        },
    }
    fd, name = tempfile.mkstemp(
        prefix="chiplab-zarr-", suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR
    )
    os.close(fd)
    try:
        with ngff.zip_root(name, attributes) as root:
            ngff.add_array(
                root, np.ascontiguousarray(data), fill=0, compressor=ngff.fast_compressor()
            )
        handle = open(name, "rb")  # noqa: SIM115  (returned open: the response closes it)
    finally:
        os.unlink(name)
    return handle
