"""The ingest decodes an original one frame at a time: a stack's previews are written from
frames streamed out of the file, so a worker holds about one frame, never the whole stack."""

import io
import tracemalloc

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.services import image_ingest, image_prefix, image_upload
from common import storage

pytestmark = pytest.mark.django_db

FRAMES, SIDE = 64, 512
FRAME_BYTES = SIDE * SIDE * 4  # float32: the stack is 64 MiB
# streamed: one decoded frame, its preview's float32 temporaries, the download's and the
# storage clients' buffers (~15 MiB measured); the stack decoded at once is 64 MiB by itself
BOUND = FRAMES * FRAME_BYTES // 2


def _stack_tiff() -> bytes:
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tw:
        for _ in range(FRAMES):
            tw.write(rng.random((SIDE, SIDE), dtype=np.float32), contiguous=True)
    return buffer.getvalue()


def _uploaded(world, content: bytes):
    dataset = world.dataset()
    image = image_upload(
        user=world.curator, dataset=dataset, upload=SimpleUploadedFile("stack.tif", content)
    )
    storage.exists(image.original_key)  # the storage client is made before the measure
    return image


def _ingest_peak(image) -> tuple[object, int]:
    tracemalloc.start()
    try:
        image = image_ingest(image_id=image.pk)
        return image, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _stored(prefix: str) -> list[str]:
    folders, files = storage.listdir(prefix)
    return [f"{prefix}/{f}" for f in files] + [k for d in folders for k in _stored(f"{prefix}/{d}")]


def test_a_stack_is_ingested_one_frame_at_a_time(world, s3_storage):
    image, peak = _ingest_peak(_uploaded(world, _stack_tiff()))
    assert image.status == "ready", image.error
    assert image.preview_frames == FRAMES
    assert peak < BOUND, f"peak {peak:,} B: half the stack or more"


def test_a_stack_damaged_past_its_first_frame_fails_and_leaves_nothing(world, s3_storage):
    content = _stack_tiff()
    image = _uploaded(world, content)
    storage.put_bytes(image.original_key, content[: -FRAME_BYTES // 2])  # the last page cut
    image, peak = _ingest_peak(image)
    assert image.status == "failed"
    assert image.error == f"The file holds 1 of {FRAMES} frames."  # its IFDs were cut
    assert peak < BOUND, f"peak {peak:,} B: half the stack or more"
    # frame 0's preview and thumbnail were written, then deleted
    assert _stored(image_prefix(image.dataset, image.pk)) == [image.original_key]
