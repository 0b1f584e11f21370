"""Gatan DigitalMicrograph DM3/DM4: tag tree via rosettasciio, pixels read frame by frame."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from rsciio.digitalmicrograph._api import DigitalMicrographReader

from .base import (
    DEFAULT_MAX_DECODED_BYTES,
    FormatError,
    Micrograph,
    Probe,
    check_decoded_size,
    check_dimensions,
    check_samples,
)
from .pixels import check_dtype
from .stream import FrameStream
from .tree import dig, json_safe
from .units import calibration, uncalibrated
from .values import as_float, datetime_from_parts, iso_datetime, prune

logger = logging.getLogger(__name__)

# DM image DataType → numpy dtype. 8/23 are 4-byte B, G, R, A pixels. Complex types
# (3, 5, 13, 27, 28) are FFTs, not micrographs, and are refused.
_DTYPES: dict[int, str] = {
    1: "int16",
    2: "float32",
    6: "uint8",
    7: "int32",
    9: "int8",
    10: "uint16",
    11: "uint32",
    12: "float64",
    14: "bool",
}
_RGBA_TYPES = (8, 23)


@dataclass(frozen=True)
class _Image:
    """The main image of a DM file: its tag group and where its pixels are."""

    tags: dict[str, Any]
    frames: int
    height: int
    width: int
    dtype: np.dtype
    channels: int
    offset: int
    nbytes: int


def _parse(fh: BinaryIO, fmt: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Parse the whole tag tree (pixel arrays are skipped, only their offsets kept)."""
    reader = DigitalMicrographReader(fh)
    try:
        reader.parse_file()
        images = reader.get_image_dictionaries() or []
    except Exception as exc:  # rsciio raises struct.error, IOError, KeyError… on bad input
        raise FormatError(
            "corrupt", f"The {fmt.upper()} tag structure is truncated or damaged ({exc})."
        ) from exc
    return reader.tags_dict, images


def _main_image(images: list[dict[str, Any]], fmt: str, file_size: int) -> _Image:
    """Pick the largest 2-D/3-D image (thumbnails are already excluded) and locate its data."""
    candidates = []
    for tags in images:
        dims = dig(tags, "ImageData", "Dimensions")
        if isinstance(dims, dict) and dims:
            shape = [int(v) for v in dims.values()][::-1]  # DM lists X first
            candidates.append((int(np.prod(shape)), shape, tags))
    if not candidates:
        raise FormatError("unsupported_content", f"The {fmt.upper()} file holds no image.")
    _, shape, tags = max(candidates, key=lambda c: c[0])
    meta_format = str(dig(tags, "ImageTags", "Meta Data", "Format") or "").lower()
    if meta_format in ("spectrum", "spectrum image") or len(shape) not in (2, 3):
        raise FormatError(
            "unsupported_content",
            f"The {fmt.upper()} file holds {len(shape)}-D data"
            f"{' (' + meta_format + ')' if meta_format else ''}; only 2-D images and image "
            "stacks are supported.",
        )
    data_type = dig(tags, "ImageData", "DataType")
    channels = 1
    if data_type in _RGBA_TYPES:
        dtype, channels = np.dtype("uint8"), 4
    elif data_type in _DTYPES:
        dtype = np.dtype(_DTYPES[data_type])
    else:
        raise FormatError(
            "unsupported_content",
            f"The {fmt.upper()} image has DataType {data_type} (complex or unknown), "
            "not a micrograph.",
        )
    data = dig(tags, "ImageData", "Data")
    if not isinstance(data, dict) or "offset" not in data:
        raise FormatError("corrupt", f"The {fmt.upper()} image has no pixel data.")
    if data.get("endian") == "big":
        dtype = dtype.newbyteorder(">")
    frames = shape[0] if len(shape) == 3 else 1
    height, width = shape[-2], shape[-1]
    expected = frames * height * width * dtype.itemsize * channels
    offset, nbytes = int(data["offset"]), int(data.get("size_bytes", expected))
    if nbytes < expected:
        raise FormatError(
            "corrupt",
            f"The {fmt.upper()} pixel array holds {nbytes:,} bytes; its dimensions need "
            f"{expected:,}.",
        )
    if offset + expected > file_size:
        raise FormatError(
            "corrupt",
            f"The {fmt.upper()} pixel data runs past the end of the file: it is truncated.",
        )
    return _Image(tags, frames, height, width, dtype, channels, offset, nbytes)


def _read_frame(fh: BinaryIO, image: _Image, index: int) -> np.ndarray:
    """Read frame ``index`` only: ``(H, W)``, or ``(H, W, 3)`` RGB for colour DM images."""
    per_frame = image.height * image.width * image.channels
    fh.seek(image.offset + index * per_frame * image.dtype.itemsize)
    raw = fh.read(per_frame * image.dtype.itemsize)
    if len(raw) != per_frame * image.dtype.itemsize:
        raise FormatError("corrupt", "The DM pixel data is truncated.")
    pixels = np.frombuffer(raw, dtype=image.dtype)
    if image.channels == 4:
        return pixels.reshape(image.height, image.width, 4)[:, :, [2, 1, 0]]  # BGRA → RGB
    return pixels.reshape(image.height, image.width).astype(image.dtype.newbyteorder("="))


def _check_budget(image: _Image, fmt: str, max_bytes: int) -> None:
    check_samples(image.channels, where=fmt.upper())
    check_decoded_size(
        width=image.width,
        height=image.height,
        frames=image.frames,
        samples=image.channels,
        itemsize=image.dtype.itemsize,
        max_bytes=max_bytes,
        where=fmt.upper(),
    )


def probe_dm(
    path: str | os.PathLike[str],
    *,
    fmt: str,
    max_pixels: int,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> Probe:
    """Validate a DM3/DM4: tags, dimensions and decoded size first, then every frame is read."""
    file_size = os.path.getsize(path)
    with open(path, "rb") as fh:
        _, images = _parse(fh, fmt)
        image = _main_image(images, fmt, file_size)
        check_dimensions(
            width=image.width, height=image.height, frames=image.frames, max_pixels=max_pixels
        )
        _check_budget(image, fmt, max_bytes)
        if image.channels == 1:
            check_dtype(image.dtype, where=fmt.upper())
        for index in range(image.frames):
            _read_frame(fh, image, index)
    return Probe(
        format=fmt,
        width=image.width,
        height=image.height,
        frames=image.frames,
        dtype=image.dtype.newbyteorder("=").name,
        channels=3 if image.channels == 4 else 1,
    )


def read_dm(path: str | os.PathLike[str], *, fmt: str, max_bytes: int | None = None) -> Micrograph:
    """Decode a DM3/DM4 into ``(H, W)`` or ``(T, H, W)`` with calibration and instrument tags.

    With ``max_bytes``, the tags are checked against that budget before any pixel is read.
    """
    with open_dm(path, fmt=fmt, max_bytes=max_bytes) as frames:
        return frames.read()


@contextmanager
def open_dm(
    path: str | os.PathLike[str], *, fmt: str, max_bytes: int | None = None
) -> Iterator[FrameStream]:
    """The DM file's frames, each read from the file when the stream reaches it.

    With ``max_bytes``, the tags are checked against that budget before any pixel is read.
    """
    file_size = os.path.getsize(path)
    with open(path, "rb") as fh:
        tree, images = _parse(fh, fmt)
        image = _main_image(images, fmt, file_size)
        if max_bytes is not None:
            _check_budget(image, fmt, max_bytes)
        yield FrameStream(
            fmt=fmt,
            count=image.frames,
            frames=(_read_frame(fh, image, i) for i in range(image.frames)),
            finish=lambda: _metadata(tree, image),
        )


def _metadata(tree: dict[str, Any], image: _Image) -> tuple[dict, dict, dict]:
    """(calibration, instrument, raw) of a parsed DM file."""
    raw = {key: value for key, value in tree.items() if key != "ImageList"}
    raw["ImageList"] = {"main": image.tags}
    try:
        cal, instrument = _calibration(image.tags), _instrument(image.tags, tree)
    except Exception as exc:  # metadata is best effort: the pixels are already good
        logger.warning("DM metadata extraction failed: %r", exc)
        cal, instrument = uncalibrated(), {}
        raw["metadata_error"] = str(exc)
    return cal, instrument, json_safe(raw)


def _group(tree: Any, *path: str) -> dict[str, Any]:
    """The tag group at ``path``, or an empty dict when absent or not a group."""
    node = dig(tree, *path)
    return node if isinstance(node, dict) else {}


def _text(value: Any) -> str:
    # rsciio returns an empty DM string as an empty list.
    return value if isinstance(value, str) else ""


def _calibration(tags: dict[str, Any]) -> dict[str, Any]:
    """Pixel size from ``ImageData/Calibrations/Dimension``: entry 0 is X, entry 1 is Y."""
    dims = dig(tags, "ImageData", "Calibrations", "Dimension")
    if not isinstance(dims, dict) or len(dims) < 2:
        return uncalibrated()
    x, y = list(dims.values())[:2]
    return calibration(
        as_float(dig(x, "Scale")),
        _text(dig(x, "Units")),
        y=as_float(dig(y, "Scale")),
        y_unit=_text(dig(y, "Units")),
        source="gatan_dm",
    )


def _instrument(tags: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    """Map GMS ``Microscope Info``, ``Session Info``, ``DataBar`` and ``Acquisition`` tags."""
    image_tags = _group(tags, "ImageTags")
    info = _group(image_tags, "Microscope Info")
    session = _group(image_tags, "Session Info")
    voltage = as_float(info.get("Voltage"))
    magnification = as_float(info.get("Indicated Magnification")) or as_float(
        info.get("Actual Magnification")
    )
    databar = _group(image_tags, "DataBar") or _group(tree, "DataBar")
    acquired = datetime_from_parts(
        databar.get("Acquisition Date"), databar.get("Acquisition Time")
    ) or iso_datetime(image_tags.get("Timestamp"))
    exposure = as_float(dig(image_tags, "Acquisition", "Parameters", "High Level", "Exposure (s)"))
    return prune(
        {
            "microscope": _text(info.get("Microscope"))
            or _text(info.get("Name"))
            or _text(session.get("Microscope")),
            "voltage_kv": voltage / 1000.0 if voltage else None,
            "magnification": magnification,
            "mode": _mode(info),
            "acquired_at": acquired,
            "operator": _text(session.get("Operator")) or _text(info.get("Operator")),
            "specimen": _text(session.get("Specimen")),
            "camera_length_mm": as_float(info.get("STEM Camera Length")),
            "detector": _text(dig(image_tags, "Acquisition", "Device", "Name")),
            "exposure_s": exposure,
        }
    )


def _mode(info: dict[str, Any]) -> str | None:
    """``"STEM"`` or ``"TEM"`` (``"… diffraction"`` in diffraction mode) from Microscope Info."""
    operation = _text(info.get("Operation Mode")).upper()
    illumination = _text(info.get("Illumination Mode")).upper()
    imaging = _text(info.get("Imaging Mode")).upper()
    if operation == "SCANNING" or "STEM" in illumination:
        mode = "STEM"
    elif operation in ("IMAGING", "DIFFRACTION", "TEM") or illumination:
        mode = "TEM"
    else:
        return None
    return f"{mode} diffraction" if "DIFFRACTION" in (imaging, operation) else mode
