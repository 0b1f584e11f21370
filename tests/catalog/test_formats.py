"""Tests of the micrograph format layer (pure Python: no database, no Django)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile

from catalog.formats import (
    ERROR_CODES,
    FormatError,
    Probe,
    encode_png,
    preview,
    probe,
    read,
    thumbnail,
)
from catalog.formats import raster as raster_format
from catalog.formats import tiff as tiff_format
from tests.support import micrographs
from tests.support.micrographs import (
    JEOL_TIFF,
    LSFO_JPEG,
    dm_bytes,
    needs_pychip,
    require_pychip,
)

LIMIT = 10_000_000
RNG = np.random.default_rng(1234)


def noise(shape, dtype):
    """Deterministic test pixels spanning a good part of the dtype's range."""
    if np.dtype(dtype).kind == "f":
        return RNG.normal(10.0, 3.0, size=shape).astype(dtype)
    hi = min(np.iinfo(dtype).max, 60000)
    return RNG.integers(0, hi, size=shape).astype(dtype)


def probe_error(path, filename, max_pixels=LIMIT) -> FormatError:
    with pytest.raises(FormatError) as info:
        probe(path, filename=filename, max_pixels=max_pixels)
    return info.value


def write_dm(path, data, *, version, scale=0.25, units="nm", tags=None):
    """Write a DM3/DM4 file with nionswift-io's writer (the files GMS also reads)."""
    path.write_bytes(dm_bytes(data, version=version, scale=scale, units=units, tags=tags))
    return path


GMS_TAGS = {
    "Microscope Info": {
        "Voltage": 200000.0,
        "Indicated Magnification": 50000.0,
        "Operation Mode": "SCANNING",
        "Illumination Mode": "STEM",
        "Microscope": "Titan 80-300",
        "STEM Camera Length": 115.0,
    },
    "Session Info": {"Operator": "alice", "Specimen": "MoO3 on C"},
    "DataBar": {"Acquisition Date": "1/19/2021", "Acquisition Time": "3:04:39 PM"},
    "Acquisition": {
        "Device": {"Name": "HAADF"},
        "Parameters": {"High Level": {"Exposure (s)": 0.5}},
    },
}


# --- formats that must be accepted ------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_png_grey_round_trips_exactly(tmp_path, dtype):
    pixels = noise((40, 56), dtype)
    path = tmp_path / "a.png"
    Image.fromarray(pixels).save(path)

    assert probe(path, filename="Scan.PNG", max_pixels=LIMIT) == Probe(
        format="png", width=56, height=40, frames=1, dtype=dtype, channels=1
    )
    micrograph = read(path, fmt="png")
    assert micrograph.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(micrograph.data, pixels)
    assert micrograph.rgb_conversion is None
    assert micrograph.calibration["pixel_size"] is None
    json.dumps(micrograph.raw)


def test_jpeg_grey_decodes_close_to_the_original(tmp_path):
    pixels = (np.add.outer(np.arange(48), np.arange(64)) * 2).astype(np.uint8)
    path = tmp_path / "a.jpeg"
    Image.fromarray(pixels).save(path, quality=95)

    assert probe(path, filename="a.JPEG", max_pixels=LIMIT) == Probe("jpeg", 64, 48, 1, "uint8", 1)
    data = read(path, fmt="jpeg").data
    assert data.shape == (48, 64) and data.dtype == np.uint8
    assert np.abs(data.astype(int) - pixels).mean() < 2


def test_rgb_png_with_grey_content_keeps_one_channel_losslessly(tmp_path):
    grey = noise((30, 20), "uint8")
    path = tmp_path / "rgb.png"
    Image.fromarray(np.dstack([grey, grey, grey])).save(path)

    assert probe(path, filename="rgb.png", max_pixels=LIMIT).channels == 3
    micrograph = read(path, fmt="png")
    assert micrograph.rgb_conversion == "identical_channels"
    assert micrograph.data.dtype == np.uint8
    np.testing.assert_array_equal(micrograph.data, grey)


def test_colour_png_becomes_float_luminance(tmp_path):
    rgb = noise((12, 16, 3), "uint8")
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)

    micrograph = read(path, fmt="png")
    assert micrograph.rgb_conversion == "luminance"
    assert micrograph.data.dtype == np.float32
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(micrograph.data, expected, atol=1e-3)


@needs_pychip
def test_real_rgb_jpeg_of_a_grey_haadf_image():
    assert probe(LSFO_JPEG, filename="LaO.jpg", max_pixels=LIMIT) == Probe(
        "jpeg", 787, 790, 1, "uint8", 3
    )
    micrograph = read(LSFO_JPEG, fmt="jpeg")
    assert micrograph.data.shape == (790, 787)
    assert micrograph.rgb_conversion == "identical_channels"
    # 100 dpi JFIF density is a print default, not a calibration
    assert micrograph.calibration["pixel_size"] is None
    json.dumps(micrograph.raw)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_keeps_native_dtype(tmp_path, dtype):
    pixels = noise((33, 47), dtype)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, pixels)

    assert probe(path, filename="a.tiff", max_pixels=LIMIT) == Probe("tiff", 47, 33, 1, dtype, 1)
    micrograph = read(path, fmt="tiff")
    assert micrograph.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(micrograph.data, pixels)


@pytest.mark.parametrize("fill", [np.nan, np.inf])
def test_image_without_a_finite_pixel_is_refused_on_read(tmp_path, fill):
    path = tmp_path / "blank.tif"
    tifffile.imwrite(path, np.full((16, 16), fill, np.float32))
    with pytest.raises(FormatError) as info:
        read(path, fmt="tiff")
    assert info.value.code == "no_finite_pixels" and info.value.http_status == 400
    assert "no finite pixel" in str(info.value)
    # one finite pixel is enough: NaN-padded detector frames are real data
    pixels = np.full((16, 16), np.nan, np.float32)
    pixels[3, 4] = 7.0
    tifffile.imwrite(path, pixels)
    assert read(path, fmt="tiff").data[3, 4] == 7.0


def test_bigtiff_is_accepted(tmp_path):
    pixels = noise((16, 24), "uint16")
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, pixels, bigtiff=True)

    assert path.read_bytes()[:4] == b"II+\x00"
    assert probe(path, filename="big.tif", max_pixels=LIMIT).format == "tiff"
    np.testing.assert_array_equal(read(path, fmt="tiff").data, pixels)


def test_multipage_tiff_is_a_stack(tmp_path):
    stack = noise((7, 20, 30), "uint16")
    path = tmp_path / "series.tif"
    tifffile.imwrite(path, stack)

    assert probe(path, filename="series.tif", max_pixels=LIMIT) == Probe(
        "tiff", 30, 20, 7, "uint16", 1
    )
    data = read(path, fmt="tiff").data
    assert data.shape == (7, 20, 30)
    np.testing.assert_array_equal(data, stack)


def test_lzw_tiff_is_decoded(tmp_path):
    # tifffile needs imagecodecs for LZW; the reader falls back to Pillow's libtiff.
    pixels = noise((25, 35), "uint16")
    path = tmp_path / "lzw.tif"
    Image.fromarray(pixels).save(path, compression="tiff_lzw")

    assert probe(path, filename="lzw.tif", max_pixels=LIMIT) == Probe(
        "tiff", 35, 25, 1, "uint16", 1
    )
    np.testing.assert_array_equal(read(path, fmt="tiff").data, pixels)


def test_rgb_tiff_with_colour_is_luminance(tmp_path):
    rgb = noise((10, 12, 3), "uint8")
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")

    assert probe(path, filename="rgb.tif", max_pixels=LIMIT) == Probe("tiff", 12, 10, 1, "uint8", 3)
    micrograph = read(path, fmt="tiff")
    assert micrograph.rgb_conversion == "luminance"
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(micrograph.data, expected, atol=1e-3)


# --- calibration ------------------------------------------------------------------------
def test_ome_tiff_physical_size_in_micrometres_becomes_nm(tmp_path):
    path = tmp_path / "a.ome.tif"
    tifffile.imwrite(
        path,
        noise((3, 16, 16), "uint16"),
        ome=True,
        metadata={
            "axes": "TYX",
            "PhysicalSizeX": 0.0125,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": 0.025,
            "PhysicalSizeYUnit": "µm",
        },
    )
    assert probe(path, filename="a.ome.tif", max_pixels=LIMIT).frames == 3
    micrograph = read(path, fmt="tiff")
    assert micrograph.data.shape == (3, 16, 16)
    cal = micrograph.calibration
    assert cal["source"] == "ome"
    assert cal["pixel_unit"] == "nm"
    assert cal["pixel_size"] == pytest.approx(12.5)
    assert cal["pixel_size_y"] == pytest.approx(25.0)


def test_ome_tiff_in_angstrom(tmp_path):
    path = tmp_path / "a.ome.tif"
    tifffile.imwrite(
        path,
        noise((8, 8), "uint8"),
        ome=True,
        metadata={"PhysicalSizeX": 1.5, "PhysicalSizeXUnit": "Å"},
    )
    cal = read(path, fmt="tiff").calibration
    assert (cal["pixel_size"], cal["pixel_unit"]) == (pytest.approx(0.15), "nm")


def test_imagej_tiff_unit_and_resolution(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        noise((4, 10, 12), "float32"),
        imagej=True,
        resolution=(1 / 0.002, 1 / 0.002),  # pixels per micron
        metadata={"unit": "micron", "axes": "TYX", "spacing": 1.0},
    )
    assert probe(path, filename="ij.TIF", max_pixels=LIMIT) == Probe(
        "tiff", 12, 10, 4, "float32", 1
    )
    micrograph = read(path, fmt="tiff")
    assert micrograph.data.shape == (4, 10, 12)
    assert micrograph.calibration["source"] == "imagej"
    assert micrograph.calibration["pixel_unit"] == "nm"
    assert micrograph.calibration["pixel_size"] == pytest.approx(2.0)
    assert micrograph.raw["imagej"]["unit"] == "micron"
    json.dumps(micrograph.raw)


def test_tiff_resolution_tags_in_centimetres(tmp_path):
    path = tmp_path / "res.tif"
    tifffile.imwrite(
        path, noise((8, 8), "uint16"), resolution=(1e6, 1e6), resolutionunit="CENTIMETER"
    )
    cal = read(path, fmt="tiff").calibration
    assert cal == {
        "pixel_size": pytest.approx(10.0),
        "pixel_size_y": pytest.approx(10.0),
        "pixel_unit": "nm",
        "source": "tiff_resolution",
    }


def test_default_72_dpi_is_not_a_calibration(tmp_path):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, noise((8, 8), "uint8"), resolution=(72, 72), resolutionunit="INCH")
    assert read(path, fmt="tiff").calibration["pixel_size"] is None


def test_fei_sem_tiff_metadata(tmp_path):
    ini = (
        "[User]\r\nDate=01/19/2021\r\nTime=03:04:39 PM\r\nUser=supervisor\r\n\r\n"
        "[System]\r\nSystemType=Helios G4\r\n\r\n[Beam]\r\nHV=5000\r\n\r\n"
        "[Scan]\r\nPixelWidth=2.5e-09\r\nPixelHeight=2.5e-09\r\n\r\n"
        "[Detectors]\r\nName=TLD\r\nMode=SE\r\n"
    )
    path = tmp_path / "sem.tif"
    tifffile.imwrite(path, noise((8, 8), "uint8"), extratags=[(34682, "s", 0, ini, True)])
    micrograph = read(path, fmt="tiff")
    assert micrograph.calibration["source"] == "fei"
    assert micrograph.calibration["pixel_size"] == pytest.approx(2.5)
    assert micrograph.instrument == {
        "microscope": "Helios G4",
        "manufacturer": "FEI / Thermo Fisher",
        "voltage_kv": 5.0,
        "mode": "SEM",
        "detector": "TLD SE",
        "acquired_at": "2021-01-19T15:04:39",
        "operator": "supervisor",
    }


def test_png_phys_chunk_calibration(tmp_path):
    path = tmp_path / "phys.png"
    Image.fromarray(noise((8, 8), "uint8")).save(path, dpi=(2.54e7 / 4.0, 2.54e7 / 4.0))
    cal = read(path, fmt="png").calibration
    assert cal["source"] == "png_phys"
    assert cal["pixel_size"] == pytest.approx(4.0, rel=1e-3)


@needs_pychip
def test_real_jeol_stem_tiff_metadata():
    assert probe(JEOL_TIFF, filename="moo3.tiff", max_pixels=LIMIT) == Probe(
        "tiff", 512, 512, 1, "uint16", 1
    )
    micrograph = read(JEOL_TIFF, fmt="tiff")
    assert micrograph.data.shape == (512, 512)  # the 256x256 8-bit sub-IFD thumbnail is ignored
    assert micrograph.data.dtype == np.uint16
    assert micrograph.instrument == {
        "microscope": "JEM-ARM300F",
        "manufacturer": "JEOL Ltd.",
        "voltage_kv": 300.0,
        "magnification": 20000.0,
        "mode": "STEM DF",
        "detector": "ADF1",
        "image_source": "stem_DF",
        "acquired_at": "2021-01-19T15:04:39.249376-08:00",
        "operator": "JEM Administrator",
        "defocus_nm": -806.0,
        "camera_length_mm": 80.0,
        "spot_size": "6C",
        "frame_time_s": pytest.approx(0.8333333),
    }
    # TemReporter has no pixel size, and the ~65 dpi XResolution is not a calibration.
    assert micrograph.calibration["pixel_size"] is None
    assert micrograph.raw["temreporter"]["ImageFormingSystem"]["SelectorString"] == "x20k"
    json.dumps(micrograph.raw)


# --- Gatan DM3/DM4 ----------------------------------------------------------------------
@pytest.mark.parametrize("version", [3, 4])
def test_dm_image_with_calibration_and_microscope_info(tmp_path, version):
    pixels = noise((40, 30), "uint16")
    path = write_dm(tmp_path / f"a.dm{version}", pixels, version=version, tags=GMS_TAGS)

    assert probe(path, filename=f"A.DM{version}", max_pixels=LIMIT) == Probe(
        f"dm{version}", 30, 40, 1, "uint16", 1
    )
    micrograph = read(path, fmt=f"dm{version}")
    np.testing.assert_array_equal(micrograph.data, pixels)
    assert micrograph.calibration == {
        "pixel_size": 0.25,
        "pixel_size_y": 0.25,
        "pixel_unit": "nm",
        "source": "gatan_dm",
    }
    assert micrograph.instrument == {
        "microscope": "Titan 80-300",
        "voltage_kv": 200.0,
        "magnification": 50000.0,
        "mode": "STEM",
        "acquired_at": "2021-01-19T15:04:39",
        "operator": "alice",
        "specimen": "MoO3 on C",
        "camera_length_mm": 115.0,
        "detector": "HAADF",
        "exposure_s": 0.5,
    }
    assert (
        micrograph.raw["ImageList"]["main"]["ImageTags"]["Microscope Info"]["Voltage"] == 200000.0
    )
    json.dumps(micrograph.raw)


@pytest.mark.parametrize("version", [3, 4])
def test_dm_stack_in_micrometres(tmp_path, version):
    stack = noise((5, 12, 16), "float32")
    path = write_dm(tmp_path / f"s.dm{version}", stack, version=version, scale=0.002, units="µm")

    assert probe(path, filename=f"s.dm{version}", max_pixels=LIMIT) == Probe(
        f"dm{version}", 16, 12, 5, "float32", 1
    )
    micrograph = read(path, fmt=f"dm{version}")
    np.testing.assert_array_equal(micrograph.data, stack)
    assert micrograph.calibration["pixel_size"] == pytest.approx(2.0)
    assert micrograph.calibration["pixel_unit"] == "nm"
    # nionswift stamps the write time into DataBar; no other instrument facts are invented.
    assert set(micrograph.instrument) == {"acquired_at"}


def test_dm_rgb_image_of_grey_content(tmp_path):
    from nion.data import DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    grey = noise((6, 9), "uint8")
    path = tmp_path / "rgb.dm4"
    with open(path, "wb") as fh:
        xdata = DataAndMetadata.new_data_and_metadata(np.dstack([grey, grey, grey]))
        dm3_image_utils.save_image(xdata, fh, 4)

    assert probe(path, filename="rgb.dm4", max_pixels=LIMIT) == Probe("dm4", 9, 6, 1, "uint8", 3)
    micrograph = read(path, fmt="dm4")
    assert micrograph.rgb_conversion == "identical_channels"
    np.testing.assert_array_equal(micrograph.data, grey)
    assert micrograph.calibration["pixel_size"] is None  # written without calibrations


# --- what must be refused ---------------------------------------------------------------
def test_empty_file(tmp_path):
    path = tmp_path / "e.tif"
    path.write_bytes(b"")
    error = probe_error(path, "e.tif")
    assert error.code == "empty" and error.http_status == 400
    assert "empty" in str(error)


def test_random_bytes(tmp_path):
    path = tmp_path / "r.tif"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    error = probe_error(path, "r.tif")
    assert error.code == "unknown_format" and error.http_status == 415


def test_hdf5_is_named_in_the_message(tmp_path):
    path = tmp_path / "velox.tif"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    error = probe_error(path, "velox.tif")
    assert error.code == "unknown_format"
    assert "HDF5" in str(error)


def test_png_name_with_jpeg_content(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(noise((8, 8), "uint8")).save(path, format="JPEG")
    error = probe_error(path, "x.png")
    assert error.code == "extension_mismatch"
    assert "PNG" in str(error) and "JPEG" in str(error)


def test_dm4_name_with_tiff_content(tmp_path):
    path = tmp_path / "x.dm4"
    tifffile.imwrite(path, noise((8, 8), "uint8"))
    assert probe_error(path, "x.dm4").code == "extension_mismatch"


def test_unknown_extension_is_refused(tmp_path):
    path = tmp_path / "x.dat"
    tifffile.imwrite(path, noise((8, 8), "uint8"))
    assert probe_error(path, "x.dat").code == "extension_mismatch"
    assert probe_error(path, "noextension").code == "extension_mismatch"


def test_read_refuses_content_of_another_format(tmp_path):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, noise((8, 8), "uint8"))
    with pytest.raises(FormatError) as info:
        read(path, fmt="png")
    assert info.value.code == "extension_mismatch"


def _cut(path: Path, keep: int) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    return path


def test_truncated_tiff(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, noise((64, 64), "uint16"))
    _cut(path, path.stat().st_size // 2)
    error = probe_error(path, "t.tif")
    assert error.code == "corrupt"
    assert "truncated" in str(error)


@pytest.mark.parametrize("imagej", [False, True])
def test_truncated_tiff_stack(tmp_path, imagej):
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, noise((6, 32, 32), "uint16"), imagej=imagej)
    _cut(path, path.stat().st_size // 2)
    assert probe_error(path, "s.tif").code == "corrupt"


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_dm(tmp_path, version, keep):
    path = write_dm(tmp_path / f"t.dm{version}", noise((32, 32), "uint16"), version=version)
    _cut(path, int(path.stat().st_size * keep))
    error = probe_error(path, f"t.dm{version}")
    assert error.code == "corrupt"
    assert f"DM{version}" in str(error)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_png_and_jpeg(tmp_path, fmt):
    path = tmp_path / f"t.{fmt.lower()}"
    Image.fromarray(noise((64, 64), "uint8")).save(path, format=fmt)
    _cut(path, path.stat().st_size // 2)
    assert probe_error(path, path.name).code == "corrupt"


def test_errors_name_the_upload_not_the_servers_temporary_path(tmp_path):
    path = tmp_path / "tmp3o17a3ha.jpg"  # a JPEG signature and nothing Pillow can identify
    path.write_bytes(b"\xff\xd8\xff" + bytes(50))
    error = probe_error(path, "session 4.jpg")
    assert "'session 4.jpg'" in str(error) and str(tmp_path) not in str(error)
    with pytest.raises(FormatError) as read_error:
        read(path, fmt="jpeg", filename="session 4.jpg")
    assert "'session 4.jpg'" in str(read_error.value) and str(tmp_path) not in str(read_error.value)


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR (8-bit grey) with a valid CRC, and no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


def _tiff_header(width: int, height: int) -> bytes:
    """A little-endian TIFF whose one IFD declares an 8-bit grey image of the given size."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 0xFFFFFFFF),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for code, kind, count, value in entries:
        packed = struct.pack("<I" if kind == 4 else "<HH", value, *(() if kind == 4 else (0,)))
        ifd += struct.pack("<HHI", code, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def _jpeg_header(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 frame header is patched to declare another size."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "header", "size"),
    [
        ("bomb.png", _png_header(100_000, 100_000), "100000x100000"),
        ("bomb.tif", _tiff_header(100_000, 100_000), "100000x100000"),
        ("bomb.jpg", _jpeg_header(65_000, 65_000), "65000x65000"),
    ],
    ids=["png", "tiff", "jpeg"],
)
def test_decompression_bomb_headers_fail_fast(tmp_path, monkeypatch, name, header, size):
    path = tmp_path / name
    path.write_bytes(header)
    decoded = []  # the decoders, watched (they still run): none may start on a bomb
    for owner, attr in [
        (raster_format, "_decode"),
        (tiff_format, "_iter_frames"),
        (ImageFile.ImageFile, "load"),
    ]:
        real = getattr(owner, attr)
        monkeypatch.setattr(owner, attr, _recorded(real, f"{owner.__name__}.{attr}", decoded))
    error = probe_error(path, name, max_pixels=50_000_000)
    assert error.code == "too_large_dimensions" and error.http_status == 413
    assert size in str(error)
    assert decoded == []  # refused from the header alone: no pixel was decoded


def _recorded(real, name, calls):
    def call(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    return call


def test_missing_pychip_data_fails_in_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    assert require_pychip() == JEOL_TIFF.parent  # present here
    monkeypatch.setattr(micrographs, "JEOL_TIFF", tmp_path / "absent.tiff")
    with pytest.raises(pytest.fail.Exception, match=r"absent\.tiff"):
        micrographs.require_pychip(in_ci=True)
    with pytest.raises(pytest.skip.Exception, match=r"absent\.tiff"):
        micrographs.require_pychip(in_ci=False)


def test_pillow_bomb_limit_becomes_the_same_error(tmp_path):
    # Our own limit is generous here, so Pillow's hard limit (2 x 89.5 MP) is what trips.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(100_000, 100_000))
    assert probe_error(path, "bomb.png", max_pixels=10**12).code == "too_large_dimensions"


def test_dimension_limit_counts_frames_before_decoding(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, noise((4, 10, 10), "uint8"), photometric="minisblack")
    assert probe(path, filename="stack.tif", max_pixels=400).frames == 4
    error = probe_error(path, "stack.tif", max_pixels=399)
    assert error.code == "too_large_dimensions"
    assert "4 frame(s)" in str(error)


def test_dm_dimension_limit(tmp_path):
    path = write_dm(tmp_path / "s.dm4", noise((3, 10, 10), "uint16"), version=4)
    assert probe_error(path, "s.dm4", max_pixels=299).code == "too_large_dimensions"


def test_format_error_codes_map_to_http_statuses():
    assert FormatError("too_large_dimensions", "x").http_status == 413
    assert FormatError("unknown_format", "x").http_status == 415
    assert set(ERROR_CODES) >= {
        "empty",
        "unknown_format",
        "extension_mismatch",
        "corrupt",
        "too_large_dimensions",
    }
    with pytest.raises(ValueError):
        FormatError("nope", "x")


# --- previews ---------------------------------------------------------------------------
def test_preview_stretches_a_narrow_16_bit_range_to_full_8_bits():
    data = np.linspace(1000, 1100, 200 * 100).reshape(200, 100).astype(np.uint16)
    out = preview(data)
    assert out.dtype == np.uint8 and out.shape == (200, 100)
    # A divide-by-256 would give a flat image of values 3–4.
    assert out.min() == 0 and out.max() == 255
    assert 120 <= int(np.median(out)) <= 135


def test_preview_clips_outliers_at_the_percentiles():
    data = np.full((100, 100), 10.0, dtype=np.float32)
    data[:50] = 20.0
    data[0, 0] = 1e9  # one hot pixel must not crush the contrast
    out = preview(data)
    assert set(np.unique(out)) == {0, 255}
    assert out[99, 99] == 0 and out[0, 1] == 255


def test_preview_of_a_stack_uses_the_requested_frame():
    stack = np.zeros((3, 10, 10), dtype=np.float32)
    stack[2, :, 5:] = 1.0
    assert preview(stack).max() == 0  # frame 0 is flat → black
    out = preview(stack, index=2)
    assert out[0, 0] == 0 and out[0, 9] == 255


def test_preview_downscales_to_max_side_keeping_aspect():
    data = noise((300, 150), "uint16")
    assert preview(data, max_side=100).shape == (100, 50)
    assert thumbnail(data, side=64).shape == (64, 32)
    assert thumbnail(noise((20, 10), "uint8")).shape == (20, 10)  # never upscaled


def test_preview_ignores_nan():
    data = np.arange(100, dtype=np.float32).reshape(10, 10)
    data[0, 0] = np.nan
    out = preview(data)
    assert out[0, 0] == 0 and out[9, 9] == 255


def test_encode_png_round_trips():
    grey = noise((9, 11), "uint8")
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(grey))))
    np.testing.assert_array_equal(decoded, grey)
    deep = noise((9, 11), "uint16")
    decoded16 = np.asarray(Image.open(io.BytesIO(encode_png(deep))))
    np.testing.assert_array_equal(decoded16, deep)
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4), dtype=np.float32))
