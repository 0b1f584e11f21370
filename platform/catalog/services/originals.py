"""An image's original bytes as a local file, decoded pixels or a stream of decoded frames,
within the decoded-bytes budget; the one way apps decode an original."""

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from django.conf import settings

from common import storage

from .. import formats
from ..models import Image

_CHUNK = 1024 * 1024


@contextlib.contextmanager
def local_copy(src: BinaryIO, filename: str) -> Iterator[Path]:
    """A temporary local file holding ``src``'s bytes, with ``filename``'s suffix (the
    decoders go by it); removed on exit."""
    with tempfile.TemporaryDirectory(prefix="chiplab-") as tmp:
        path = Path(tmp) / f"original{Path(filename).suffix.lower()}"
        with path.open("wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        yield path


@contextlib.contextmanager
def _original_bytes(key: str) -> Iterator[BinaryIO]:
    """The stored object, read as it arrives: from S3 through the minio client (the default
    storage's S3 file first buffers the whole object in memory)."""
    if not storage.is_s3():
        with storage.open_(key) as src:
            yield src
        return
    response = storage.s3_client().get_object(storage.s3_bucket(), key)
    try:
        yield response
    finally:
        response.close()
        response.release_conn()


@contextlib.contextmanager
def original_path(image: Image) -> Iterator[Path]:
    """A local path to the original bytes (streamed to a temporary file from S3)."""
    with (
        _original_bytes(image.original_key) as src,
        local_copy(src, image.original_filename) as path,
    ):
        yield path


@contextlib.contextmanager
def original_frames(image: Image) -> Iterator[formats.FrameStream]:
    """The original's frames decoded one at a time (``formats.stream``), within the
    decoded-bytes budget; errors name the file by its original name."""
    with (
        original_path(image) as path,
        formats.stream(
            path,
            fmt=image.format,
            filename=image.original_filename,
            max_bytes=settings.CHIPLAB_MAX_DECODED_BYTES,
        ) as frames,
    ):
        yield frames


def pixels_decode(src: BinaryIO, *, filename: str, fmt: str) -> np.ndarray:
    """Decoded pixels ((H, W) or (T, H, W)) of an original's bytes, within the decoded-bytes
    budget; errors name the file by ``filename``, never by a local path."""
    with local_copy(src, filename) as path:
        return formats.read(
            path, fmt=fmt, filename=filename, max_bytes=settings.CHIPLAB_MAX_DECODED_BYTES
        ).data


def original_pixels(image: Image) -> np.ndarray:
    """The decoded original ((H, W) or (T, H, W)), within the decoded-bytes budget; errors
    name the file by its original name, never by a local path."""
    with original_path(image) as path:
        return formats.read(
            path,
            fmt=image.format,
            filename=image.original_filename,
            max_bytes=settings.CHIPLAB_MAX_DECODED_BYTES,
        ).data
