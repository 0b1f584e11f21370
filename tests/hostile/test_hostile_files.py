"""A corpus of malformed micrographs, generated here: every format the platform reads (JPEG,
PNG 8/16-bit, TIFF 8/16-bit, float and multi-page, DM3, DM4) truncated, with lying headers,
zero and bombed dimensions, the wrong extension and trailing junk. Uploaded through the API,
each gets a 4xx with an error body and leaves no image row and no stored object, or is
accepted and then ingests to ready or to failed with a reason: never a 5xx, never a crash."""

import struct
import zlib

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Image, ImageStatus
from catalog.services import image_ingest
from tests.support.micrographs import dm_bytes, gradient, jpeg_bytes, png_bytes, tiff_bytes

pytestmark = pytest.mark.django_db

BOMB = 60_000  # px per side: 3.6 gigapixels, over the default pixel limit (2^30)


# --- valid originals ---------------------------------------------------------------------
def _dm_dims(version):
    # 37 x 53 px: values unlikely to occur elsewhere in the file (see _dm_bomb)
    def make():
        return dm_bytes(gradient((37, 53)), version=version)

    return make


BASES = {
    "jpg": ("m.jpg", lambda: jpeg_bytes()),
    "png8": ("m.png", lambda: png_bytes()),
    "png16": ("m.png", lambda: png_bytes(gradient(dtype=np.uint16))),
    "tiff8": ("m.tif", lambda: tiff_bytes(gradient(dtype=np.uint8))),
    "tiff16": ("m.tif", lambda: tiff_bytes(gradient(dtype=np.uint16))),
    "tiff_float": ("m.tiff", lambda: tiff_bytes(gradient(dtype=np.float32))),
    "tiff_pages": (
        "m.tif",
        lambda: tiff_bytes(
            np.stack([gradient(seed=i) for i in range(3)]), photometric="minisblack"
        ),
    ),
    "dm3": ("m.dm3", _dm_dims(3)),
    "dm4": ("m.dm4", _dm_dims(4)),
}


# --- mutations ---------------------------------------------------------------------------
def _png_ihdr(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the PNG's IHDR size (with a valid CRC: the header lies consistently)."""
    start = data.index(b"IHDR")
    body = struct.pack(">II", width, height) + data[start + 12 : start + 17]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return data[: start + 4] + body + crc + data[start + 21 :]


def _jpeg_sof(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the JPEG's frame header (SOF0) size."""
    start = data.index(b"\xff\xc0")
    return data[: start + 5] + struct.pack(">HH", height, width) + data[start + 9 :]


def _tiff_size(data: bytes, width: int, height: int) -> bytes:
    """Overwrite ImageWidth / ImageLength of every page in place."""
    import io

    buffer = io.BytesIO(data)
    with tifffile.TiffFile(buffer, mode="r+b") as tif:
        for page in tif.pages:
            page.tags["ImageWidth"].overwrite(width)
            page.tags["ImageLength"].overwrite(height)
    return buffer.getvalue()


def _dm_size(data: bytes, width: int, height: int) -> bytes:
    """Replace the 53 x 37 dimensions in the DM tag tree (uint32 x, then y, little-endian)."""
    x = data.index(struct.pack("<I", 53))
    y = data.index(struct.pack("<I", 37), x + 4, x + 40)
    out = bytearray(data)
    out[x : x + 4], out[y : y + 4] = struct.pack("<I", width), struct.pack("<I", height)
    return bytes(out)


def resize(kind: str, data: bytes, width: int, height: int) -> bytes:
    if kind == "jpg":
        return _jpeg_sof(data, width, height)
    if kind.startswith("png"):
        return _png_ihdr(data, width, height)
    if kind.startswith("tiff"):
        return _tiff_size(data, width, height)
    return _dm_size(data, width, height)


def cut(fraction: float):
    return lambda kind, data: data[: max(1, int(len(data) * fraction))]


def scribble(start: int, length: int):
    """Overwrite header bytes with 0xFF (a lying, inconsistent header)."""
    return lambda kind, data: data[:start] + b"\xff" * length + data[start + length :]


MUTATIONS = {
    "first-byte": lambda kind, data: data[:1],
    "signature-only": lambda kind, data: data[:8],
    "cut-25pc": cut(0.25),
    "cut-50pc": cut(0.5),
    "cut-90pc": cut(0.9),
    "last-byte-missing": lambda kind, data: data[:-1],
    "header-scribbled": scribble(8, 24),
    "bytes-40-80-scribbled": scribble(40, 40),
    "zero-size": lambda kind, data: resize(kind, data, 0, 0),
    "bomb-size": lambda kind, data: resize(kind, data, BOMB, BOMB),
    "larger-than-its-pixels": lambda kind, data: resize(kind, data, 4000, 4000),
    "trailing-junk": lambda kind, data: data + b"\x00junk" * 1000,
}

CORPUS = [(kind, mutation) for kind in BASES for mutation in MUTATIONS]
#: content of one format under another's extension
MISNAMED = [("jpg", "m.tif"), ("png8", "m.dm4"), ("tiff16", "m.png"), ("dm3", "m.jpg")]


def test_the_corpus_has_at_least_100_files():
    assert len(CORPUS) + len(MISNAMED) >= 100


def check_upload(client, dataset, filename: str, content: bytes):
    response = client.post(
        f"/api/datasets/{dataset.pk}/images/",
        {"file": SimpleUploadedFile(filename, content)},
        format="multipart",
    )
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"], error
        assert "/tmp" not in error["message"]  # never the server's temporary path
        assert not Image.objects.filter(dataset=dataset).exists()
        assert stored_files(dataset) == []
        return response
    assert response.status_code == 201, response.content[:500]
    image = image_ingest(image_id=response.json()["id"])
    assert image.status in (ImageStatus.READY, ImageStatus.FAILED)
    if image.status == ImageStatus.FAILED:
        assert image.error
    return response


def stored_files(dataset) -> list[str]:
    from tests.catalog.test_catalog_api import stored_objects

    return stored_objects(dataset)


@pytest.mark.parametrize(("kind", "mutation"), CORPUS, ids=[f"{k}-{m}" for k, m in CORPUS])
def test_malformed_file_is_a_clear_4xx_and_nothing_is_half_stored(
    client_for, world, local_storage, kind, mutation
):
    filename, make = BASES[kind]
    content = MUTATIONS[mutation](kind, make())
    response = check_upload(client_for(world.curator), world.dataset(), filename, content)
    if mutation in ("first-byte", "signature-only", "cut-25pc", "cut-50pc", "bomb-size"):
        assert response.status_code in (400, 413, 415), response.json()
    if mutation == "bomb-size":
        # DM pixels are stored raw: dimensions beyond the data are a damaged file
        allowed = (
            "too_large_dimensions",
            "too_large_decoded",
            *(("corrupt",) * (kind[:2] == "dm")),
        )
        assert response.json()["error"]["code"] in allowed


@pytest.mark.parametrize(("kind", "filename"), MISNAMED)
def test_content_under_another_formats_extension_is_refused(
    client_for, world, local_storage, kind, filename
):
    response = check_upload(client_for(world.curator), world.dataset(), filename, BASES[kind][1]())
    assert response.status_code == 415, response.json()
