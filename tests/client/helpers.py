"""Helpers of the client tests."""

import io

import numpy as np
from PIL import Image as PILImage


def png_bytes(seed: int, size: int = 48) -> bytes:
    """A small 8-bit PNG, different for every seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
