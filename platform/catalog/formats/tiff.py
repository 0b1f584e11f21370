"""TIFF and BigTIFF through tifffile: layout, bomb check, frame-by-frame decode, read."""

from __future__ import annotations

import logging
import lzma
import math
import os
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import tifffile
from PIL import Image

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
from .tiff_metadata import tiff_metadata
from .units import uncalibrated

logger = logging.getLogger(__name__)

_REPR = re.compile(r"<tifffile\.[^>]*>\s*")

#: Tiles may overhang a small image (a 64 px image in one 256 px tile), but not by gigabytes.
_MAX_TILE_OVERHANG_BYTES = 16 * 1024**2


@dataclass(frozen=True)
class _Layout:
    """Where the micrograph sits in the file: first series, frames flattened before Y, X."""

    series: tifffile.TiffPageSeries
    frames: int
    height: int
    width: int
    channels: int
    dtype: np.dtype
    samples: int  # SamplesPerPixel of the first page's IFD
    page_bytes: int  # decoded bytes of one page, from the first page's IFD


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
    keyframe = series.keyframe
    return _Layout(
        series=series,
        frames=frames,
        height=sizes["Y"],
        width=sizes["X"],
        channels=sizes.get("S", 1),
        dtype=dtype,
        samples=int(keyframe.samplesperpixel),
        page_bytes=math.prod(int(n) for n in keyframe.shape) * _itemsize(dtype),
    )


def _itemsize(dtype: np.dtype | None) -> int:
    return np.dtype(dtype).itemsize if dtype is not None else 1


def _check_budget(layout: _Layout, max_bytes: int) -> None:
    """Samples per pixel and decoded bytes of the whole series, from the IFDs alone."""
    check_samples(max(layout.samples, layout.channels), where="TIFF")
    check_decoded_size(
        width=layout.width,
        height=layout.height,
        frames=layout.frames,
        samples=layout.channels,
        itemsize=_itemsize(layout.dtype),
        max_bytes=max_bytes,
        where="TIFF",
    )


def _check_page(page: tifffile.TiffPage | tifffile.TiffFrame, layout: _Layout) -> None:
    """Refuse, before decoding it, a page whose IFD declares more than the first page's size.

    tifffile allocates what each page's own IFD declares (and a tile's full size per tile),
    so a later page or an oversized tile could ask for far more than the series' shape.
    """
    keyframe = page.keyframe
    check_samples(keyframe.samplesperpixel, where="TIFF page")
    itemsize = _itemsize(keyframe.dtype)
    declared = math.prod(int(n) for n in keyframe.shape) * itemsize
    if declared > layout.page_bytes:
        raise FormatError(
            "corrupt",
            f"A TIFF page declares {declared:,} bytes of pixels, more than the "
            f"{layout.page_bytes:,} of the first page.",
        )
    if keyframe.is_tiled:
        samples = keyframe.samplesperpixel if keyframe.planarconfig == 1 else 1
        tile = keyframe.tiledepth * keyframe.tilelength * keyframe.tilewidth * samples * itemsize
        if tile > max(layout.page_bytes, _MAX_TILE_OVERHANG_BYTES):
            raise FormatError(
                "corrupt",
                f"The TIFF declares tiles of {keyframe.tilewidth}x{keyframe.tilelength} pixels, "
                f"far larger than its {keyframe.imagewidth}x{keyframe.imagelength} image.",
            )


def _iter_frames(tif: tifffile.TiffFile, layout: _Layout, file_size: int) -> Iterator[np.ndarray]:
    """Yield ``(H, W)`` or ``(H, W, C)`` frames, decoding one page at a time."""
    for page in layout.series.pages:
        if page is None:
            raise FormatError("corrupt", "A TIFF page is missing (truncated file?).")
        _check_page(page, layout)
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


def probe_tiff(
    path: str | os.PathLike[str],
    *,
    max_pixels: int,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> Probe:
    """Validate a TIFF: layout and bomb checks from the IFDs, then decode every frame."""
    file_size = os.path.getsize(path)
    with _opened(path) as (tif, trap):
        layout = _layout(tif)
        check_dimensions(
            width=layout.width, height=layout.height, frames=layout.frames, max_pixels=max_pixels
        )
        _check_budget(layout, max_bytes)
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


def read_tiff(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Micrograph:
    """Decode a TIFF into ``(H, W)`` or ``(T, H, W)`` grey pixels with its metadata.

    With ``max_bytes``, the IFDs are checked against that budget before any decoding.
    """
    with open_tiff(path, max_bytes=max_bytes) as frames:
        return frames.read()


@contextmanager
def open_tiff(
    path: str | os.PathLike[str], *, max_bytes: int | None = None
) -> Iterator[FrameStream]:
    """The TIFF's frames, decoded one page at a time while the stream is iterated.

    With ``max_bytes``, the IFDs are checked against that budget before any decoding.
    """
    file_size = os.path.getsize(path)
    with _opened(path) as (tif, trap):
        layout = _layout(tif)
        if max_bytes is not None:
            _check_budget(layout, max_bytes)
        check_dtype(layout.dtype, where="TIFF")

        def finish() -> tuple[dict, dict, dict]:
            _raise_trapped(trap)
            try:
                cal, instrument, raw = tiff_metadata(tif)
            except Exception as exc:  # metadata is best effort: the pixels are already good
                logger.warning("TIFF metadata extraction failed: %r", exc)
                cal, instrument, raw = uncalibrated(), {}, {"metadata_error": _clean(str(exc))}
            raw["series_axes"] = layout.series.axes
            raw["pages"] = len(tif.pages)
            return cal, instrument, raw

        yield FrameStream(
            fmt="tiff",
            count=layout.frames,
            frames=_iter_frames(tif, layout, file_size),
            finish=finish,
        )


# --- bounded decompression ------------------------------------------------------------
# Without the optional imagecodecs package, tifffile inflates Deflate and LZMA segments with
# zlib.decompress / lzma.decompress, which ignore the segment size tifffile passes as ``out``:
# a strip of a few megabytes can inflate to gigabytes before tifffile cuts it to size. These
# decoders stop at that size (tifffile keeps only that much anyway: same pixels, bounded memory).


def _inflate(data: bytes, /, *, out: object = None, **_: object) -> bytes:
    """A Deflate segment, inflated to at most ``out`` bytes (its decoded size)."""
    limit = out if isinstance(out, int) and out > 0 else 0
    decompressor = zlib.decompressobj()
    result = decompressor.decompress(bytes(data), limit)  # 0: no limit
    if not decompressor.eof and (not limit or len(result) < limit):
        raise zlib.error("incomplete or truncated Deflate stream")
    return result


def _unxz(data: bytes, /, *, out: object = None, **_: object) -> bytes:
    """An LZMA segment, decompressed to at most ``out`` bytes (its decoded size)."""
    limit = out if isinstance(out, int) and out > 0 else -1
    decompressor = lzma.LZMADecompressor()
    result = decompressor.decompress(bytes(data), limit)  # -1: no limit
    if not decompressor.eof and (limit < 0 or len(result) < limit):
        raise lzma.LZMAError("incomplete or truncated LZMA stream")
    return result


def _install_bounded_decoders() -> None:
    codecs = getattr(tifffile.TIFF.DECOMPRESSORS, "_codecs", None)
    if not isinstance(codecs, dict):  # a tifffile whose codec table changed shape
        logger.warning("tifffile's codec table not found: Deflate/LZMA TIFFs decode unbounded")
        return
    for compression in (8, 32946, 50013):  # Adobe Deflate, Deflate, PixTIFF Deflate
        codecs[compression] = _inflate
    codecs[34925] = _unxz


_install_bounded_decoders()
