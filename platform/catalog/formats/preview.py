"""8-bit previews and thumbnails (percentile stretch, antialiased resize) and PNG encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
# Percentiles are estimated on at most this many evenly strided samples (exact for smaller frames).
_PERCENTILE_SAMPLES = 1 << 20


def _frame(data: np.ndarray, index: int) -> np.ndarray:
    if data.ndim == 2:
        return data
    if data.ndim == 3:
        if not -data.shape[0] <= index < data.shape[0]:
            raise IndexError(f"frame {index} out of range for {data.shape[0]} frames")
        return data[index]
    raise ValueError(f"expected (H, W) or (T, H, W) data, got shape {data.shape}")


def stretch(frame: np.ndarray) -> np.ndarray:
    """Map the 0.5–99.5 % percentile range of ``frame`` to float32 0–1 (NaN/inf → 0)."""
    values = frame.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    sample = values[finite] if not finite.all() else values.ravel()
    if sample.size == 0:
        return np.zeros(frame.shape, dtype=np.float32)
    step = max(1, sample.size // _PERCENTILE_SAMPLES)
    low, high = np.percentile(sample[::step], [LOW_PERCENTILE, HIGH_PERCENTILE])
    if high <= low:  # flat image: fall back to the full range, or black if constant
        low, high = float(sample.min()), float(sample.max())
        if high <= low:
            return np.zeros(frame.shape, dtype=np.float32)
    out = (values - np.float32(low)) / np.float32(high - low)
    out = np.clip(out, 0.0, 1.0, out=out)
    out[~finite] = 0.0
    return out


def preview_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(h, w) of the preview of a (height, width) frame: the longest side at most ``max_side``,
    aspect kept, never upscaled (a result's map at the preview's size uses the same)."""
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    factor = max_side / longest
    return max(1, round(height * factor)), max(1, round(width * factor))


def preview(data: np.ndarray, *, max_side: int = 2048, index: int = 0) -> np.ndarray:
    """Return an 8-bit ``(h, w)`` preview of frame ``index`` with its longest side ≤ ``max_side``.

    Contrast is a 0.5–99.5 % percentile stretch of the full-resolution frame (never a
    divide-by-256), so 16-bit and float data use the full 0–255 range. Downscaling is
    antialiased (Lanczos on the stretched floats); images are never upscaled.
    """
    if max_side < 1:
        raise ValueError("max_side must be ≥ 1")
    frame = _frame(np.asarray(data), index)
    if frame.ndim != 2 or frame.size == 0:
        raise ValueError(f"expected a non-empty 2-D frame, got shape {frame.shape}")
    scaled = stretch(frame)
    out_h, out_w = preview_shape(*scaled.shape, max_side)
    if (out_h, out_w) != scaled.shape:
        size = (out_w, out_h)
        scaled = np.asarray(Image.fromarray(scaled).resize(size, Image.Resampling.LANCZOS))
    return np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)


def thumbnail(data: np.ndarray, *, side: int = 256, index: int = 0) -> np.ndarray:
    """Return an 8-bit thumbnail whose longest side is at most ``side`` (aspect kept)."""
    return preview(data, max_side=side, index=index)


def encode_png(arr: np.ndarray) -> bytes:
    """Encode ``uint8`` grey/RGB/RGBA or ``uint16`` grey pixels as PNG bytes."""
    arr = np.ascontiguousarray(arr)
    grey = arr.ndim == 2 and arr.dtype in (np.uint8, np.uint16)
    colour = arr.ndim == 3 and arr.dtype == np.uint8 and arr.shape[2] in (3, 4)
    if not (grey or colour):
        raise ValueError(f"cannot encode {arr.dtype} array of shape {arr.shape} as PNG")
    image = Image.fromarray(arr)  # uint16 → "I;16", written as 16-bit grey PNG
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
