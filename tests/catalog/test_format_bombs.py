"""Decompression bombs by bytes: small files whose headers (or streams) claim gigabytes.

Every format's header is checked against the decoded-bytes budget and the 4-samples-per-pixel
limit before any pixel is decoded; the API answers 413/415 with a message and stores nothing.
"""

import io
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services
from catalog.formats import (
    DEFAULT_MAX_DECODED_BYTES,
    ERROR_CODES,
    FormatError,
    probe,
    read,
)
from catalog.models import Image, ImageStatus
from tests.catalog.test_catalog_api import stored_objects, upload
from tests.support.micrographs import dm_bytes, jpeg_bytes, png_bytes, tiff_bytes
from tests.support.services import ROOT

MAX_PIXELS = 1024**3  # the server's default


# --- fixtures: tiny files that declare a lot ------------------------------------------
def many_samples_tiff(samples: int = 200) -> bytes:
    """64 x 64 px with ``samples`` samples per pixel: ~2 KB that passes a pixel count."""
    return tiff_bytes(
        np.zeros((64, 64, samples), np.uint8),
        photometric="minisblack",
        planarconfig="contig",
        compression="zlib",
    )


def sparse_float64_tiff(side: int = 32768) -> bytes:
    """``side``² float64 pixels (8 GiB decoded at 32768, exactly the default pixel limit) in
    1024² tiles, all but one empty: a ~16 KB file. tifffile fills empty tiles, so decoding it
    really allocates and writes every declared byte."""

    def tiles():
        yield np.zeros((1024, 1024), np.float64)
        for _ in range((side // 1024) ** 2 - 1):
            yield None

    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        tiles(),
        shape=(side, side),
        dtype="float64",
        tile=(1024, 1024),
        compression="zlib",
    )
    return buffer.getvalue()


def deflate_stream(inflated: int) -> bytes:
    """A Deflate stream of ``inflated`` zero bytes (about 1,000 times smaller)."""
    packer = zlib.compressobj(9)
    zeros = bytes(1024**2)
    return b"".join(packer.compress(zeros) for _ in range(inflated // len(zeros))) + packer.flush()


def with_first_segment(path: Path, stream: bytes, **tags) -> Path:
    """Append ``stream`` to the TIFF at ``path`` and make it the first strip or tile."""
    with path.open("ab") as fh:
        offset = fh.tell()
        fh.write(stream)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        page = tif.pages[0]
        kind = "Tile" if page.is_tiled else "Strip"
        offsets, counts = list(page.dataoffsets), list(page.databytecounts)
        offsets[0], counts[0] = offset, len(stream)
        page.tags[f"{kind}Offsets"].overwrite(offsets, dtype=4)  # LONG
        page.tags[f"{kind}ByteCounts"].overwrite(counts, dtype=4)
        for name, value in tags.items():
            page.tags[name].overwrite(value)
    return path


def deflate_bomb_strip(path: Path, inflated: int = 256 * 1024**2) -> Path:
    """A valid 64 x 64 uint8 TIFF whose one Deflate strip inflates to ``inflated`` bytes."""
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8), compression="zlib", rowsperstrip=64)
    return with_first_segment(path, deflate_stream(inflated))


def deflate_bomb_tile(path: Path, inflated: int = 256 * 1024**2) -> Path:
    """A 64 x 64 tiled TIFF whose IFD claims 65520² tiles (4 GiB each), the first one a
    Deflate stream of ``inflated`` bytes: tifffile would inflate it all."""
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8), tile=(16, 16), compression="zlib")
    return with_first_segment(path, deflate_stream(inflated), TileWidth=65520, TileLength=65520)


def decode_in_child(path: Path) -> tuple[str, int]:
    """Probe and read ``path`` in a fresh process: (outcome, MiB the process grew by)."""
    script = (
        "import resource, sys\n"
        "from catalog.formats import FormatError, probe, read\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    p = probe(sys.argv[1], filename='bomb.tif', max_pixels=2**30)\n"
        "    data = read(sys.argv[1], fmt='tiff').data\n"
        "    outcome = f'{p.width}x{p.height} {data.shape} max={data.max()}'\n"
        "except FormatError as err:\n"
        "    outcome = f'{err.code}: {err}'\n"
        "grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(grew // 1024, outcome)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT / "platform",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    grew, outcome = result.stdout.strip().split(" ", 1)
    return outcome, int(grew)


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def probe_error(path: Path, **limits) -> FormatError:
    limits.setdefault("max_pixels", MAX_PIXELS)
    with pytest.raises(FormatError) as info:
        probe(path, filename=path.name, **limits)
    return info.value


# --- the format layer ----------------------------------------------------------------
def test_more_than_four_samples_per_pixel_is_refused_before_decoding(tmp_path):
    content = many_samples_tiff(200)
    assert len(content) < 4096  # the 1,989-byte file
    error = probe_error(write(tmp_path, "s200.tif", content))
    assert error.code == "unsupported_content" and error.http_status == 415
    assert "200 samples per pixel" in str(error) and "at most 4" in str(error)
    # four (RGBA) are a micrograph format's maximum and still accepted
    rgba = write(tmp_path, "rgba.tif", tiff_bytes(np.zeros((8, 8, 4), np.uint8)))
    assert probe(rgba, filename="rgba.tif", max_pixels=MAX_PIXELS).channels == 4


def test_a_small_tiff_declaring_gigabytes_is_refused_from_its_header(tmp_path):
    content = sparse_float64_tiff()
    assert len(content) < 64 * 1024
    path = write(tmp_path, "sparse.tif", content)
    # the pixel count alone passes: 32768² = the default limit
    error = probe_error(path, max_bytes=DEFAULT_MAX_DECODED_BYTES)
    assert error.code == "too_large_decoded" and error.http_status == 413
    assert "8,192.0 MiB" in str(error) and "8 byte(s)" in str(error)


@pytest.mark.parametrize(
    "name,content,decoded",
    [
        ("grey16.tif", tiff_bytes(np.zeros((256, 256), np.uint16), compression="zlib"), 2**17),
        ("rgba.png", png_bytes(np.zeros((256, 256, 4), np.uint8)), 256 * 256 * 4),
        ("rgb.jpg", jpeg_bytes(np.zeros((256, 256, 3), np.uint8)), 256 * 256 * 3),
        ("stack.dm4", dm_bytes(np.zeros((4, 64, 64), np.float32), version=4), 4 * 64 * 64 * 4),
        ("grey.dm3", dm_bytes(np.zeros((128, 128), np.int16), version=3), 128 * 128 * 2),
    ],
)
def test_every_format_checks_the_budget_before_decoding(tmp_path, name, content, decoded):
    path = write(tmp_path, name, content)
    assert probe(path, filename=name, max_pixels=MAX_PIXELS, max_bytes=decoded).width > 0
    error = probe_error(path, max_bytes=decoded - 1)
    assert error.code == "too_large_decoded", error
    assert f"{decoded / 1024**2:,.1f} MiB" in str(error)
    fmt = probe(path, filename=name, max_pixels=MAX_PIXELS).format
    assert read(path, fmt=fmt, max_bytes=decoded).data.size > 0
    with pytest.raises(FormatError) as info:
        read(path, fmt=fmt, max_bytes=decoded - 1)
    assert info.value.code == "too_large_decoded"


def test_a_deflate_strip_never_inflates_past_its_declared_size(tmp_path):
    """One 64 x 64 strip whose stream inflates to 256 MiB: the pixels are its first 4 KiB."""
    path = deflate_bomb_strip(tmp_path / "strip.tif")
    assert path.stat().st_size < 2 * 1024**2
    outcome, grew_mib = decode_in_child(path)
    assert outcome == "64x64 (64, 64) max=0"
    assert grew_mib < 64, f"decoding grew the process by {grew_mib} MiB"


def test_tiles_far_larger_than_the_image_are_refused_before_inflating(tmp_path):
    outcome, grew_mib = decode_in_child(deflate_bomb_tile(tmp_path / "tile.tif"))
    assert outcome.startswith("corrupt: ") and "tiles of 65520x65520" in outcome
    assert grew_mib < 64, f"decoding grew the process by {grew_mib} MiB"


def test_error_codes_include_the_decoded_budget():
    assert ERROR_CODES["too_large_decoded"] == 413


# --- through the API: a clear 4xx, nothing stored --------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,make,status,code",
    [
        ("s200.tif", many_samples_tiff, 415, "unsupported_content"),
        ("sparse.tif", sparse_float64_tiff, 413, "too_large_decoded"),
    ],
)
def test_api_refuses_byte_bombs_and_stores_nothing(client_for, world, name, make, status, code):
    dataset = world.dataset()
    response = upload(client_for(world.curator), dataset, make(), name)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and len(error["message"]) > 20
    assert not Image.objects.exists()
    assert stored_objects(dataset) == []


@pytest.mark.django_db
def test_api_budget_follows_the_setting(client_for, world, settings):
    content = tiff_bytes(np.zeros((512, 512), np.float64), compression="zlib")  # 2 MiB decoded
    dataset = world.dataset()
    settings.CHIPLAB_MAX_DECODED_BYTES = 2 * 1024**2 - 1
    response = upload(client_for(world.curator), dataset, content, "f64.tif")
    assert response.status_code == 413
    assert "2.0 MiB" in response.json()["error"]["message"]
    assert not Image.objects.exists() and stored_objects(dataset) == []
    settings.CHIPLAB_MAX_DECODED_BYTES = 2 * 1024**2
    assert upload(client_for(world.curator), dataset, content, "f64.tif").status_code == 201


@pytest.mark.django_db
def test_ingest_checks_the_budget_again_before_decoding(world, settings, local_storage):
    """An image accepted under a larger budget fails its ingest with the reason, not an OOM."""
    dataset = world.dataset()
    content = tiff_bytes(np.ones((512, 512), np.float64), compression="zlib")
    image = services.image_upload(
        user=world.curator, dataset=dataset, upload=SimpleUploadedFile("f64.tif", content)
    )
    settings.CHIPLAB_MAX_DECODED_BYTES = 1024**2
    image = services.image_ingest(image_id=image.pk)
    assert image.status == ImageStatus.FAILED
    assert "limit of 1.0 MiB" in image.error
