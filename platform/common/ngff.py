"""OME-Zarr (OME-NGFF 0.4) pieces shared by the image export (``catalog``) and the result
export (``analysis.exports``): units, the ``multiscales`` of a one-level image, arrays, and a
group written into one zip file (a zarr ``ZipStore``: opened as it is by zarr, ome-zarr-py
and napari, or unzipped).

Zarr format 2 with ``/``-separated chunk keys: what napari-ome-zarr, ome-zarr-py, Fiji's
n5-zarr, QuPath and vizarr read for NGFF 0.4.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

OME_NGFF_VERSION = "0.4"
#: chunk side of the spatial axes (px); a time axis is chunked frame by frame
ZARR_CHUNK = 1024
#: Chiplab's (OME-TIFF style) length units -> the NGFF unit names
LENGTH_UNITS = {
    "pm": "picometer",
    "Å": "angstrom",
    "A": "angstrom",
    "nm": "nanometer",
    "µm": "micrometer",
    "um": "micrometer",
    "mm": "millimeter",
    "m": "meter",
}


def multiscales(
    name: str,
    *,
    pixel_size: float | None,
    pixel_unit: str | None,
    frames: int = 1,
    frame_seconds: float | None = None,
) -> dict:
    """The ``multiscales`` attribute of a one-level image: axes (t,) y, x, in the image's
    length unit when calibrated (a unit NGFF does not name, e.g. 1/nm, leaves the axes
    unitless with scale 1), and seconds per frame on the time axis when known."""
    unit = LENGTH_UNITS.get(pixel_unit or "") if pixel_size else None
    axes = [{"name": a, "type": "space", **({"unit": unit} if unit else {})} for a in "yx"]
    scale = [float(pixel_size), float(pixel_size)] if unit else [1.0, 1.0]
    if frames > 1:
        axes.insert(
            0, {"name": "t", "type": "time", **({"unit": "second"} if frame_seconds else {})}
        )
        scale.insert(0, float(frame_seconds) if frame_seconds else 1.0)
    return {
        "multiscales": [
            {
                "version": OME_NGFF_VERSION,
                "name": name,
                "axes": axes,
                "datasets": [
                    {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                ],
            }
        ]
    }


def add_array(group, data: np.ndarray, *, fill, compressor) -> None:
    """``data`` as the group's level "0": spatial chunks of :data:`ZARR_CHUNK` px, one frame
    per chunk along a leading time axis."""
    chunks = tuple(min(ZARR_CHUNK, n) for n in data.shape[-2:])
    if data.ndim == 3:
        chunks = (1, *chunks)
    group.create_array(
        "0",
        data=data,
        chunks=chunks,
        compressors=compressor,
        fill_value=fill,
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )


def fast_compressor():
    """Blosc-lz4: fast enough to write on every job (zstd took 3x as long)."""
    # numcodecs/zarr: heavy, loaded by the OME-Zarr writers only
    from numcodecs import Blosc

    return Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)


@contextlib.contextmanager
def zip_root(path: str, attributes: dict) -> Iterator:
    """The root group of a new OME-Zarr zip at ``path``. A zip member is written once, so
    every group gets its attributes when it is created."""
    # zarr: heavy, loaded by the OME-Zarr writers only
    import zarr

    store = zarr.storage.ZipStore(path, mode="w")
    try:
        yield zarr.create_group(store, zarr_format=2, attributes=attributes)
    except BaseException:
        # a store that never opened (e.g. MemoryError while opening) fails to close with an
        # AttributeError, which must not hide why the export failed
        with contextlib.suppress(Exception):
            store.close()
        raise
    store.close()
