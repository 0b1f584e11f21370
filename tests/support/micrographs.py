"""Micrograph files for tests, written on the fly (the repo ships no images)."""

import io
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image as PILImage

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "pychip"
JEOL_TIFF = SHARED / "moo3_particles_jeol_stem_df.tiff"
LSFO_JPEG = SHARED / "lsfo_film_haadf.jpg"


def gradient(shape=(64, 80), dtype=np.uint16, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    data = (xx + yy) / (shape[0] + shape[1]) * top * 0.8 + rng.random(shape) * top * 0.1
    return data.astype(dtype)


def png_bytes(data: np.ndarray | None = None) -> bytes:
    data = gradient(dtype=np.uint8) if data is None else data
    buffer = io.BytesIO()
    PILImage.fromarray(data).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(data: np.ndarray | None = None) -> bytes:
    data = gradient(dtype=np.uint8) if data is None else data
    buffer = io.BytesIO()
    PILImage.fromarray(data).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def tiff_bytes(data: np.ndarray | None = None, **kwargs) -> bytes:
    data = gradient() if data is None else data
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, data, **kwargs)
    return buffer.getvalue()


def calibrated_tiff_bytes(data: np.ndarray | None = None, *, nm_per_px=0.25) -> bytes:
    """An ImageJ TIFF with its pixel size in nm."""
    return tiff_bytes(data, imagej=True, resolution=(1 / nm_per_px, 1 / nm_per_px),
                      metadata={"unit": "nm"})
