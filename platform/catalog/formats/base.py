"""Shared types of the format layer: the error, the probe result and the decoded micrograph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Formats this package recognises, as stored in ``Probe.format``.
FORMATS = ("jpeg", "png", "tiff", "dm3", "dm4")

#: Lower-case file extensions accepted for each format.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "jpeg": (".jpg", ".jpeg"),
    "png": (".png",),
    "tiff": (".tif", ".tiff"),
    "dm3": (".dm3",),
    "dm4": (".dm4",),
}

#: Samples per pixel a micrograph may store: grey, grey + alpha, RGB, RGBA (or CMYK).
MAX_SAMPLES_PER_PIXEL = 4

#: Decoded bytes one file may declare unless the caller sets another budget: the default upload
#: limit, so that every uncompressed file the server accepts by size also fits once decoded.
DEFAULT_MAX_DECODED_BYTES = 2 * 1024**3

#: Error codes a :class:`FormatError` can carry, with the HTTP status the API should use.
ERROR_CODES: dict[str, int] = {
    "empty": 400,
    "unknown_format": 415,
    "extension_mismatch": 415,
    "corrupt": 400,
    "too_large_dimensions": 413,
    "too_large_decoded": 413,
    "unsupported_content": 415,
    "no_finite_pixels": 400,
}


class FormatError(Exception):
    """A file that cannot be accepted; ``str(error)`` is safe to show to the uploader."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown FormatError code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """HTTP status that fits this error (400, 413 or 415)."""
        return ERROR_CODES[self.code]


@dataclass(frozen=True)
class Probe:
    """What a validated file holds, learnt without keeping its pixels.

    ``dtype`` is the stored sample type (``"uint8"``, ``"uint16"``, ``"float32"``…) and
    ``channels`` the stored samples per pixel (1 grey, 3 RGB, 4 RGBA…), before any
    conversion done by :func:`catalog.formats.read`.
    """

    format: str
    width: int
    height: int
    frames: int
    dtype: str
    channels: int

    @property
    def pixels(self) -> int:
        """Total number of pixels over all frames."""
        return self.width * self.height * self.frames


@dataclass(frozen=True, eq=False)
class Micrograph:
    """A decoded micrograph: grey pixels, calibration, instrument metadata and the raw tags.

    ``data`` is ``(H, W)`` or ``(T, H, W)``. ``rgb_conversion`` is ``None`` for grey files,
    ``"identical_channels"`` when an RGB file held grey pixels (first channel kept, dtype
    unchanged) and ``"luminance"`` when real colour was converted to float32 luma
    (ITU-R BT.601 weights).
    """

    format: str
    data: np.ndarray
    calibration: dict[str, Any]
    instrument: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    rgb_conversion: str | None = None

    @property
    def frames(self) -> int:
        """Number of frames (1 for a single image)."""
        return 1 if self.data.ndim == 2 else int(self.data.shape[0])


def check_dimensions(*, width: int, height: int, frames: int, max_pixels: int) -> None:
    """Refuse header dimensions that are empty or exceed ``max_pixels`` (before any decoding)."""
    if width <= 0 or height <= 0 or frames <= 0:
        raise FormatError(
            "corrupt", f"The file declares an empty image ({width}x{height}, {frames} frame(s))."
        )
    total = int(width) * int(height) * int(frames)
    if total > max_pixels:
        raise FormatError(
            "too_large_dimensions",
            f"The image declares {width}x{height} pixels x {frames} frame(s) = {total:,} pixels, "
            f"more than the limit of {max_pixels:,}.",
        )


def check_samples(samples: int, *, where: str) -> None:
    """Refuse more than :data:`MAX_SAMPLES_PER_PIXEL` samples per pixel (from the header)."""
    if int(samples) > MAX_SAMPLES_PER_PIXEL:
        raise FormatError(
            "unsupported_content",
            f"The {where} stores {samples} samples per pixel; a micrograph has at most "
            f"{MAX_SAMPLES_PER_PIXEL} (grey, grey + alpha, RGB or RGBA).",
        )


def check_decoded_size(
    *,
    width: int,
    height: int,
    frames: int,
    samples: int,
    itemsize: int,
    max_bytes: int,
    where: str,
) -> int:
    """Refuse a file whose header declares more decoded bytes than ``max_bytes``.

    The decoded size is width × height × frames × samples per pixel × bytes per sample, all
    read from the header before any pixel is decoded: a small compressed file may declare
    gigabytes. Returns that size.
    """
    total = int(width) * int(height) * int(frames) * max(int(samples), 1) * max(int(itemsize), 1)
    if total > max_bytes:
        raise FormatError(
            "too_large_decoded",
            f"The {where} declares {width}x{height} pixels x {frames} frame(s) x {samples} "
            f"sample(s) of {itemsize} byte(s) = {_mib(total)} once decoded, more than this "
            f"server's limit of {_mib(max_bytes)}.",
        )
    return total


def _mib(nbytes: int) -> str:
    return f"{nbytes / 1024**2:,.1f} MiB"
