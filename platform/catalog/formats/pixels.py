"""Pixel conventions shared by all readers: supported dtypes and colour-to-grey conversion."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .base import FormatError

SUPPORTED_DTYPES = frozenset(
    {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"}
)

# ITU-R BT.601 luma weights, the convention of Pillow's "L" conversion and of most viewers.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Colour is converted a block of rows at a time: a float32 copy of a whole RGB frame would take
# 12 bytes per pixel on top of the frame (the same numbers either way: each pixel's own dot).
_LUMA_BLOCK_BYTES = 16 * 1024**2


def check_dtype(dtype: np.dtype | str, *, where: str) -> np.dtype:
    """Return ``dtype`` (bool promoted to uint8) or refuse complex/unusual sample types."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    if dtype.name not in SUPPORTED_DTYPES:
        raise FormatError(
            "unsupported_content",
            f"The {where} holds {dtype.name} samples; supported are "
            f"{', '.join(sorted(SUPPORTED_DTYPES))}.",
        )
    return dtype


def to_grey(frame: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Convert ``(H, W)`` or ``(H, W, C)`` pixels to ``(H, W)`` grey.

    Returns the grey pixels and how they were obtained: ``None`` (already grey or a grey
    image with alpha: alpha dropped), ``"identical_channels"`` (R == G == B: the first channel
    is kept losslessly in its dtype) or ``"luminance"`` (real colour: BT.601 luma, float32).
    """
    if frame.dtype == np.bool_:
        frame = frame.astype(np.uint8)
    if frame.ndim == 2:
        return frame, None
    if frame.ndim != 3:
        raise ValueError(f"expected (H, W) or (H, W, C) pixels, got shape {frame.shape}")
    channels = frame.shape[2]
    if channels == 1:
        return frame[:, :, 0], None
    if channels == 2:  # grey + alpha
        return frame[:, :, 0], None
    rgb = frame[:, :, :3]
    red = rgb[:, :, 0]
    if np.array_equal(red, rgb[:, :, 1]) and np.array_equal(red, rgb[:, :, 2]):
        return np.ascontiguousarray(red), "identical_channels"
    grey = np.empty(rgb.shape[:2], dtype=np.float32)
    rows = max(1, _LUMA_BLOCK_BYTES // max(1, rgb.shape[1] * 3 * 4))
    for start in range(0, rgb.shape[0], rows):
        grey[start : start + rows] = rgb[start : start + rows].astype(np.float32) @ _LUMA
    return grey, "luminance"


def merge_conversions(conversions: list[str | None]) -> str | None:
    """One conversion label for a stack: ``"luminance"`` wins over ``"identical_channels"``."""
    if "luminance" in conversions:
        return "luminance"
    if "identical_channels" in conversions:
        return "identical_channels"
    return None


def stack_grey(frames: Iterable[np.ndarray], count: int) -> tuple[np.ndarray, str | None]:
    """Convert ``count`` frames to grey into one preallocated ``(T, H, W)`` array.

    A single frame gives ``(H, W)``. If any frame needs a luminance conversion the whole
    stack becomes float32 so frames stay comparable.
    """
    out: np.ndarray | None = None
    conversions: list[str | None] = []
    for index, frame in enumerate(frames):
        grey, conversion = to_grey(frame)
        conversions.append(conversion)
        if out is None:
            out = np.empty((count, *grey.shape), dtype=grey.dtype)
        elif grey.shape != out.shape[1:]:
            raise FormatError(
                "corrupt", f"Frame {index} has shape {grey.shape}, not {out.shape[1:]}."
            )
        if conversion == "luminance" and out.dtype != np.float32:
            out = out.astype(np.float32)
        out[index] = grey
    if out is None or len(conversions) != count:
        raise FormatError("corrupt", f"The file holds {len(conversions)} of {count} frames.")
    conversion = merge_conversions(conversions)
    return (out[0] if count == 1 else out), conversion
