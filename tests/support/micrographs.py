"""Micrograph files for tests, written on the fly (the repo ships no images)."""

import functools
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from tests.support.services import IN_CI, ROOT

# the validation micrographs, in ../shared/data beside the checkout (see its README)
SHARED = ROOT.parent / "shared" / "data" / "pychip"
JEOL_TIFF = SHARED / "moo3_particles_jeol_stem_df.tiff"
LSFO_JPEG = SHARED / "lsfo_film_haadf.jpg"


def require_pychip(*, in_ci: bool = IN_CI) -> Path:
    """The pychip micrographs' folder. Without them a test is skipped on a developer's checkout
    and fails in CI, where ../shared/data is always there: a missing copy is a broken build."""
    missing = [p.name for p in (JEOL_TIFF, LSFO_JPEG) if not p.is_file()]
    if missing:
        message = f"{SHARED} lacks {', '.join(missing)} (../shared/data beside the checkout)"
        if in_ci:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return SHARED


def needs_pychip(test):
    """Decorate a test that reads the pychip micrographs (see ``require_pychip``)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        require_pychip()
        return test(*args, **kwargs)

    return run


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
    return tiff_bytes(
        data, imagej=True, resolution=(1 / nm_per_px, 1 / nm_per_px), metadata={"unit": "nm"}
    )


def dm_bytes(data: np.ndarray, *, version: int, scale=0.25, units="nm", tags=None) -> bytes:
    """A Gatan DM3/DM4 file written by nionswift-io's writer, with a spatial calibration."""
    from nion.data import Calibration, DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    spatial = [Calibration.Calibration(0.0, scale, units)] * 2
    is_sequence = data.ndim == 3
    calibrations = [Calibration.Calibration(0.0, 1.0, "s"), *spatial] if is_sequence else spatial
    xdata = DataAndMetadata.new_data_and_metadata(
        data,
        dimensional_calibrations=calibrations,
        data_descriptor=DataAndMetadata.DataDescriptor(is_sequence, 0, 2),
        metadata=tags or {},
    )
    buffer = io.BytesIO()
    dm3_image_utils.save_image(xdata, buffer, version)
    return buffer.getvalue()


GMS_TAGS = {
    "Microscope Info": {
        "Voltage": 300000.0,
        "Indicated Magnification": 2_000_000.0,
        "Operation Mode": "SCANNING",
        "Name": "Test STEM",
    }
}
