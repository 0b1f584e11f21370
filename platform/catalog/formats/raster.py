"""PNG and JPEG through Pillow: header dimensions, full decode, density calibration."""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .base import (
    DEFAULT_MAX_DECODED_BYTES,
    FormatError,
    Micrograph,
    Probe,
    check_decoded_size,
    check_dimensions,
    check_samples,
)
from .pixels import to_grey
from .stream import FrameStream
from .tree import json_safe
from .units import from_density, uncalibrated

# JPEG start-of-frame markers (baseline, progressive, lossless…); C4, C8, CC are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_JPEG_SEGMENTS = 1000

# Pillow modes → (stored sample dtype, samples per pixel).
_MODES: dict[str, tuple[str, int]] = {
    "1": ("bool", 1),
    "L": ("uint8", 1),
    "P": ("uint8", 1),
    "LA": ("uint8", 2),
    "PA": ("uint8", 2),
    "La": ("uint8", 2),
    "I;16": ("uint16", 1),
    "I;16B": ("uint16", 1),
    "I;16L": ("uint16", 1),
    "I": ("int32", 1),
    "F": ("float32", 1),
    "RGB": ("uint8", 3),
    "RGBA": ("uint8", 4),
    "RGBa": ("uint8", 4),
    "RGBX": ("uint8", 4),
    "CMYK": ("uint8", 4),
    "YCbCr": ("uint8", 3),
}


@contextmanager
def _opened(path: str | os.PathLike[str], fmt: str) -> Iterator[Image.Image]:
    """Open with Pillow, turning its errors (bomb, unidentified) into ``FormatError``."""
    try:
        with warnings.catch_warnings():
            # Our own ``max_pixels`` check replaces Pillow's warning threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=[fmt.upper()])
    except Image.DecompressionBombError as exc:
        raise FormatError(
            "too_large_dimensions",
            f"The {fmt.upper()} image is larger than the decoder accepts ({exc}).",
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FormatError("corrupt", f"The {fmt.upper()} header is damaged: {exc}") from exc
    with image:
        yield image


def _decode(image: Image.Image, fmt: str) -> np.ndarray:
    """Decode all pixels; truncated or damaged streams raise ``FormatError("corrupt")``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            if image.mode in ("P", "PA"):
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            elif image.mode in ("CMYK", "YCbCr", "RGBX", "RGBa", "La", "1"):
                image = image.convert("RGB" if image.mode != "1" else "L")
            array = np.asarray(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FormatError(
            "corrupt", f"The {fmt.upper()} pixel data is truncated or damaged: {exc}"
        ) from exc
    if (
        image.mode == "I"
        and fmt == "png"
        and array.size
        and array.min() >= 0
        and array.max() < 65536
    ):
        array = array.astype(np.uint16)  # older Pillow opens 16-bit PNG as 32-bit "I"
    return array


def header_size(path: str | os.PathLike[str], fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` from the PNG IHDR or the JPEG SOF marker, reading only headers."""
    with open(path, "rb") as fh:
        if fmt == "png":
            head = fh.read(24)
            if len(head) == 24 and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            return None
        return _jpeg_size(fh)


def _jpeg_size(fh: BinaryIO) -> tuple[int, int] | None:
    fh.seek(2)  # after SOI
    for _ in range(_MAX_JPEG_SEGMENTS):
        marker = fh.read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + fh.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        length_bytes = fh.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if marker[1] in _JPEG_SOF:
            frame = fh.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        if marker[1] == 0xDA or length < 2:  # start of scan before any frame header
            return None
        fh.seek(length - 2, os.SEEK_CUR)
    return None


def probe_raster(
    path: str | os.PathLike[str],
    *,
    fmt: str,
    max_pixels: int,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> Probe:
    """Validate a PNG/JPEG: dimensions and decoded size from the header, then a full decode."""
    declared = header_size(path, fmt)
    if declared is not None:
        check_dimensions(width=declared[0], height=declared[1], frames=1, max_pixels=max_pixels)
    with _opened(path, fmt) as image:  # opening reads the header only
        width, height = image.size
        check_dimensions(width=width, height=height, frames=1, max_pixels=max_pixels)
        dtype, channels = _check_budget(image, fmt, max_bytes)
        _decode(image, fmt)
    return Probe(format=fmt, width=width, height=height, frames=1, dtype=dtype, channels=channels)


def _check_budget(image: Image.Image, fmt: str, max_bytes: int) -> tuple[str, int]:
    """Stored sample dtype and samples per pixel of an opened (not yet decoded) image, checked
    against the samples-per-pixel limit and the decoded-bytes budget."""
    dtype, channels = _MODES.get(image.mode, ("uint8", len(image.getbands())))
    check_samples(channels, where=fmt.upper())
    width, height = image.size
    check_decoded_size(
        width=width,
        height=height,
        frames=1,
        samples=channels,
        itemsize=np.dtype(dtype).itemsize,
        max_bytes=max_bytes,
        where=fmt.upper(),
    )
    return dtype, channels


def read_raster(
    path: str | os.PathLike[str], *, fmt: str, max_bytes: int | None = None
) -> Micrograph:
    """Decode a PNG/JPEG into a grey ``(H, W)`` micrograph.

    With ``max_bytes``, the header is checked against that budget before any decoding.
    """
    array, info, mode, size = _decoded(path, fmt, max_bytes)
    data, conversion = to_grey(array)
    return Micrograph(
        format=fmt,
        data=data,
        calibration=_density_calibration(info, fmt),
        instrument={},
        raw=_raw(mode, size, info),
        rgb_conversion=conversion,
    )


@contextmanager
def open_raster(
    path: str | os.PathLike[str], *, fmt: str, max_bytes: int | None = None
) -> Iterator[FrameStream]:
    """A PNG/JPEG as a stream of its one frame (decoded whole: Pillow has no partial read
    of a compressed image that the stream could use)."""
    array, info, mode, size = _decoded(path, fmt, max_bytes)
    yield FrameStream(
        fmt=fmt,
        count=1,
        frames=iter([array]),
        finish=lambda: (_density_calibration(info, fmt), {}, _raw(mode, size, info)),
    )


def _decoded(
    path: str | os.PathLike[str], fmt: str, max_bytes: int | None
) -> tuple[np.ndarray, dict[str, Any], str, tuple[int, int]]:
    """The decoded samples, the header info, the Pillow mode and the size."""
    with _opened(path, fmt) as image:
        if max_bytes is not None:
            _check_budget(image, fmt, max_bytes)
        info = dict(image.info)
        mode, size = image.mode, image.size
        array = _decode(image, fmt)
    return array, info, mode, size


def _raw(mode: str, size: tuple[int, int], info: dict[str, Any]) -> dict[str, Any]:
    return {"mode": mode, "size": list(size), "info": json_safe(_readable_info(info))}


def _readable_info(info: dict[str, Any]) -> dict[str, Any]:
    # ICC profiles and EXIF blobs are binary; their presence is enough.
    return {k: (f"<{len(v)} bytes>" if isinstance(v, bytes) else v) for k, v in info.items()}


def _density_calibration(info: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Pixel size from PNG pHYs / JPEG JFIF density, ignoring default print densities."""
    dpi = info.get("dpi")
    if not dpi:
        return uncalibrated()
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return uncalibrated()
    return from_density(x, y, 2.54e7, source="png_phys" if fmt == "png" else "jpeg_density")
