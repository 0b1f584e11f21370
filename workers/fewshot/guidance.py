"""Guidance: a chip size from periodicity, texture or feature scale (which chips to label next:
``workers.fewshot.label_next``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from workers.fewshot.chipping import normalise

__all__ = [
    "ChipSizeSuggestion",
    "Features",
    "features",
    "radial_power",
    "suggest_chip_size",
]


@dataclass(frozen=True)
class ChipSizeSuggestion:
    """A suggested chip size and the numbers behind it (all lengths in px)."""

    chip_size: int
    method: str  # "periodicity" | "feature_scale" | "texture"
    period_px: float | None
    peak_prominence: float  # log power of the strongest radial peak above its running median
    correlation_length_px: float
    reason: str
    grid: tuple[int, int] = (0, 0)  # (rows, cols) of chips at offset 0
    uncovered_fraction: float = 0.0  # share of the image the grid leaves out (margins)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


MIN_CHIPS_PER_SIDE = 8

#: features whose area-weighted solidity is below this are a texture's percolating blobs, not
#: objects (seen cases: particles 0.92-0.97, textures 0.34-0.53); a texture's chip holds
#: ``TEXTURE_ELEMENTS`` of its features and is at least ``TEXTURE_MIN_PX`` (the default
#: encoder's input size: its texture statistics were trained at that scale). On the seen
#: textures every size is at the floor (32 px was the best of 16-64 px on three of five;
#: 0.6 x the feature diameter gave 16 px, losing 0.13 pixel mIoU on average); the factor
#: of 3 mirrors the periodic rule and was not chosen on data.
TEXTURE_SOLIDITY = 0.7
#: a periodic peak counts as a lattice unless the features are a texture's and smaller than
#: this share of its period (seen lattices: features 0.45-0.74 of the period; a brick texture's
#: 32 px bricks over 5 px grain: 0.17, which 3 periods sized 96 px chips, losing 0.14)
TEXTURE_PERIOD_RATIO = 0.25
TEXTURE_ELEMENTS = 3.0
TEXTURE_MIN_PX = 32
#: a radial power peak wider than this share of its frequency (between its half-excess points)
#: is the packing of the features, not a lattice: at 2048 px the seen lattices' peaks are
#: 0.04-0.19 wide and dense particles' packing peaks 0.29-0.92 (two of them over the
#: prominence threshold, which sized 341-408 px chips for 50 px particles)
PEAK_MAX_WIDTH = 0.4


def uncovered_share(height: int, width: int, chip: int) -> float:
    """Share of an (height, width) image that a grid of ``chip`` px chips at offset 0 leaves
    out (the right and bottom margins)."""
    chip = max(1, int(chip))
    covered = (height // chip) * chip * (width // chip) * chip
    return 1.0 - covered / float(height * width)


def _fit_margins(h: int, w: int, target: int, lo: int, hi: int, multiple: int) -> int:
    """Among sizes that are multiples of ``multiple`` within 20 % of ``target`` (and within
    [lo, hi]), the one that leaves the smallest margins; the nearest to ``target`` on ties."""
    step = max(1, multiple)
    sizes = [
        v for v in range(max(lo, step), hi + 1, step) if abs(v - target) <= 0.2 * target + 1e-9
    ] or [target]
    return min(sizes, key=lambda v: (round(uncovered_share(h, w, v), 3), abs(v - target)))


def radial_power(
    image: np.ndarray, *, max_side: int = 1024, normalised: bool = False
) -> tuple[np.ndarray, np.ndarray, int]:
    """Radially averaged power spectrum of a centred crop -> (radius (M,), log power (M,), side).

    Radius r (integer frequency index) corresponds to a period of side / r pixels.
    ``normalised``: ``image`` is ``chipping.normalise``'s output already (as in ``features``).
    """
    img = image if normalised else normalise(image)
    side = min(min(img.shape), max_side)
    y0, x0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    crop = img[y0 : y0 + side, x0 : x0 + side].astype(np.float64)
    crop = crop - crop.mean()
    w = np.hanning(side)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(crop * np.outer(w, w)))) ** 2
    yy, xx = np.indices(spec.shape) - side // 2
    r = np.rint(np.hypot(yy, xx)).astype(np.int64)
    n = side // 2
    mask = r < n
    total = np.bincount(r[mask], weights=spec[mask], minlength=n)
    count = np.bincount(r[mask], minlength=n)
    radii = np.arange(n)
    return radii[1:], np.log(total[1:] / np.maximum(count[1:], 1) + 1e-12), side


def _correlation_length(img: np.ndarray, *, max_side: int = 512) -> float:
    """Distance (px) at which the radially averaged autocorrelation of a normalised image
    (``chipping.normalise``) first drops below 1/e."""
    side = min(min(img.shape), max_side)
    crop = img[:side, :side].astype(np.float64)
    crop = crop - crop.mean()
    f = np.fft.fft2(crop, s=(2 * side, 2 * side))
    ac = np.fft.ifft2(np.abs(f) ** 2).real
    ac = np.fft.fftshift(ac)
    c = side
    yy, xx = np.indices(ac.shape) - c
    r = np.rint(np.hypot(yy, xx)).astype(np.int64)
    mask = r < side // 2
    prof = np.bincount(r[mask], weights=ac[mask]) / np.maximum(np.bincount(r[mask]), 1)
    if not prof.size or prof[0] <= 0:  # a 1 px image, or no contrast at all
        return float(side)
    prof = prof / prof[0]
    below = np.flatnonzero(prof < np.exp(-1))
    return float(below[0]) if below.size else float(side // 2)


class Features(NamedTuple):
    """The features beyond an Otsu threshold (``features``): median equivalent diameter (px),
    their number, their contrast ("bright" | "dark") and their area-weighted solidity (area /
    convex-hull area: ~1 for particles, well below for the percolating blobs of a texture)."""

    diameter: float
    n: int
    contrast: str
    solidity: float


def features(
    image: np.ndarray, *, smooth: float = 1.5, min_area: int = 4, normalised: bool = False
) -> Features:
    """The features of an image; (nan, 0, "", nan) when there are none.

    Features = connected regions of the minority side of an Otsu threshold of the image
    smoothed by ``smooth`` px (particles on a support film, whichever their contrast), of at
    least ``min_area`` px. The median counts features, not area: the autocorrelation length,
    which the area weights, is stretched to its scale by one large particle among many small.
    The solidity is measured on the largest features that hold 90 % of their area (at most
    256 of them).
    """
    none = Features(float("nan"), 0, "", float("nan"))
    img = ndimage.gaussian_filter(
        (image if normalised else normalise(image)).astype(np.float64), smooth
    )
    if img.size == 0 or np.ptp(img) <= 0:
        return none
    # scikit-image: loaded by the first suggestion, not by every web process
    from skimage.filters import threshold_otsu
    from skimage.measure import regionprops

    mask = img > threshold_otsu(img)
    bright = mask.mean() <= 0.5
    labels, n = ndimage.label(mask if bright else ~mask)
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    kept = np.flatnonzero(areas >= min_area) + 1
    if not kept.size:
        return none
    diameter = float(np.median(2 * np.sqrt(areas[kept - 1] / np.pi)))
    order = kept[np.argsort(areas[kept - 1])[::-1]]
    share = np.cumsum(areas[order - 1]) / areas[order - 1].sum()
    largest = order[: min(int(np.searchsorted(share, 0.9)) + 1, 256)]
    regions = regionprops(np.where(np.isin(labels, largest), labels, 0))
    solidity = float(np.average([r.solidity for r in regions], weights=[r.area for r in regions]))
    return Features(diameter, int(kept.size), "bright" if bright else "dark", solidity)


def _grid_summary(h: int, w: int, size: int, why_few: str) -> tuple[tuple[int, int], float, str]:
    """(rows, cols) of ``size`` px chips on an (h, w) image at offset 0, the share it leaves
    out, and the words for the reason (with ``why_few`` when the grid is below 8 x 8)."""
    grid = (h // size, w // size)
    share = uncovered_share(h, w, size)
    text = f"; a {grid[0]} x {grid[1]} grid leaving {share:.1%} of the image outside"
    if min(grid) < MIN_CHIPS_PER_SIDE:
        text += f" (fewer than {MIN_CHIPS_PER_SIDE} x {MIN_CHIPS_PER_SIDE} chips: {why_few})"
    return grid, share, text


def _strongest_peak(
    img: np.ndarray, *, periods: float, largest: float
) -> tuple[float, float, float]:
    """The strongest radial power peak of a normalised image (``chipping.normalise``) ->
    (period px, prominence, relative width); (nan, 0.0, nan) when no radius counts (an image
    too small to hold a period).

    A lattice gives a sharp radial peak; smooth roll-offs (blur, blob textures) do not.
    Prominence = log power above the running median over a window (~1/8 of the radii) much
    wider than a peak. Only periods of which ``periods`` fit in a ``largest`` px chip count: a
    longer "period" (the spacing of 40 px particles read as 90 px) would size chips that hide
    the objects. Relative width: the radii around the peak whose excess is over half of it, as
    a share of the peak's radius (a lattice's peak is narrow, a packing's broad).
    """
    radii, logp, side = radial_power(img, normalised=True)
    window = max(7, (len(logp) // 8) | 1)
    excess = logp - ndimage.median_filter(logp, size=window, mode="nearest")
    use = radii >= max(3.0, periods * side / largest)
    if not use.any():
        return float("nan"), 0.0, float("nan")
    i = int(np.flatnonzero(use)[np.argmax(excess[use])])
    above = excess > excess[i] / 2
    lo, hi = i, i
    while lo > 0 and above[lo - 1]:
        lo -= 1
    while hi < len(above) - 1 and above[hi + 1]:
        hi += 1
    width = (radii[hi] - radii[lo] + 1) / radii[i]
    return side / float(radii[i]), float(excess[i]), float(width)


def suggest_chip_size(
    image: np.ndarray,
    *,
    periods: float = 3.0,
    scale_factor: float = 0.6,
    min_size: int = 16,
    max_size: int | None = None,
    multiple: int = 8,
    min_prominence: float = 1.5,
    original_shape: tuple[int, int] | None = None,
) -> ChipSizeSuggestion:
    """Suggest a chip size: ``periods`` lattice periods when the image is periodic; on a
    texture (irregular features, ``TEXTURE_SOLIDITY``) 3 of its features and at least 32 px;
    else ``scale_factor`` x the typical feature diameter (:func:`features`); rounded to
    ``multiple``, clamped to [min_size, max_size] and never above min(H, W). The default
    max_size keeps at least 8 x 8 chips on an aperiodic image (objects: a 4 x 4 grid of
    particles' chips hides most of them) and 4 x 4 on a periodic one; the reason says when the
    grid has fewer than 8 x 8 chips and why. Within 20 % of the size, the one leaving the
    smallest margins is taken; ``uncovered_fraction`` says what share of the image the grid
    leaves out.

    Periodic = the strongest radial power peak (:func:`_strongest_peak`) has a prominence
    (natural log) >= min_prominence.

    ``original_shape``: (H, W) of the original when ``image`` is a downscaled preview of it;
    lengths are then measured on the preview and every size, bound and length reported is in
    the original's pixels (the 16 and 32 px minimums are the encoder's, in image pixels).

    Defaults from ``bench.suggestion`` on the seen cases (pixel mIoU of the pixel map vs the
    best of 16-64 px chips): lattices score best at 2-4 periods per chip (6 lost 0.048 on
    average, 3 lose 0.020); particles 40-50 px across at 16-32 px, about half their diameter,
    as the pixel map outlines a particle from chips smaller than it (4 x the autocorrelation
    length, about 2 diameters, lost 0.23; 0.6 x the median diameter loses 0.008).
    """
    shown = np.asarray(image).shape[:2]
    h, w = original_shape or shown
    scale = w / shown[1]  # original px per px of ``image``
    # never larger than the image: tiny images get a chip of their smaller side at most
    side_min = min(h, w)
    hi_periodic = min(max_size or max(min_size, side_min // 4), side_min)
    hi_objects = min(max_size or max(min_size, side_min // MIN_CHIPS_PER_SIDE), side_min)
    img = normalise(image)  # once, for the three measurements
    period, prominence, width = _strongest_peak(img, periods=periods, largest=hi_periodic / scale)
    period, corr = period * scale, _correlation_length(img) * scale

    f = features(img, normalised=True)
    f = f._replace(diameter=f.diameter * scale)
    texture = f.n > 0 and f.solidity < TEXTURE_SOLIDITY
    packing = width > PEAK_MAX_WIDTH
    # a coarse arrangement (bricks, a moire) of much finer irregular features is not their
    # lattice either
    arrangement = texture and f.diameter < TEXTURE_PERIOD_RATIO * period
    if prominence >= min_prominence and not packing and not arrangement:
        size, note = _pick(periods * period, hi_periodic, (h, w), min_size, multiple)
        grid, share, text = _grid_summary(h, w, size, f"a chip must hold {periods:g} periods")
        reason = (
            f"radial power peak at {period:.1f} px "
            f"(prominence {prominence:.2f} >= {min_prominence}); "
            f"{periods:g} periods = {periods * period:.0f} px -> {size} px{note}{text}"
        )
        return ChipSizeSuggestion(
            size, "periodicity", period, prominence, corr, reason, grid, share
        )
    if texture:
        target = max(TEXTURE_MIN_PX, TEXTURE_ELEMENTS * f.diameter)
    else:
        target = scale_factor * f.diameter if f.n else min_size
    size, note = _pick(target, hi_objects, (h, w), min_size, multiple)
    grid, share, text = _grid_summary(
        h, w, size, f"the image is smaller than {MIN_CHIPS_PER_SIDE} chips of {min_size} px"
    )
    why = f"no clear periodicity (peak prominence {prominence:.2f} < {min_prominence})"
    if prominence >= min_prominence:
        why = _not_a_lattice(period, width, f.diameter, packing)
    reason = f"{why}; {_feature_words(f, texture, scale_factor)} -> {size} px{note}{text}"
    method = "texture" if texture else "feature_scale"
    return ChipSizeSuggestion(size, method, None, prominence, corr, reason, grid, share)


def _pick(
    x: float, hi: int, shape: tuple[int, int], min_size: int, multiple: int
) -> tuple[int, str]:
    """``x`` px rounded to ``multiple``, clamped to [min_size, hi] and moved within 20 % to
    leave the smallest margins of an image of ``shape`` -> (size, the words for what changed)."""
    lo = min(min_size, hi)
    raw = round(x / multiple) * multiple
    v = int(min(max(raw, lo), hi))
    note = ""
    if hi < raw:
        note = f"; capped at {hi} px (the image's smaller side / {min(shape) // hi})"
    elif raw < lo == min_size:
        note = f"; raised to the {min_size} px minimum"
    fitted = _fit_margins(*shape, v, lo, hi, multiple) if v >= multiple else v
    if fitted != v:
        note += f"; {fitted} px leaves smaller margins than {v} px"
    return fitted, note


def _not_a_lattice(period: float, width: float, diameter: float, packing: bool) -> str:
    """Why a prominent radial power peak was not taken as a lattice, in words."""
    if packing:
        return (
            f"the radial power peak at {period:.1f} px is broad ({width:.2f} of its frequency > "
            f"{PEAK_MAX_WIDTH:g}): the packing of the features, not a lattice"
        )
    return (
        f"the radial power peak at {period:.1f} px is {period / diameter:.0f} x the "
        f"size of the image's features: their arrangement, not their lattice"
    )


def _feature_words(f: Features, texture: bool, scale_factor: float) -> str:
    """What the size of an aperiodic image's chips comes from, in words."""
    if texture:
        return (
            f"a texture: its features are irregular (area-weighted solidity {f.solidity:.2f} < "
            f"{TEXTURE_SOLIDITY:g}), typically {f.diameter:.1f} px across; "
            f"{TEXTURE_ELEMENTS:g} of them, at least {TEXTURE_MIN_PX} px"
        )
    if f.n:
        return (
            f"typical feature {f.diameter:.1f} px across (median of {f.n} {f.contrast} "
            f"feature{'s' if f.n > 1 else ''}, Otsu threshold) x {scale_factor:g}"
        )
    return "no features beyond an Otsu threshold"
