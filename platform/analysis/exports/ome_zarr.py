"""The result as OME-Zarr (OME-NGFF 0.4, common.ngff): confidence, class and particle label maps."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import numpy as np

from common import ngff

from .classes import CLASS_TABLE_KEY, PROVENANCE_KEY, UNLABELLED, class_table, hex_to_rgb
from .tiff import ome_unit


def _checked_maps(mask: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (H, W) class map as uint8 and the confidence as NaN-free float32 of its shape."""
    m = np.asarray(mask, np.uint8)
    if m.ndim != 2:
        raise ValueError(f"an OME-Zarr export takes one (H, W) map, not shape {m.shape}")
    conf = np.nan_to_num(np.asarray(confidence, np.float32), nan=0.0)
    if conf.shape != m.shape:
        raise ValueError(f"confidence {conf.shape} and mask {m.shape} differ in shape")
    return m, conf


def _classes_image_label(table: dict, image_label: dict) -> dict:
    """The ``image-label`` of the class map: class colours and names, unlabelled clear."""
    colours = [
        {"label-value": c["index"], "rgba": [*hex_to_rgb(c["colour"]), 255]}
        for c in table["classes"]
    ]
    return {
        **image_label,
        "colors": [*colours, {"label-value": UNLABELLED, "rgba": [0, 0, 0, 0]}],
        # the same label values as colors (NGFF 0.4 validators require it)
        "properties": [
            *({"label-value": c["index"], "class": c["name"]} for c in table["classes"]),
            {"label-value": UNLABELLED, "class": "unlabelled"},
        ],
    }


def mask_ome_zarr(
    mask: np.ndarray,
    confidence: np.ndarray,
    classes: Sequence[dict],
    *,
    chip_size: int,
    offset: Sequence[int],
    instances: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    provenance: dict | None = None,
) -> bytes:
    """A result as an OME-Zarr (OME-NGFF 0.4) in one zip file (a zarr ``ZipStore``: opened
    as it is by zarr, ome-zarr-py and napari, or unzipped).

    Layout: the root image is the per-pixel ``confidence`` (float32, NaN-free: uncovered
    pixels 0); ``labels/classes`` the pixel map (uint8 class indices, :data:`UNLABELLED`
    uncovered) with the class colours and names as ``image-label`` colours and properties;
    ``labels/particles`` the instance map (uint32, 0 = none, i = row i of particles.csv)
    when the result has object classes; ``reference`` the grey image the map was made on
    (uint8) when given. The class table and provenance are root attributes
    (:data:`CLASS_TABLE_KEY`, :data:`PROVENANCE_KEY`). Arrays are Blosc-lz4 compressed (fast:
    it is written on every job; zstd took 3x as long) in :data:`common.ngff.ZARR_CHUNK`-px chunks.
    """
    m, conf = _checked_maps(mask, confidence)
    table = class_table(classes, chip_size=chip_size, offset=offset)
    compressor = ngff.fast_compressor()
    unit = ome_unit(pixel_unit)

    def attrs(name: str) -> dict:
        return ngff.multiscales(name, pixel_size=pixel_size, pixel_unit=unit)

    label_names = ["classes"] + (["particles"] if instances is not None else [])
    image_label = {"version": ngff.OME_NGFF_VERSION, "source": {"image": "../../"}}
    root_attrs = {
        **attrs("confidence"),
        CLASS_TABLE_KEY: table,
        **({PROVENANCE_KEY: provenance} if provenance else {}),
    }
    with tempfile.TemporaryDirectory(prefix="chiplab-zarr-") as tmp:
        path = os.path.join(tmp, "result.ome.zarr.zip")
        with ngff.zip_root(path, root_attrs) as root:
            ngff.add_array(root, conf, fill=0.0, compressor=compressor)
            labels = root.create_group("labels", attributes={"labels": label_names})
            classes_group = labels.create_group(
                "classes",
                attributes={
                    **attrs("classes"),
                    "image-label": _classes_image_label(table, image_label),
                },
            )
            ngff.add_array(classes_group, m, fill=UNLABELLED, compressor=compressor)
            if instances is not None:
                ids = np.asarray(instances).astype(np.uint32)
                if ids.shape != m.shape:
                    raise ValueError(f"instances {ids.shape} and mask {m.shape} differ in shape")
                particles = labels.create_group(
                    "particles", attributes={**attrs("particles"), "image-label": image_label}
                )
                ngff.add_array(particles, ids, fill=0, compressor=compressor)
            if reference is not None and np.shape(reference) == m.shape:
                ref = root.create_group("reference", attributes=attrs("reference"))
                ngff.add_array(ref, np.asarray(reference, np.uint8), fill=0, compressor=compressor)
        with open(path, "rb") as fh:
            return fh.read()


def read_ome_zarr(data: bytes) -> dict[str, np.ndarray | dict]:
    """The arrays of a :func:`mask_ome_zarr` file: ``confidence``, ``classes``, and
    ``particles`` / ``reference`` when present, plus the root ``attrs``."""
    # zarr: heavy, loaded by the OME-Zarr export only
    import zarr

    with tempfile.TemporaryDirectory(prefix="chiplab-zarr-") as tmp:
        path = os.path.join(tmp, "result.ome.zarr.zip")
        with open(path, "wb") as fh:
            fh.write(data)
        store = zarr.storage.ZipStore(path, mode="r")
        try:
            root = zarr.open_group(store, mode="r", zarr_format=2)
            out: dict = {"attrs": dict(root.attrs), "confidence": root["0"][:]}
            for name in root["labels"].attrs["labels"]:
                out[name] = root[f"labels/{name}/0"][:]
            if "reference" in root:
                out["reference"] = root["reference/0"][:]
        finally:
            store.close()
    return out
