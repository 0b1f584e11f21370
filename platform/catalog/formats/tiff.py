"""TIFF and BigTIFF through tifffile: layout, bomb check, frame-by-frame decode, read."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import tifffile
from PIL import Image

from .base import FormatError, Micrograph, Probe, check_dimensions
from .pixels import check_dtype, stack_grey
from .tiff_metadata import tiff_metadata
from .units import uncalibrated

logger = logging.getLogger(__name__)

_REPR = re.compile(r"<tifffile\.[^>]*>\s*")


@dataclass(frozen=True)
class _Layout:
    """Where the micrograph sits in the file: first series, frames flattened before Y, X."""

    series: tifffile.TiffPageSeries
    frames: int
    height: int
    width: int
    channels: int
    dtype: np.dtype


class _ErrorTrap(logging.Handler):
    """Collect tifffile's ERROR log records (how it reports broken IFD chains) for this thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(_clean(record.getMessage()))


def _clean(message: str) -> str:
    """Drop tifffile's object reprs (they name the stored file) from a message."""
    return _REPR.sub("", message).strip()


@contextmanager
def _opened(path: str | os.PathLike[str]) -> Iterator[tuple[tifffile.TiffFile, _ErrorTrap]]:
    logger = logging.getLogger("tifffile")
    trap = _ErrorTrap()
    logger.addHandler(trap)
    try:
        try:
            tif = tifffile.TiffFile(path)
        except Exception as exc:
            raise FormatError("corrupt", f"The TIFF header is damaged: {_clean(str(exc))}") from exc
        with tif:
            yield tif, trap
    finally:
        logger.removeHandler(trap)


def _raise_trapped(trap: _ErrorTrap) -> None:
    if trap.messages:
        raise FormatError(
            "corrupt",
            f"The TIFF structure is damaged (truncated file?): {trap.messages[0]}",
        )


def _layout(tif: tifffile.TiffFile) -> _Layout:
    """Find Y, X and samples axes of the first series; everything else counts as frames."""
    try:
        series = tif.series[0]
        axes, shape = series.axes, tuple(int(n) for n in series.shape)
        dtype = series.dtype
    except IndexError as exc:
        raise FormatError("corrupt", "The TIFF holds no image.") from exc
    except Exception as exc:
        raise FormatError("corrupt", f"The TIFF structure is damaged: {_clean(str(exc))}") from exc
    if "Y" not in axes or "X" not in axes:
        raise FormatError("unsupported_content", f"The TIFF image has axes {axes!r}, not an image.")
    sizes = dict(zip(axes, shape, strict=True))
    frames = math.prod(n for a, n in zip(axes, shape, strict=True) if a not in "YXS")
    return _Layout(
        series=series,
        frames=frames,
        height=sizes["Y"],
        width=sizes["X"],
        channels=sizes.get("S", 1),
        dtype=dtype,
    )


def _iter_frames(tif: tifffile.TiffFile, layout: _Layout, file_size: int) -> Iterator[np.ndarray]:
    """Yield ``(H, W)`` or ``(H, W, C)`` frames, decoding one page at a time."""
    for page in layout.series.pages:
        if page is None:
            raise FormatError("corrupt", "A TIFF page is missing (truncated file?).")
        _check_extents(page, file_size)
        array = _decode_page(tif, page)
        page_axes = page.axes if hasattr(page, "axes") else page.keyframe.axes
        yield from _frames_of(array, page_axes, layout)


def _check_extents(page: tifffile.TiffPage | tifffile.TiffFrame, file_size: int) -> None:
    for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False):
        if count and offset + count > file_size:
            raise FormatError(
                "corrupt",
                f"The TIFF pixel data runs past the end of the file (byte {offset + count:,} of "
                f"{file_size:,}): the file is truncated.",
            )


def _decode_page(
    tif: tifffile.TiffFile, page: tifffile.TiffPage | tifffile.TiffFrame
) -> np.ndarray:
    try:
        return page.asarray()
    except ValueError as exc:
        if "imagecodecs" not in str(exc) or not isinstance(page.index, int):
            raise FormatError(
                "corrupt", f"The TIFF pixel data is damaged: {_clean(str(exc))}"
            ) from exc
        # LZW/JPEG-compressed TIFFs need imagecodecs in tifffile; Pillow's libtiff decodes them.
        return _decode_with_pillow(tif.filehandle.path, page.index)
    except FormatError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise FormatError("corrupt", f"The TIFF pixel data is damaged: {_clean(str(exc))}") from exc


def _decode_with_pillow(path: str, index: int) -> np.ndarray:
    try:
        with Image.open(path, formats=["TIFF"]) as image:
            image.seek(index)
            image.load()
            return np.asarray(image)
    except Image.DecompressionBombError as exc:
        raise FormatError("too_large_dimensions", f"The TIFF page is too large ({exc}).") from exc
    except Exception as exc:
        text = str(exc)
        if "not available" in text or "not supported" in text or "unknown" in text.lower():
            raise FormatError(
                "unsupported_content", f"The TIFF compression cannot be decoded here: {text}"
            ) from exc
        raise FormatError("corrupt", f"The TIFF pixel data is damaged: {text}") from exc


def _frames_of(array: np.ndarray, axes: str, layout: _Layout) -> Iterator[np.ndarray]:
    """Reorder a page array to ``(n, H, W[, C])`` and yield its frames."""
    array = np.asarray(array)
    if array.ndim != len(axes):  # Pillow fallback: already (H, W) or (H, W, C)
        axes = "YXS"[: array.ndim]
    if "S" in axes:
        array = np.moveaxis(array, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    lead = [i for i, a in enumerate(axes) if a not in "YXS"]
    order = lead + [axes.index("Y"), axes.index("X")] + ([len(axes) - 1] if "S" in axes else [])
    array = np.transpose(array, order)
    array = array.reshape((-1, *array.shape[len(lead) :]))
    if array.shape[1:3] != (layout.height, layout.width):
        raise FormatError(
            "corrupt",
            f"A TIFF page is {array.shape[2]}x{array.shape[1]}, not "
            f"{layout.width}x{layout.height} like the first one.",
        )
    yield from array


def probe_tiff(path: str | os.PathLike[str], *, max_pixels: int) -> Probe:
    """Validate a TIFF: layout and bomb check from the IFDs, then decode every frame."""
    file_size = os.path.getsize(path)
    with _opened(path) as (tif, trap):
        layout = _layout(tif)
        check_dimensions(
            width=layout.width, height=layout.height, frames=layout.frames, max_pixels=max_pixels
        )
        check_dtype(layout.dtype, where="TIFF")
        _raise_trapped(trap)
        seen = 0
        for _ in _iter_frames(tif, layout, file_size):
            seen += 1
        _raise_trapped(trap)
    if seen != layout.frames:
        raise FormatError("corrupt", f"The TIFF holds {seen} of its {layout.frames} frames.")
    return Probe(
        format="tiff",
        width=layout.width,
        height=layout.height,
        frames=layout.frames,
        dtype=np.dtype(layout.dtype).name,
        channels=layout.channels,
    )


def read_tiff(path: str | os.PathLike[str]) -> Micrograph:
    """Decode a TIFF into ``(H, W)`` or ``(T, H, W)`` grey pixels with its metadata."""
    file_size = os.path.getsize(path)
    with _opened(path) as (tif, trap):
        layout = _layout(tif)
        check_dtype(layout.dtype, where="TIFF")
        data, conversion = stack_grey(_iter_frames(tif, layout, file_size), layout.frames)
        _raise_trapped(trap)
        try:
            cal, instrument, raw = tiff_metadata(tif)
        except Exception as exc:  # metadata is best effort: the pixels are already good
            logger.warning("TIFF metadata extraction failed: %r", exc)
            cal, instrument, raw = uncalibrated(), {}, {"metadata_error": _clean(str(exc))}
        raw["series_axes"] = layout.series.axes
        raw["pages"] = len(tif.pages)
    return Micrograph(
        format="tiff",
        data=data,
        calibration=cal,
        instrument=instrument,
        raw=raw,
        rgb_conversion=conversion,
    )
