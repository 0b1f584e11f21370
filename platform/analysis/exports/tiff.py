"""The pixel map as a compressed OME-TIFF with the class table."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np

from .classes import CLASS_TABLE_KEY, class_table


def mask_ome_tiff(
    mask: np.ndarray,
    classes: Sequence[dict],
    *,
    chip_size: int,
    offset: Sequence[int],
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    name: str = "labels",
    provenance: dict | None = None,
) -> bytes:
    """Pixel label map as a compressed OME-TIFF: (H, W) -> YX, a series (T, H, W) -> TYX, uint8.

    The class table is the image Description (JSON, with the result's ``provenance`` when
    given) and a MapAnnotation (index -> name) in the namespace :data:`CLASS_TABLE_KEY`;
    physical pixel size is set when calibrated.
    """
    # tifffile: loaded by the OME-TIFF export only
    import tifffile

    masks = np.asarray(mask, np.uint8)
    table = class_table(classes, chip_size=chip_size, offset=offset)
    if provenance:
        table = {**table, "provenance": provenance}
    metadata: dict = {
        "axes": "YX" if masks.ndim == 2 else "TYX",
        "Name": name,
        "Description": json.dumps(table),
        "MapAnnotation": {
            "Namespace": CLASS_TABLE_KEY,
            "Value": {str(c["index"]): c["name"] for c in table["classes"]},
        },
    }
    if pixel_size:
        unit = ome_unit(pixel_unit)
        metadata.update(
            {
                "PhysicalSizeX": float(pixel_size),
                "PhysicalSizeY": float(pixel_size),
                "PhysicalSizeXUnit": unit,
                "PhysicalSizeYUnit": unit,
            }
        )
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        masks,
        ome=True,
        metadata=metadata,
        photometric="minisblack",
        compression="zlib",
    )
    return buf.getvalue()


def ome_unit(unit: str | None) -> str:
    """OME length units use the micro sign; everything else passes through."""
    return {"um": "µm", "micron": "µm", "A": "Å", "angstrom": "Å"}.get(unit or "", unit or "nm")
