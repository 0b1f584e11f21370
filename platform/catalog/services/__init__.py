"""Writes of datasets and images, one module per concern: ``datasets`` (create, update),
``uploads`` (validate, store bit-exact, register, enqueue ingest), ``ingest`` (metadata,
previews, tiles; calibration by hand), ``deletes`` (rows, then stored files after commit),
``originals`` (an original's bytes or decoded pixels) and ``keys`` (where files are stored).
"""

from .datasets import dataset_create, dataset_update
from .deletes import dataset_delete, image_delete
from .ingest import image_calibrate, image_ingest, image_mark_failed
from .keys import (
    MAX_FRAME_PREVIEWS,
    embeddings_prefixes,
    frame_preview_key,
    image_prefix,
)
from .originals import local_copy, original_path, original_pixels, pixels_decode
from .uploads import check_upload_size, image_register, image_upload, refuse_duplicate, upload_probe

__all__ = [
    "MAX_FRAME_PREVIEWS",
    "check_upload_size",
    "dataset_create",
    "dataset_delete",
    "dataset_update",
    "embeddings_prefixes",
    "frame_preview_key",
    "image_calibrate",
    "image_delete",
    "image_ingest",
    "image_mark_failed",
    "image_prefix",
    "image_register",
    "image_upload",
    "local_copy",
    "original_path",
    "original_pixels",
    "pixels_decode",
    "refuse_duplicate",
    "upload_probe",
]
