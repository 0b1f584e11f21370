"""COCO instance annotations of the pixel map (RLE masks)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from .classes import CLASS_TABLE_KEY, PROVENANCE_KEY, class_table


def coco_rle(binary: np.ndarray) -> dict:
    """A boolean (H, W) mask as COCO's compressed RLE ``{"size": [H, W], "counts": str}``.

    The same encoding as ``pycocotools.mask.encode`` (column-major runs starting with a run of
    zeros; from the fourth count on, each as the difference to the count two before, written in
    5-bit groups offset by 48), vectorised over the runs rather than a loop per run.
    """
    b = np.asarray(binary, bool)
    return _rle(b.ravel(order="F"), b.shape)


def _rle(flat: np.ndarray, shape: tuple[int, int]) -> dict:
    """:func:`coco_rle` of a mask of ``shape`` given in column-major order (``flat``)."""
    height, width = shape
    if flat.size == 0:
        return {"size": [height, width], "counts": ""}
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).astype(np.int64)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    x = runs.copy()
    x[3:] -= runs[1:-2]  # as pycocotools: from the fourth count on
    # up to 13 groups of 5 bits per signed 64-bit count; all runs advance one group a step
    chars = np.zeros((x.size, 13), np.uint8)
    lengths = np.zeros(x.size, np.int64)
    active = np.ones(x.size, bool)
    for step in range(13):
        c = x & 0x1F
        x = x >> 5
        more = np.where(c & 0x10, x != -1, x != 0) & active
        chars[active, step] = (c[active] | (more[active].astype(np.int64) << 5)) + 48
        lengths[active] += 1
        active = more
        if not active.any():
            break
    used = np.arange(13)[None, :] < lengths[:, None]
    return {"size": [height, width], "counts": chars[used].tobytes().decode("ascii")}


def _coco_info(table: dict, provenance: dict | None) -> dict:
    """COCO ``info``: what was segmented, by which code, when; the class table and provenance."""
    prov = provenance or {}
    info = {
        "description": "Chiplab segmentation"
        + (f" of {prov['image'].get('filename')}" if prov.get("image") else ""),
        "version": str(prov.get("code_version") or ""),
        "contributor": "Chiplab",
        "date_created": str(prov.get("started") or ""),
        CLASS_TABLE_KEY: table,
    }
    if provenance:
        info[PROVENANCE_KEY] = provenance
    return info


def _coco_annotations(m: np.ndarray, n_classes: int) -> list[dict]:
    """One crowd annotation (compressed RLE, bbox) per class present in the map ``m``."""
    counts = np.bincount(m.ravel(), minlength=256)
    # the map in column-major order, once (RLE runs down the columns): a column-major copy of
    # each class's mask took 0.1 s of a 4096^2 map
    columns = np.ascontiguousarray(m.T)
    annotations = []
    for i in range(n_classes):
        area = int(counts[i])
        if not area:
            continue
        binary = columns == i  # (W, H)
        rows = np.flatnonzero(binary.any(0))
        cols = np.flatnonzero(binary.any(1))
        bbox = [
            int(cols[0]),
            int(rows[0]),
            int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1),
        ]
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": 1,
                "category_id": i + 1,
                "segmentation": _rle(binary.ravel(), m.shape),
                "area": area,
                "bbox": bbox,
                "iscrowd": 1,
            }
        )
    return annotations


def mask_coco(
    mask: np.ndarray,
    classes: Sequence[dict],
    *,
    chip_size: int,
    offset: Sequence[int],
    provenance: dict | None = None,
    file_name: str = "",
) -> bytes:
    """The pixel map (H, W) as a COCO segmentation document (JSON bytes) that COCO tools
    (pycocotools, CVAT, Label Studio, FiftyOne) read.

    One image; one category per class (``id`` = class index + 1: COCO keeps 0 for "nothing";
    ``supercategory`` = the class's kind); one annotation per class present, its pixels as a
    compressed RLE with ``iscrowd`` 1 (COCO's form for a class's whole area, as COCO-Stuff).
    Pixels the map does not cover (:data:`UNLABELLED`) are in no annotation. ``info`` carries
    the class table under :data:`CLASS_TABLE_KEY` and the result's provenance under
    :data:`PROVENANCE_KEY`, as the mask PNG's text chunks do.
    """
    m = np.asarray(mask, np.uint8)
    if m.ndim != 2:
        raise ValueError(f"a COCO export takes one (H, W) map, not shape {m.shape}")
    height, width = m.shape
    table = class_table(classes, chip_size=chip_size, offset=offset)
    prov = provenance or {}
    info = _coco_info(table, provenance)
    image = {
        "id": 1,
        "width": width,
        "height": height,
        "file_name": file_name or str((prov.get("image") or {}).get("filename") or ""),
    }
    categories = [
        {
            "id": i + 1,
            "name": str(c.get("name", f"class {i}")),
            "supercategory": str(c.get("kind") or "region"),
            "color": str(c.get("colour", "")),
        }
        for i, c in enumerate(classes)
    ]
    annotations = _coco_annotations(m, len(classes))
    document = {
        "info": info,
        "licenses": [],
        "images": [image],
        "categories": categories,
        "annotations": annotations,
    }
    return json.dumps(document, separators=(",", ":")).encode()
