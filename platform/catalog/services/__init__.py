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
    _image_prefix,
    embeddings_prefixes,
    frame_preview_key,
)
from .originals import local_copy, original_path, original_pixels, pixels_decode
from .uploads import _probe, _refuse_duplicate, check_upload_size, image_register, image_upload

# _image_prefix, _probe and _refuse_duplicate: the storage layout and an upload's checks, shared
# with the direct uploads (catalog.direct), the tiles and dataset archives (publishing.archive)
__all__ = [
    "MAX_FRAME_PREVIEWS",
    "_image_prefix",
    "_probe",
    "_refuse_duplicate",
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
    "image_register",
    "image_upload",
    "local_copy",
    "original_path",
    "original_pixels",
    "pixels_decode",
]
