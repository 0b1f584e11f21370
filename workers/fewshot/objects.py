"""Objects of a class (particles, precipitates, voids, defects): instances, shapes, sizes.

A pixel label map says which pixels are "particle"; here they become individual particles and
their statistics:

1. ``instances``: 8-connected components of the class's pixels. With ``split="watershed"``
   a component holding touching particles is cut along the necks of its Euclidean distance
   map: markers are the maxima of log(distance) whose dynamics exceed -log(``neck``), i.e.
   a maximum (the inscribed radius of one particle) is kept where every path to a higher
   maximum passes a saddle narrower than ``neck`` x its own height, and the component is
   flooded from them (watershed on -distance). The distance map is smoothed slightly first
   (``smooth``) against pixel zigzag. The rule is scale-free: two touching discs (neck ~ 0)
   split down to ~4 px diameter (smaller ones lose their necks to pixelation); an ellipse or
   a rod (its distance map has a single maximum or a flat ridge) stays whole. Several classes
   (kinds of particle) can be taken together: instances of their union, each with its
   majority class. Defaults were chosen on generated touching discs / ellipses and the
   simulator's particle cases (``python -m workers.fewshot.bench.objects``).
2. Per instance (``Instances``): area, equivalent diameter, Feret max/min (rotating calipers
   on the convex hull of the pixels' edge midpoints, the contour scikit-image measures its
   ``feret_diameter_max`` on), ellipse axes, aspect ratio and orientation from second moments
   (pixels as unit squares), circularity 4 pi A / P^2 (P: Crofton perimeter), centroid, mean
   intensity, and whether it touches the image edge or uncovered (-1) pixels (a truncated
   particle).
3. ``size_distribution``: count, number density, equivalent-diameter histogram and summary
   statistics with bootstrap intervals (particles resampled), JSON-ready.
4. ``instance_rows`` / ``instances_table_csv`` (``rows_csv``): the particle table for export,
   its columns defined here only (the platform's particles.csv adds class names).

Physical units: a pixel size in pm, Å, nm, µm, mm or m; lengths are reported in nm, areas in
nm^2, number densities per µm^2.

Bounds (a ValueError says which): maps of at most ``MAX_PIXELS`` pixels; ``min_area_px`` in
[1, 10^7]; ``neck`` in (0, 1); ``min_peak_px`` in [0.5, 1000]; ``smooth`` in [0, 5];
``n_boot`` in [0, 10000]; ``bins`` an int in [1, 1000], "auto" (numpy's rule, capped at
``MAX_AUTO_BINS``) or up to 1001 increasing edges; a pixel size in (0, 10^9] of a known unit.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = [
    "MAX_PIXELS",
    "Instances",
    "instance_rows",
    "instances",
    "instances_table_csv",
    "nm_per_unit",
    "rows_csv",
    "size_distribution",
    "table_header",
]

MAX_PIXELS = 1 << 28  # 16384^2
MAX_AREA_PX = 10_000_000
MAX_BOOT = 10_000
MAX_BINS = 1000
MAX_AUTO_BINS = 60
MAX_PIXEL_SIZE = 1e9
MAX_CLASSES = 256
_BOOT_CHUNK = 4_000_000  # resampled values per bootstrap chunk (memory bound)
_QUANTILES = {"p10": 10.0, "p25": 25.0, "median": 50.0, "p75": 75.0, "p90": 90.0}

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


def _pixel_nm(pixel_size: float | None, pixel_unit: str | None) -> float | None:
    """Pixel size in nm, None when uncalibrated; ValueError for a bad size or unit."""
    if pixel_size is None:
        return None
    size = float(pixel_size)
    if not math.isfinite(size) or not 0 < size <= MAX_PIXEL_SIZE:
        raise ValueError(f"pixel_size must be in (0, {MAX_PIXEL_SIZE:g}], got {pixel_size!r}")
    return size * nm_per_unit(pixel_unit or "nm")


def _check_range(
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
    neck: float = 0.9,
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
        below ``neck`` x its height. In (0, 1); 0.9 (chosen on generated touching discs and
        ellipses, bench/objects.py): on pixel maps a just-touching pair of small discs has a
        neck of ~0.6-0.8 of its radius and a thin ellipse's ridge dips by ~0.75 before smoothing.
    min_peak_px: maxima lower than this (smoothed inscribed radius, px) never start a particle
        (1.0; in [0.5, 1000]).
    smooth: Gaussian sigma (px) applied to the distance map of a component before its maxima
        are found (0.7; in [0, 5], 0 = off).
    intensity: (H, W) image for the mean intensity per instance.
    pixel_size, pixel_unit: calibration kept for tables and statistics (``instance_rows``,
        ``size_distribution``).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty (H, W) map, got shape {labels.shape}")
    if labels.size > MAX_PIXELS:
        raise ValueError(f"labels has {labels.size} pixels; at most {MAX_PIXELS} (16384^2)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be integers (class ids, -1 = not covered), got {labels.dtype}"
        )
    if split not in ("watershed", "none"):
        raise ValueError(f'split must be "watershed" or "none", got {split!r}')
    min_area = int(_check_range("min_area_px", min_area_px, 1, MAX_AREA_PX))
    neck = _check_range("neck", neck, 0.0, 1.0, open_low=True, open_high=True)
    min_peak = _check_range("min_peak_px", min_peak_px, 0.5, 1000.0)
    smooth = _check_range("smooth", smooth, 0.0, 5.0)
    pixel_nm = _pixel_nm(pixel_size, pixel_unit)
    if intensity is not None:
        intensity = np.asarray(intensity)
        if intensity.shape != labels.shape:
            raise ValueError(f"intensity shape {intensity.shape} != labels shape {labels.shape}")

    ids = [int(class_id)] if np.isscalar(class_id) else [int(c) for c in class_id]
    if not ids or len(ids) > MAX_CLASSES or any(c < 0 for c in ids):
        raise ValueError(f"class_id must be 1 to {MAX_CLASSES} class ids >= 0, got {class_id!r}")
    mask = np.isin(labels, ids)
    eight = np.ones((3, 3), bool)
    comp, n_comp = ndimage.label(mask, structure=eight)
    if split == "watershed" and n_comp:
        comp = _split(mask, comp, n_comp, neck, min_peak, smooth)
    inst = _drop_small(comp, min_area)
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


def _majority(inst, labels, ids, n) -> tuple[np.ndarray, np.ndarray]:
    """Majority class of each instance among ``ids`` and the fraction of its pixels in it."""
    fg = inst > 0
    which = np.searchsorted(np.sort(ids), labels[fg])
    votes = np.zeros((n + 1, len(ids)), np.int64)
    np.add.at(votes, (inst[fg], which), 1)
    votes = votes[1:]
    best = votes.argmax(1)
    frac = votes.max(1) / np.maximum(votes.sum(1), 1)
    return np.sort(ids)[best], frac


def _split(mask, comp, n_comp, neck, min_peak, smooth) -> np.ndarray:
    """Cut components with several distance-map maxima at their necks (see the module doc)."""
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import watershed

    dist = ndimage.distance_transform_edt(mask).astype(np.float32)
    if smooth:
        # The pixel EDT zigzags along thin diagonal ridges (3.0 / 2.2 / 3.0 px): slight
        # smoothing keeps such ellipses whole while necks of touching discs stay necks.
        dist = ndimage.gaussian_filter(dist, smooth) * mask
    # Cheap pre-filter: only components with >= 2 separate local maxima can split.
    peaks = (dist >= min_peak) & (dist == ndimage.maximum_filter(dist, size=3))
    plateaus, n_plateaus = ndimage.label(peaks, structure=np.ones((3, 3), bool))
    if n_plateaus < 2:
        return comp
    owner = np.zeros(n_plateaus + 1, np.int64)
    owner[plateaus[peaks]] = comp[peaks]
    per_comp = np.bincount(owner[1:], minlength=n_comp + 1)
    candidates = np.nonzero(per_comp[1:] >= 2)[0] + 1
    if candidates.size == 0:
        return comp
    out = comp.astype(np.int64)
    next_id = n_comp + 1
    h = -math.log(neck)
    slices = ndimage.find_objects(comp)
    for c in candidates:
        sl = slices[c - 1]
        own = comp[sl] == c
        d = np.where(own, dist[sl], 0).astype(np.float64)
        # log distance: dynamics of a maximum = log(peak / saddle); background far below.
        logd = np.where(own, np.log(np.maximum(d, 0.5)), math.log(0.25))
        # Regional maxima of the reconstruction of logd - h under logd: one plateau per
        # maximum of dynamics >= h (equal peaks joined by a high saddle share one plateau).
        rec = reconstruction(logd - h, logd, method="dilation")
        plateaus = local_maxima(rec, connectivity=2, allow_borders=True) & own
        markers, n_markers = ndimage.label(plateaus, structure=np.ones((3, 3), bool))
        if n_markers < 2:
            continue
        high = ndimage.maximum(d, markers, np.arange(1, n_markers + 1)) >= min_peak
        if high.sum() < 2:
            continue
        lut = np.zeros(n_markers + 1, np.int64)
        lut[1:][high] = np.arange(1, int(high.sum()) + 1)
        markers, n_markers = lut[markers], int(high.sum())
        pieces = watershed(-d, markers, mask=own, connectivity=2)
        region = out[sl]
        region[own] = np.where(pieces[own] == 1, c, pieces[own] - 2 + next_id)
        next_id += n_markers - 1
    return out


def _drop_small(comp: np.ndarray, min_area: int) -> np.ndarray:
    """Relabel 1..n in order of first pixel, dropping instances under ``min_area`` px."""
    areas = np.bincount(comp.ravel())
    keep = areas >= min_area
    keep[0] = False
    ids = np.nonzero(keep)[0]
    if ids.size == 0:
        return np.zeros(comp.shape, np.int32)
    slices = ndimage.find_objects(comp)
    first = np.empty(ids.size, np.int64)
    for j, i in enumerate(ids):
        rows, cols = slices[i - 1]
        col = int(np.argmax(comp[rows.start, cols] == i))  # first pixel of its top row
        first[j] = rows.start * comp.shape[1] + cols.start + col
    order = ids[np.argsort(first, kind="stable")]
    lut = np.zeros(areas.size, np.int32)
    lut[order] = np.arange(1, order.size + 1, dtype=np.int32)
    return lut[comp]


def _measure(inst, labels, intensity, class_id, pixel_nm, params) -> Instances:
    """Per-instance properties of an instance map (H, W) int32 with ids 1..n."""
    n = int(inst.max()) if inst.size else 0
    w = inst.shape[1]
    covered = int(np.count_nonzero(labels >= 0))
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
    uncovered = labels < 0
    if uncovered.any():
        near = ndimage.binary_dilation(uncovered, structure=np.ones((3, 3), bool))
        edge[inst[near]] = True
    edge = edge[1:]

    feret_max, feret_min = _ferets(inst, n)
    perim = _perimeters(inst, n)
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


# Crofton perimeter weights (4 directions) of the 16 binary 2 x 2 configurations, indexed by
# top-left + 2 top-right + 4 bottom-left + 8 bottom-right (skimage.measure.perimeter_crofton)
_R = 1 / math.sqrt(2)
_CROFTON4 = np.array([0, 1 + _R, _R, 2 * _R, 0, 1 + _R, 0, _R, 1, 2, _R, _R, 1, 2, 0, 0]) * (
    math.pi / 4
)


def _perimeters(inst: np.ndarray, n: int) -> np.ndarray:
    """Crofton perimeter (4 directions, px) of every instance of an instance map at once: (n,).

    The same as ``perimeter_crofton`` on each instance alone (touching instances are each
    other's background): every 2 x 2 window that is not uniform adds, for each instance in
    it, the weight of the window's configuration as that instance sees it."""
    p = np.pad(inst, 2)
    v = [p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]]  # weights 1, 2, 4, 8
    mixed = ~((v[0] == v[1]) & (v[1] == v[2]) & (v[2] == v[3]))
    v = [x[mixed] for x in v]
    out = np.zeros(n + 1)
    for q in range(4):
        owner = v[q]
        first = owner > 0  # count each instance once per window, at its first corner
        for r in range(q):
            first &= v[r] != owner
        code = sum((v[r] == owner).astype(np.int64) << r for r in range(4))
        out += np.bincount(owner[first], _CROFTON4[code[first]], minlength=n + 1)
    return out[1:]


def _ferets(inst: np.ndarray, n: int, coarse: int = 60, fine_deg: float = 0.5):
    """(max, min) Feret diameters (px) of every instance at once: (n,), (n,).

    The extent of an instance along a direction u is that of its pixel squares' edge
    midpoints: the spread of its pixel centres plus max(|u_y|, |u_x|). Only the pixels that
    end a horizontal run are projected (each row's extremes are among them). Extents at
    ``coarse`` directions over 180 deg, then, per instance, at ``fine_deg`` steps within one
    coarse step of its widest and narrowest: within 0.3 % of the exact calipers."""
    step_x = inst[:, 1:] != inst[:, :-1]
    starts_run, ends_run = np.ones(inst.shape, bool), np.ones(inst.shape, bool)
    starts_run[:, 1:], ends_run[:, :-1] = step_x, step_x
    ends = starts_run | ends_run
    idx = np.flatnonzero(ends & (inst > 0))
    ids = inst.ravel()[idx]
    order = np.argsort(ids, kind="stable")
    idx, ids = idx[order], ids[order]
    y, x = (a.astype(np.float32) for a in np.divmod(idx, inst.shape[1]))
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else ids
    owner = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, ids.size]))
    fmax, fmin = np.zeros(n), np.zeros(n)
    if ids.size == 0:
        return fmax, fmin

    def extents(theta: np.ndarray) -> np.ndarray:
        """(A,) shared or (A, P) per-instance angles -> (P, A) extents."""
        s, c = np.sin(theta).astype(np.float32), np.cos(theta).astype(np.float32)
        if theta.ndim == 1:
            proj = s[:, None] * y + c[:, None] * x
            pad = np.maximum(np.abs(s), np.abs(c))[None]
        else:
            proj = s[:, owner] * y + c[:, owner] * x
            pad = np.maximum(np.abs(s), np.abs(c)).T
        lo, hi = np.minimum.reduceat(proj, starts, 1), np.maximum.reduceat(proj, starts, 1)
        return (hi - lo).T + pad

    step = math.pi / coarse
    wide = extents(np.arange(coarse) * step)
    offsets = np.arange(-step, step + 1e-9, math.radians(fine_deg))
    present = ids[starts] - 1
    for pick, out, reduce in ((wide.argmax(1), fmax, np.max), (wide.argmin(1), fmin, np.min)):
        theta = pick[None, :] * step + offsets[:, None]  # (A, P)
        out[present] = reduce(extents(theta), axis=1)
    return fmax, fmin


# ----------------------------------------------------------------------------- statistics


def _calibration(inst: Instances, pixel_size, pixel_unit) -> float | None:
    return inst.pixel_nm if pixel_size is None else _pixel_nm(pixel_size, pixel_unit)


def _bins(bins, values: np.ndarray) -> np.ndarray:
    if isinstance(bins, str):
        if bins != "auto":
            raise ValueError(f'bins must be "auto", an int or a sequence of edges, got {bins!r}')
        if values.size == 0:
            return np.array([0.0, 1.0])
        edges = np.histogram_bin_edges(values, bins="auto")
        if edges.size - 1 > MAX_AUTO_BINS:
            edges = np.histogram_bin_edges(values, bins=MAX_AUTO_BINS)
        return edges
    if isinstance(bins, (int, np.integer)):
        _check_range("bins", bins, 1, MAX_BINS)
        return np.histogram_bin_edges(values if values.size else np.array([0.0, 1.0]), int(bins))
    edges = np.asarray(bins, np.float64)
    if edges.ndim != 1 or not 2 <= edges.size <= MAX_BINS + 1:
        raise ValueError(f"bins as edges needs 2 to {MAX_BINS + 1} values, got {edges.size}")
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError("bin edges must be finite and strictly increasing")
    return edges


def _summary(values: np.ndarray) -> dict[str, float]:
    q = np.percentile(values, list(_QUANTILES.values()))
    out = {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
    }
    out.update({k: float(v) for k, v in zip(_QUANTILES, q, strict=True)})
    return out


def _bootstrap(values: np.ndarray, n_boot: int, seed: int, ci: float) -> dict[str, list[float]]:
    """Percentile intervals of each summary statistic, particles resampled with replacement."""
    rng = np.random.default_rng(seed)
    n = values.size
    chunk = max(1, _BOOT_CHUNK // n)
    stats: dict[str, list[np.ndarray]] = {k: [] for k in ("mean", "std", *_QUANTILES)}
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        sample = np.sort(values[rng.integers(0, n, (b, n))], axis=1)
        stats["mean"].append(sample.mean(1))
        stats["std"].append(sample.std(1, ddof=1) if n > 1 else np.zeros(b))
        q = np.percentile(sample, list(_QUANTILES.values()), axis=1)
        for k, row in zip(_QUANTILES, q, strict=True):
            stats[k].append(row)
        done += b
    lo, hi = 50 * (1 - ci), 50 * (1 + ci)
    return {
        k: [
            float(np.percentile(np.concatenate(v), lo)),
            float(np.percentile(np.concatenate(v), hi)),
        ]
        for k, v in stats.items()
    }


def size_distribution(
    inst: Instances,
    *,
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    exclude_edge: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    bins: int | str | Sequence[float] = "auto",
    only_class: int | None = None,
) -> dict:
    """Count, number density and equivalent-diameter distribution of ``inst``, JSON-ready.

    pixel_size/pixel_unit: calibration (default: the one given to ``instances``); diameters
        then in nm and densities per µm^2, else px and per px^2.
    exclude_edge: leave particles touching the image edge or uncovered pixels (truncated, so
        their size is wrong) out of the diameter statistics; ``n_total``, ``n_edge`` and
        ``n_measured`` say how many. The number density counts every interior particle once
        and every edge-touching one half (the expectation of an unbiased counting frame).
    n_boot: bootstrap resamples of the measured particles (0 = no intervals); ci: interval level.
    bins: "auto" (numpy's rule, at most 60 bins), an int, or explicit edges (same unit as the
        diameters); particles outside explicit edges are counted in ``histogram.outside``.
    only_class: with instances of several classes, only those whose majority class this is.
    """
    n_boot = int(_check_range("n_boot", n_boot, 0, MAX_BOOT))
    ci = _check_range("ci", ci, 0.0, 1.0, open_low=True, open_high=True)
    nm = _calibration(inst, pixel_size, pixel_unit)
    scale = nm if nm is not None else 1.0
    unit = "nm" if nm is not None else "px"
    sel = np.ones(inst.n, bool) if only_class is None else inst.classes == int(only_class)
    edge = inst.edge & sel
    n_sel, n_edge = int(sel.sum()), int(edge.sum())
    measured = sel & ~edge if exclude_edge else sel
    d = inst.equivalent_diameter_px[measured] * scale
    edges = _bins(bins, d)
    counts, _ = np.histogram(d, edges)
    field_area = inst.covered_px * (scale / 1e3) ** 2 if nm is not None else float(inst.covered_px)
    n_int = n_sel - n_edge
    out: dict = {
        "class_id": inst.class_id if only_class is None else int(only_class),
        "n_total": n_sel,
        "n_edge": n_edge,
        "n_interior": n_int,
        "n_measured": int(measured.sum()),
        "excluded": "particles touching the image edge or uncovered pixels"
        if exclude_edge
        else "none",
        "field_area": field_area,
        "field_area_unit": "µm^2" if nm is not None else "px^2",
        "number_density": (n_int + 0.5 * n_edge) / field_area if field_area else None,
        "number_density_unit": "1/µm^2" if nm is not None else "1/px^2",
        "number_density_rule": "interior particles + half of the edge-touching ones, per field",
        "diameter": "equivalent circular diameter sqrt(4 A / pi)",
        "length_unit": unit,
        "pixel_size_nm": nm,
        "histogram": {
            "edges": [float(e) for e in edges],
            "counts": [int(c) for c in counts],
            "outside": int(d.size - counts.sum()),
        },
        "area_fraction": float(inst.area_px[sel].sum() / inst.covered_px)
        if inst.covered_px
        else None,
    }
    if d.size == 0:
        out.update({k: None for k in ("mean", "std", *_QUANTILES)})
        return out
    out.update(_summary(d))
    if n_boot:
        out["bootstrap"] = {
            "n_resamples": n_boot,
            "ci": ci,
            "seed": int(seed),
            "method": "percentile, particles resampled with replacement",
            "intervals": _bootstrap(d, n_boot, int(seed), ci),
        }
    return out


# ----------------------------------------------------------------------------- tables

_PX_COLUMNS = (
    ("area_px", "area_px"),
    ("equivalent_diameter_px", "equivalent_diameter_px"),
    ("feret_max_px", "feret_max_px"),
    ("feret_min_px", "feret_min_px"),
    ("major_axis_px", "major_axis_px"),
    ("minor_axis_px", "minor_axis_px"),
    ("perimeter_px", "perimeter_px"),
)


def _num(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def instance_rows(
    inst: Instances, *, pixel_size: float | None = None, pixel_unit: str | None = None
) -> list[dict]:
    """One JSON-ready dict per instance: px columns, and nm / nm^2 columns when calibrated."""
    nm = _calibration(inst, pixel_size, pixel_unit)
    rows = []
    for i in range(inst.n):
        row: dict = {"id": i + 1, "class_id": int(inst.classes[i])}
        for key, attr in _PX_COLUMNS:
            row[key] = _num(getattr(inst, attr)[i])
        row.update(
            {
                "aspect_ratio": _num(inst.aspect_ratio[i]),
                "orientation_deg": _num(inst.orientation_deg[i]),
                "circularity": _num(inst.circularity[i]),
                "centroid_x_px": _num(inst.centroid_x[i]),
                "centroid_y_px": _num(inst.centroid_y[i]),
                "mean_intensity": _num(inst.mean_intensity[i]),
                "edge": bool(inst.edge[i]),
                "class_fraction": _num(inst.class_fraction[i]),
            }
        )
        if nm is not None:
            row["area_nm2"] = _num(inst.area_px[i] * nm * nm)
            for key in (
                "equivalent_diameter",
                "feret_max",
                "feret_min",
                "major_axis",
                "minor_axis",
            ):
                row[f"{key}_nm"] = _num(getattr(inst, f"{key}_px")[i] * nm)
            row["perimeter_nm"] = _num(inst.perimeter_px[i] * nm)
        rows.append(row)
    return rows


def table_header(rows: Sequence[dict], *, leading: Sequence[str] = ()) -> list[str]:
    """The particle table's columns: every key of ``rows`` in first-seen order (the
    calibrated columns only when some row has them); without rows, the px columns of
    :func:`instance_rows` after ``leading`` (keys a caller puts in front, e.g. "class")."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    return header or [*leading, "id", "class_id", *(k for k, _ in _PX_COLUMNS)]


def rows_csv(
    rows: Sequence[dict],
    *,
    leading: Sequence[str] = (),
    extra: dict | None = None,
    cell=None,
) -> str:
    """Particle table rows (:func:`instance_rows`, possibly with keys put in front) as CSV
    text: :func:`table_header`, then ``extra`` as constant columns on every line; ``cell``
    maps each value (default: None, i.e. NaN, -> an empty cell)."""
    extra = extra or {}
    cell = cell or (lambda v: "" if v is None else v)
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=[*table_header(rows, leading=leading), *extra], lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(v) for k, v in {**row, **extra}.items()})
    return buf.getvalue()


def instances_table_csv(
    inst: Instances, *, pixel_size: float | None = None, pixel_unit: str | None = None
) -> str:
    """The particle table as CSV text (header + one line per instance; empty cells for NaN)."""
    return rows_csv(instance_rows(inst, pixel_size=pixel_size, pixel_unit=pixel_unit))
