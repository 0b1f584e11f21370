"""Entry points: ``probe`` (validate an upload) and ``read`` (decode it with metadata)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .base import DEFAULT_MAX_DECODED_BYTES, FORMATS, FormatError, Micrograph, Probe
from .raster import open_raster, probe_raster, read_raster
from .sniff import check_extension, sniff
from .stream import FrameStream, no_finite_pixels
from .tiff import open_tiff, probe_tiff, read_tiff


def probe(
    path: str | os.PathLike[str],
    *,
    filename: str,
    max_pixels: int,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> Probe:
    """Validate the file at ``path`` (uploaded as ``filename``) and describe it.

    Checks, in order: not empty; a known signature (only the first bytes are read);
    the extension matches the content; from the header alone (before any decoding),
    width × height × frames ≤ ``max_pixels``, at most 4 samples per pixel and decoded bytes
    (pixels × samples × bytes per sample) ≤ ``max_bytes``; then every frame is decoded once,
    one at a time, so truncation and damaged compressed streams are found. Raises
    :class:`FormatError`.
    """
    with _path_hidden(path, f"'{filename}'"):
        fmt = sniff(path)
        check_extension(fmt, filename)
        if fmt in ("png", "jpeg"):
            return probe_raster(path, fmt=fmt, max_pixels=max_pixels, max_bytes=max_bytes)
        if fmt == "tiff":
            return probe_tiff(path, max_pixels=max_pixels, max_bytes=max_bytes)
        return _dm().probe_dm(path, fmt=fmt, max_pixels=max_pixels, max_bytes=max_bytes)


def read(
    path: str | os.PathLike[str],
    *,
    fmt: str,
    filename: str = "original",
    max_bytes: int | None = None,
) -> Micrograph:
    """Decode a file already accepted by :func:`probe` (``fmt`` is ``Probe.format``).

    With ``max_bytes``, samples per pixel and decoded bytes are checked from the header
    again before decoding (a file accepted under an older, larger budget). Raises
    :class:`FormatError` if the content is not ``fmt``, over that budget or damaged; its
    message names the file as ``filename``, never by its local path.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    with _path_hidden(path, f"'{filename}'"):
        return _read(path, fmt, max_bytes)


def _read(path: str | os.PathLike[str], fmt: str, max_bytes: int | None) -> Micrograph:
    actual = sniff(path)
    if actual != fmt:
        raise FormatError(
            "extension_mismatch", f"The file holds {actual.upper()}, not {fmt.upper()}."
        )
    if fmt in ("png", "jpeg"):
        micrograph = read_raster(path, fmt=fmt, max_bytes=max_bytes)
    elif fmt == "tiff":
        micrograph = read_tiff(path, max_bytes=max_bytes)
    else:
        micrograph = _dm().read_dm(path, fmt=fmt, max_bytes=max_bytes)
    if np.issubdtype(micrograph.data.dtype, np.inexact) and not np.isfinite(micrograph.data).any():
        raise no_finite_pixels()
    return micrograph


@contextmanager
def stream(
    path: str | os.PathLike[str],
    *,
    fmt: str,
    filename: str = "original",
    max_bytes: int | None = None,
) -> Iterator[FrameStream]:
    """:func:`read`'s frames one at a time: peak memory is about one decoded frame, not the
    stack (TIFF page by page, DM3/DM4 frame by frame; a PNG/JPEG is one frame).

    The same checks as :func:`read`, with the same messages: the header's budget before any
    decoding; a damaged frame when it is reached; a missing frame, a damaged structure or no
    finite pixel once the last frame has been yielded (what a caller wrote from earlier
    frames is then its own to discard). Iterate the stream inside the ``with`` block.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    with _path_hidden(path, f"'{filename}'"):
        actual = sniff(path)
        if actual != fmt:
            raise FormatError(
                "extension_mismatch", f"The file holds {actual.upper()}, not {fmt.upper()}."
            )
        if fmt in ("png", "jpeg"):
            opened = open_raster(path, fmt=fmt, max_bytes=max_bytes)
        elif fmt == "tiff":
            opened = open_tiff(path, max_bytes=max_bytes)
        else:
            opened = _dm().open_dm(path, fmt=fmt, max_bytes=max_bytes)
        with opened as frames:
            yield frames


@contextmanager
def _path_hidden(path: str | os.PathLike[str], name: str) -> Iterator[None]:
    """Decoders quote the file they read ("cannot identify image file '/tmp/…'"): the
    uploader sees ``name`` instead of the server's temporary path."""
    try:
        yield
    except FormatError as err:
        local = os.fspath(path)
        if local not in err.message:
            raise
        for quoted in (f"'{local}'", f'"{local}"', local):
            err.message = err.message.replace(quoted, name)
        err.args = (err.message,)
        raise


def _dm():
    # rosettasciio pulls in dask (~0.6 s): import it only when a DM file arrives.
    from . import dm

    return dm
