"""Detect a file's format from its first bytes and check its extension agrees."""

from __future__ import annotations

import os
import struct
from pathlib import PurePath

from .base import EXTENSIONS, FormatError

HEADER_BYTES = 32

_PNG = b"\x89PNG\r\n\x1a\n"

# Signatures of formats we do not accept, to name them in the error message.
_OTHER_SIGNATURES = (
    (b"\x89HDF\r\n\x1a\n", "HDF5 (e.g. Velox .emd or .h5)"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"RIFF", "RIFF (WebP/AVI)"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)


def read_header(path: str | os.PathLike[str], size: int = HEADER_BYTES) -> bytes:
    """Return the first ``size`` bytes of ``path`` (never the whole file)."""
    with open(path, "rb") as fh:
        return fh.read(size)


def sniff_bytes(head: bytes) -> str | None:
    """Return the format whose signature starts ``head``, or ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(_PNG):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    return _sniff_dm(head)


def _sniff_dm(head: bytes) -> str | None:
    """Recognise a Gatan DM3/DM4 header: version, file size, byte order, root group flags."""
    if len(head) < 18:
        return None
    version = struct.unpack(">I", head[:4])[0]
    if version == 3:
        order_at = 8
    elif version == 4:
        order_at = 12
    else:
        return None
    byte_order = struct.unpack(">I", head[order_at : order_at + 4])[0]
    sorted_flag, open_flag = head[order_at + 4], head[order_at + 5]
    if byte_order in (0, 1) and sorted_flag in (0, 1) and open_flag in (0, 1):
        return f"dm{version}"
    return None


def describe_unknown(head: bytes) -> str:
    """Human-readable guess of what an unsupported file is."""
    for signature, name in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return f"The file looks like {name}, which is not a supported micrograph format."
    return "The file is not a recognised micrograph format."


def sniff(path: str | os.PathLike[str]) -> str:
    """Return the format of the file at ``path`` or raise ``FormatError`` (empty/unknown)."""
    if os.path.getsize(path) == 0:
        raise FormatError("empty", "The file is empty.")
    head = read_header(path)
    fmt = sniff_bytes(head)
    if fmt is None:
        raise FormatError(
            "unknown_format",
            describe_unknown(head) + " Supported: TIFF, PNG, JPEG, Gatan DM3 and DM4.",
        )
    return fmt


def check_extension(fmt: str, filename: str) -> None:
    """Refuse a file name whose extension does not match the detected content."""
    suffix = PurePath(filename).suffix.lower()
    expected = EXTENSIONS[fmt]
    if suffix in expected:
        return
    claimed = next((name for name, exts in EXTENSIONS.items() if suffix in exts), None)
    wanted = ", ".join(expected)
    if claimed is not None:
        message = (
            f"The file name {filename!r} says {claimed.upper()} but the content is "
            f"{fmt.upper()}; rename it with {wanted}."
        )
    else:
        shown = suffix or "no extension"
        message = (
            f"The file name {filename!r} has {shown}; {fmt.upper()} content must be named "
            f"with {wanted}."
        )
    raise FormatError("extension_mismatch", message)
