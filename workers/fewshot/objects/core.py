"""Instances of a class in a label map and their per-instance measurements (package doc)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from workers.fewshot.objects.shapes import ferets, perimeters
from workers.fewshot.objects.split import relabel, split_pieces

MAX_PIXELS = 1 << 28  # 16384^2
MAX_AREA_PX = 10_000_000
MAX_BOOT = 10_000
MAX_BINS = 1000
MAX_AUTO_BINS = 60
MAX_PIXEL_SIZE = 1e9
MAX_CLASSES = 256

_NM_PER_UNIT = {
    "pm": 1e-3,
    "å": 0.1,
    "a": 0.1,
    "angstrom": 0.1,
    "nm": 1.0,
    "µm": 1e3,
    "μm": 1e3,
    "um": 1e3,
    "micron": 1e3,
    "mm": 1e6,
    "m": 1.0e9,
}


def nm_per_unit(unit: str | None) -> float:
    """Nanometres per ``unit`` (pm, Å/A/angstrom, nm, µm/um/micron, mm, m); ValueError otherwise."""
    key = (unit or "").strip().replace("\u212b", "å").lower()
    if key not in _NM_PER_UNIT:
        raise ValueError(f"unknown pixel unit {unit!r}; use one of pm, Å, nm, µm, mm, m")
    return _NM_PER_UNIT[key]


def pixel_nm_of(pixel_size: float | None, pixel_unit: str | None) -> float | None:
    """Pixel size in nm, None when uncalibrated; ValueError for a bad size or unit."""
    if pixel_size is None:
        return None
    size = float(pixel_size)
    if not math.isfinite(size) or not 0 < size <= MAX_PIXEL_SIZE:
        raise ValueError(f"pixel_size must be in (0, {MAX_PIXEL_SIZE:g}], got {pixel_size!r}")
    return size * nm_per_unit(pixel_unit or "nm")


def check_range(
    name: str, value: float, low: float, high: float, *, open_low=False, open_high=False
):
    v = float(value)
    ok = (
        math.isfinite(v)
        and (v > low if open_low else v >= low)
        and (v < high if open_high else v <= high)
    )
    if not ok:
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise ValueError(f"{name} must be in {lo}{low:g}, {high:g}{hi}, got {value!r}")
    return v


@dataclass
class Instances:
    """The instances of one class in a label map; per-instance arrays of length ``n``.

    labels: (H, W) int32, 0 = not an instance, i = instance i (1..n, in raster order of each
    instance's first pixel). Lengths in px, areas in
    px^2; orientation_deg: major axis angle from the image x axis, counter-clockwise as
    displayed (y up), in (-90, 90]; mean_intensity: NaN without an intensity image; edge: the
    instance touches the image border or an uncovered (-1) pixel. ``pixel_nm``: calibration
    (nm per px) or None; ``covered_px``: analysed pixels (label >= 0), the field for densities;
    classes / class_fraction: each instance's majority class and the share of its pixels in it
    (the one class and 1.0 when ``instances`` was given one class).
    """

    labels: np.ndarray
    class_id: int | list[int]
    covered_px: int
    area_px: np.ndarray
    equivalent_diameter_px: np.ndarray
    feret_max_px: np.ndarray
    feret_min_px: np.ndarray
    major_axis_px: np.ndarray
    minor_axis_px: np.ndarray
    aspect_ratio: np.ndarray
    orientation_deg: np.ndarray
    perimeter_px: np.ndarray
    circularity: np.ndarray
    centroid_y: np.ndarray
    centroid_x: np.ndarray
    mean_intensity: np.ndarray
    edge: np.ndarray
    pixel_nm: float | None = None
    params: dict = field(default_factory=dict)
    classes: np.ndarray | None = None
    class_fraction: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of instances."""
        return int(self.area_px.size)

    @property
    def n_edge(self) -> int:
        """Instances touching the image edge or the uncovered margin."""
        return int(self.edge.sum())


def instances(
    labels: np.ndarray,
    class_id: int | Sequence[int],
    *,
    min_area_px: int = 8,
    split: str = "watershed",
    neck: float = 0.93,
    min_peak_px: float = 1.0,
    smooth: float = 0.7,
    intensity: np.ndarray | None = None,
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
) -> Instances:
    """Split the pixels of ``class_id`` in ``labels`` (H, W) int (-1 = not covered) into instances.

    class_id: one class, or several (e.g. two particle kinds told apart by shape): instances
        are then found on their union and each gets its majority class (``Instances.classes``),
        so that a particle whose pixels the classifier split between the kinds stays one.

    min_area_px: instances smaller than this (after splitting) are dropped (default 8: noise
        specks of a pixel classifier; a 4 px disc has ~12 px). In [1, 10^7].
    split: "watershed" (cut touching particles at distance-map necks) or "none" (components).
    neck: a distance-map maximum starts its own particle when the saddle to any higher one is
        below ``neck`` x its height. In (0, 1); 0.93 (chosen on generated touching discs and
        ellipses, bench/objects.py, seeds other than the bench's): on pixel maps a just-touching
        pair of small discs has a neck of ~0.6-0.8 of its radius, but a triple of 4-8 px discs
        after smoothing often only ~0.9 (0.9 undercounted them by 5 %); a thin ellipse's ridge
        dips by ~0.75 before smoothing, and 0.93 splits 1.5 % of ellipses (0.4 % at 0.9).
    min_peak_px: maxima lower than this (smoothed inscribed radius, px) never start a particle
        (1.0; in [0.5, 1000]).
    smooth: Gaussian sigma (px, kernel radius 3 sigma) applied to the distance map before its
        maxima are found (0.7; in [0, 5], 0 = off).
    intensity: (H, W) image for the mean intensity per instance.
    pixel_size, pixel_unit: calibration kept for tables and statistics (``instance_rows``,
        ``size_distribution``).
    """
    labels = _checked_labels(labels)
    if split not in ("watershed", "none"):
        raise ValueError(f'split must be "watershed" or "none", got {split!r}')
    min_area = int(check_range("min_area_px", min_area_px, 1, MAX_AREA_PX))
    neck = check_range("neck", neck, 0.0, 1.0, open_low=True, open_high=True)
    min_peak = check_range("min_peak_px", min_peak_px, 0.5, 1000.0)
    smooth = check_range("smooth", smooth, 0.0, 5.0)
    pixel_nm = pixel_nm_of(pixel_size, pixel_unit)
    if intensity is not None:
        intensity = np.asarray(intensity)
        if intensity.shape != labels.shape:
            raise ValueError(f"intensity shape {intensity.shape} != labels shape {labels.shape}")

    ids = _class_ids(class_id)
    mask = labels == ids[0] if len(ids) == 1 else np.isin(labels, ids)
    if split == "watershed":
        fg, pieces = split_pieces(mask, neck, min_peak, smooth)
    else:
        comp, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
        fg = np.flatnonzero(mask)
        pieces = comp.ravel()[fg]
    inst = relabel(labels.shape, fg, pieces, min_area)
    params = {
        "class_id": ids[0] if np.isscalar(class_id) else ids,
        "split": split,
        "neck": neck,
        "min_peak_px": min_peak,
        "smooth": smooth,
        "min_area_px": min_area,
        "connectivity": 8,
    }
    result = _measure(inst, labels, intensity, ids[0], pixel_nm, params)
    if np.isscalar(class_id):
        result.classes = np.full(result.n, ids[0], np.int64)
        result.class_fraction = np.ones(result.n)
    else:
        result.class_id = ids
        result.classes, result.class_fraction = _majority(inst, labels, ids, result.n)
    return result


def _checked_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` as an array, checked: a non-empty (H, W) integer map of bounded size."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty (H, W) map, got shape {labels.shape}")
    if labels.size > MAX_PIXELS:
        raise ValueError(f"labels has {labels.size} pixels; at most {MAX_PIXELS} (16384^2)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be integers (class ids, -1 = not covered), got {labels.dtype}"
        )
    return labels


def _class_ids(class_id: int | Sequence[int]) -> list[int]:
    """One class id or several as a list, checked: 1 to MAX_CLASSES ids >= 0."""
    ids = [int(class_id)] if np.isscalar(class_id) else [int(c) for c in class_id]
    if not ids or len(ids) > MAX_CLASSES or any(c < 0 for c in ids):
        raise ValueError(f"class_id must be 1 to {MAX_CLASSES} class ids >= 0, got {class_id!r}")
    return ids


def instance_votes(inst: np.ndarray, labels: np.ndarray, ids, n: int) -> np.ndarray:
    """(n, K) pixels of each instance 1..n of ``inst`` in each class of ``ids`` (sorted), from
    ``labels``: one bincount."""
    fg = inst > 0
    K = len(ids)
    cell = inst[fg].astype(np.int64) * K + np.searchsorted(np.sort(ids), labels[fg])
    return np.bincount(cell, minlength=(n + 1) * K).reshape(n + 1, K)[1:]


def _majority(inst, labels, ids, n) -> tuple[np.ndarray, np.ndarray]:
    """Majority class of each instance among ``ids`` and the fraction of its pixels in it."""
    votes = instance_votes(inst, labels, ids, n)
    best = votes.argmax(1)
    frac = votes.max(1) / np.maximum(votes.sum(1), 1)
    return np.sort(ids)[best], frac


def one_class_each(labels: np.ndarray, inst: Instances, confidence: np.ndarray) -> int:
    """Give every particle of several classes' ``instances`` its majority class
    (``Instances.classes``) in the pixel map, in place: a round particle's rim that the
    classifier called faceted becomes round, as the particle table already counts it.
    ``labels`` (H, W) class ids and ``confidence`` (H, W), both C-contiguous; a changed pixel's
    confidence becomes at most its particle's majority share. -> the pixels changed. In place:
    copies of a 4096² map (fresh memory) took 0.2 s, the relabelling itself 0.04 s."""
    if not (labels.flags.c_contiguous and confidence.flags.c_contiguous):
        raise ValueError("one_class_each relabels in place: C-contiguous labels and confidence")
    if inst.classes is None or inst.n == 0 or (inst.class_fraction == 1).all():
        return 0  # one class, or every particle of one class already
    at = np.flatnonzero(inst.labels)  # the particles' pixels, flat, in one pass
    which = inst.labels.ravel()[at] - 1
    new = inst.classes.astype(labels.dtype)[which]
    flat_labels, flat_conf = labels.reshape(-1), confidence.reshape(-1)  # views (contiguous)
    changed = new != flat_labels[at]
    at, which = at[changed], which[changed]
    flat_labels[at] = new[changed]
    share = inst.class_fraction.astype(confidence.dtype)[which]
    flat_conf[at] = np.minimum(flat_conf[at], share)
    return int(at.size)


def _measure(inst, labels, intensity, class_id, pixel_nm, params) -> Instances:
    """Per-instance properties of an instance map (H, W) int32 with ids 1..n."""
    n = int(inst.max()) if inst.size else 0
    w = inst.shape[1]
    uncovered = labels < 0
    covered = labels.size - int(np.count_nonzero(uncovered))
    fg = np.flatnonzero(inst)
    ids = inst.ravel()[fg].astype(np.int64)
    ys, xs = np.divmod(fg, w)
    area = np.bincount(ids, minlength=n + 1)[1:].astype(np.float64)
    safe = np.maximum(area, 1)
    cy = np.bincount(ids, ys, minlength=n + 1)[1:] / safe
    cx = np.bincount(ids, xs, minlength=n + 1)[1:] / safe
    dy, dx = ys - cy[ids - 1], xs - cx[ids - 1]
    # Second moments of unit-square pixels (+1/12) with y pointing up (dy -> -dy).
    myy = np.bincount(ids, dy * dy, minlength=n + 1)[1:] / safe + 1 / 12
    mxx = np.bincount(ids, dx * dx, minlength=n + 1)[1:] / safe + 1 / 12
    mxy = -np.bincount(ids, dx * dy, minlength=n + 1)[1:] / safe
    half_tr, diff = (mxx + myy) / 2, np.sqrt(((mxx - myy) / 2) ** 2 + mxy**2)
    major = 4 * np.sqrt(half_tr + diff)
    minor = 4 * np.sqrt(np.maximum(half_tr - diff, 0))
    theta = np.degrees(0.5 * np.arctan2(2 * mxy, mxx - myy))
    theta = np.where(theta <= -90, theta + 180, theta)
    if intensity is not None:
        vals = intensity.ravel()[fg].astype(np.float64)
        mean_int = np.bincount(ids, vals, minlength=n + 1)[1:] / safe
    else:
        mean_int = np.full(n, np.nan)

    edge = np.zeros(n + 1, bool)
    edge[inst[0, :]] = edge[inst[-1, :]] = True
    edge[inst[:, 0]] = edge[inst[:, -1]] = True
    if covered < labels.size:
        near = ndimage.binary_dilation(uncovered, structure=np.ones((3, 3), bool))
        edge[inst[near]] = True
    edge = edge[1:]

    feret_max, feret_min = ferets(fg, ids, w, n)
    perim = perimeters(inst, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        circ = np.where(perim > 0, 4 * np.pi * area / perim**2, np.nan)
        aspect = np.where(minor > 0, major / minor, np.inf)
    return Instances(
        labels=inst,
        class_id=class_id,
        covered_px=covered,
        area_px=area,
        equivalent_diameter_px=np.sqrt(4 * area / np.pi),
        feret_max_px=feret_max,
        feret_min_px=feret_min,
        major_axis_px=major,
        minor_axis_px=minor,
        aspect_ratio=aspect,
        orientation_deg=theta,
        perimeter_px=perim,
        circularity=circ,
        centroid_y=cy,
        centroid_x=cx,
        mean_intensity=mean_int,
        edge=edge,
        pixel_nm=pixel_nm,
        params=params,
    )
