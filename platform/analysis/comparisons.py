"""Two results of one image side by side: where their classes differ and how the fractions
moved.

Reads only. Both results must be visible to the user (``selectors.result_get``: a member of
the lab, the image visible; anything else is a 404) and be of the same image. Classes are
matched by their id, else by name (two support-set versions of one schema share ids).

On the same chip grid the comparison is per chip; on different grids (another chip size or
offset) each result's chip labels are painted on the image's pixels and compared per pixel
where both cover the image (in blocks of g x g pixels that no chip edge crosses, g the greatest
common divisor of the chip sizes and offsets, so the counts are exact pixel counts). The
difference map sent back has at most :data:`MAX_MAP` cells on its long side (a cell differs
when any chip or pixel in it does).
"""

from __future__ import annotations

import math

import numpy as np

from common.errors import Invalid

from .selectors import result_arrays, result_get

#: cells on the long side of the difference map
MAX_MAP = 256
#: pixels (or blocks of pixels) painted for a comparison across grids
MAX_PIXELS = 40 * 1024**2


def _key(c: dict) -> str:
    return f"id:{c['id']}" if c.get("id") else f"name:{c.get('name', '')}"


def _summary(result) -> dict:
    job = result.job
    model = job.model_version
    return {
        "id": str(result.pk),
        "job": str(job.pk),
        "frame": result.frame,
        "created": result.created,
        "model_version": f"{model.name} v{model.version}",
        "support_set": {"id": str(job.support_set_id), "number": job.support_set.number},
        "chip_size": result.grid.chip_size,
        "offset": [result.grid.offset_y, result.grid.offset_x],
        "rows": result.rows,
        "cols": result.cols,
        "classes": result.classes,
        "fractions": [float(v) for v in result.fractions],
        "mean_confidence": float(result.mean_confidence),
    }


def _painted(labels: np.ndarray, *, chip: int, offset, shape) -> np.ndarray:
    """Chip labels (rows, cols) on pixels (H, W) as int16, -1 outside the grid."""
    rows, cols = labels.shape
    top, left = offset
    ys = (np.arange(shape[0]) - top) // chip
    xs = (np.arange(shape[1]) - left) // chip
    ys = np.where((ys >= 0) & (ys < rows), ys, -1)
    xs = np.where((xs >= 0) & (xs < cols), xs, -1)
    out = labels.astype(np.int16)[np.clip(ys, 0, None)[:, None], np.clip(xs, 0, None)[None, :]]
    out[ys < 0, :] = -1
    out[:, xs < 0] = -1
    return out


def _block_max(units: np.ndarray, factor: int) -> np.ndarray:
    """Max over factor x factor blocks (padding with -1): 1 where any unit differs, 0 where
    all compared units agree, -1 where none was compared."""
    if factor == 1:
        return units
    h, w = units.shape
    H, W = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    padded = np.full((H, W), -1, np.int8)
    padded[:h, :w] = units
    return padded.reshape(H // factor, factor, W // factor, factor).max(axis=(1, 3))


def _geometry(result) -> tuple:
    grid = result.grid
    return (grid.chip_size, grid.offset_y, grid.offset_x, result.rows, result.cols)


def _class_deltas(a, b, index: dict) -> list[dict]:
    """Each class of either result (in ``index`` order) with both fractions and their delta."""
    classes_a = {_key(c): c for c in a.classes}
    classes_b = {_key(c): c for c in b.classes}
    frac_a = dict(zip([_key(c) for c in a.classes], a.fractions, strict=False))
    frac_b = dict(zip([_key(c) for c in b.classes], b.fractions, strict=False))
    classes = []
    for k in index:
        c = classes_a.get(k) or classes_b[k]
        fa, fb = frac_a.get(k), frac_b.get(k)
        classes.append(
            {
                "name": c.get("name", ""),
                "colour": c.get("colour", ""),
                "in_a": k in classes_a,
                "in_b": k in classes_b,
                "fraction_a": None if fa is None else float(fa),
                "fraction_b": None if fb is None else float(fb),
                "delta": None if fa is None or fb is None else float(fb) - float(fa),
            }
        )
    return classes


def results_compare(*, user, result_a_id, result_b_id) -> dict:
    """The difference of two results of one image: a map, counts and fraction deltas."""
    a = result_get(user=user, result_id=result_a_id)
    b = result_get(user=user, result_id=result_b_id)
    if a.image_id != b.image_id:
        raise Invalid(
            "Compare two results of the same image.", fields={"b": ["another image's result"]}
        )
    keys_a = [_key(c) for c in a.classes]
    keys_b = [_key(c) for c in b.classes]
    index = {k: i for i, k in enumerate(dict.fromkeys(keys_a + keys_b))}
    # labels as indices into the union of both results' classes
    to_a = np.array([index[k] for k in keys_a] or [0], np.int16)
    to_b = np.array([index[k] for k in keys_b] or [0], np.int16)
    labels_a = to_a[result_arrays(result=a)["labels"].astype(np.int64)]
    labels_b = to_b[result_arrays(result=b)["labels"].astype(np.int64)]

    if _geometry(a) == _geometry(b):
        level, unit_px, origin = "chip", a.grid.chip_size, [a.grid.offset_y, a.grid.offset_x]
        weight = 1  # units counted: chips
        both = np.ones(labels_a.shape, bool)
    else:
        # blocks of g px, g dividing both chip sizes and all offsets, lie wholly in one chip of
        # each grid (or outside it): comparing blocks counts pixels exactly, g^2 times cheaper
        g = math.gcd(*(n for r in (a, b) for n in _geometry(r)[:3]))
        image = a.image
        shape = (math.ceil(image.height / g), math.ceil(image.width / g))
        if shape[0] * shape[1] > MAX_PIXELS:
            raise Invalid(
                f"Results on different grids are compared per pixel, up to {MAX_PIXELS:,} "
                "pixels (or blocks of pixels that no chip edge crosses); this image has more.",
                code="compare_too_large",
            )
        level, unit_px, origin, weight = "pixel", g, [0, 0], g * g
        labels_a, labels_b = (
            _painted(
                labels,
                chip=r.grid.chip_size // g,
                offset=(r.grid.offset_y // g, r.grid.offset_x // g),
                shape=shape,
            )
            for labels, r in ((labels_a, a), (labels_b, b))
        )
        both = (labels_a >= 0) & (labels_b >= 0)
    differ = both & (labels_a != labels_b)
    units = np.where(both, differ.astype(np.int8), np.int8(-1))
    factor = max(1, math.ceil(max(units.shape) / MAX_MAP))
    cells = _block_max(units, factor)
    n = len(index)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (labels_a[both], labels_b[both]), weight)

    classes = _class_deltas(a, b, index)
    compared = int(both.sum()) * weight
    return {
        "a": _summary(a),
        "b": _summary(b),
        "level": level,
        "unit_px": unit_px,
        "compared": compared,
        "differing": int(differ.sum()) * weight,
        "differing_fraction": float(differ.sum() * weight / compared) if compared else 0.0,
        "classes": classes,
        "confusion": confusion.tolist(),
        "map": {
            "cell_px": unit_px * factor,
            "origin": origin,
            "rows": int(cells.shape[0]),
            "cols": int(cells.shape[1]),
            "values": cells.astype(int).tolist(),
        },
    }
