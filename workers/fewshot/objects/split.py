"""Splitting a class's pixels into particles, all components at once (see the package doc).

``split_pieces`` gives every pixel a piece id; ``relabel`` numbers the pieces 1..n in raster
order and drops the small ones. Private to ``workers.fewshot.objects``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_INF2 = 1 << 30  # squared distance "no background in reach" (int32-safe with dy^2 added)
_EDT_WORK = (32, 10**6)  # gathers (per pixel, more) before the distance transform uses scipy


class _Pixels:
    """The class's pixels in a zero-padded copy of the map, for neighbourhood gathers.

    big: (H + 2 pad, W + 2 pad) bool; pos: flat indices of the pixels in ``big``, raster
    order; ``at(full, o)`` gathers a flat array of ``big``'s size at ``pos + o`` (|o| at most
    pad rows + pad columns) without building the index array."""

    def __init__(self, mask: np.ndarray, pad: int):
        self.pad = pad
        self.big = np.pad(mask, pad)
        self.wp = self.big.shape[1]
        self.pos = np.flatnonzero(self.big)
        self.reach = pad * (self.wp + 1)
        self._base = self.pos - self.reach

    def at(self, full: np.ndarray, o: int) -> np.ndarray:
        return full[self.reach + o :].take(self._base)

    def full(self, values: np.ndarray, dtype) -> np.ndarray:
        """A flat array of ``big``'s size: ``values`` at the pixels, 0 elsewhere."""
        out = np.zeros(self.big.size, dtype)
        out[self.pos] = values
        return out


_BATCH_PX = 1 << 20  # pixels per band of components (cache-sized working set)


def split_pieces(mask, neck, min_peak, smooth) -> tuple[np.ndarray, np.ndarray]:
    """Cut touching particles at distance-map necks (module doc), in bands of rows.

    The 8-connected components (numbered in raster order, so by top row) are taken in runs
    whose rows span about ``_BATCH_PX`` pixels; each run is cut on its rows plus a margin
    wider than the smoothing reaches (every pixel's nearest background and smoothing
    neighbours lie inside it, so the result is that of the whole map at once). Returns
    (fg, ids): flat indices of the class's pixels and each one's piece id (>= 0, distinct
    between pieces; neither in raster order)."""
    h, w = mask.shape
    comp, n_comp = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n_comp == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    boxes = ndimage.find_objects(comp)
    rows = np.array([s[0].start for s in boxes])
    bottom = np.array([s[0].stop for s in boxes])
    r = int(3 * smooth + 0.5) if smooth else 0
    margin = r + 3
    budget = max(1, _BATCH_PX // w)
    fgs, pieces, next_id = [], [], 0
    lo = 0
    while lo < n_comp:
        # the run: components lo..hi, the longest whose rows span at most the budget (or one),
        # among those whose top row is within it (rows ascend: component ids are raster order)
        end = int(np.searchsorted(rows, rows[lo] + budget, side="right"))
        deepest = np.maximum.accumulate(bottom[lo:end])
        hi = lo + max(0, int(np.searchsorted(deepest - rows[lo], budget, side="right")) - 1)
        y0, y1 = max(rows[lo] - margin, 0), min(int(deepest[hi - lo]) + margin, h)
        flat, piece = _split_band(mask[y0:y1], neck, min_peak, smooth, r)
        ids = comp[y0:y1].ravel()[flat]
        mine = (ids > lo) & (ids <= hi + 1)  # component ids are 1-based
        fgs.append(flat[mine] + y0 * w)
        pieces.append(piece[mine] + next_id)
        next_id += int(piece.max(initial=-1)) + 1
        lo = hi + 1
    return np.concatenate(fgs), np.concatenate(pieces)


def _split_band(mask, neck, min_peak, smooth, r) -> tuple[np.ndarray, np.ndarray]:
    """Pieces of every component of ``mask`` at once: (flat indices in raster order, ids)."""
    px = _Pixels(mask, r + 1)
    dist = _edt(px, mask)
    if r:
        dist = _smooth(px, dist, smooth, r)
    basin, peak_at = _basins(px, dist)
    piece = _merge_basins(px, dist, basin, peak_at, neck, min_peak)
    return _unpadded(px), piece


def _edt(px: _Pixels, mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (float32, px) of each pixel to the nearest background pixel of the
    image; outside the image is not background (as ``ndimage.distance_transform_edt``).

    Exact: the distance along the row (from the row's runs), then the minimum over rows
    y +- dy of dy^2 + (row distance)^2, dy only up to the distance found so far, so that the
    work is the sum of the distances rather than the image size (large objects fall back to
    scipy's separable transform)."""
    pos, wp, pad, n = px.pos, px.wp, px.pad, px.pos.size
    if n == 0:
        return np.zeros(0, np.float32)
    flat = px.big.ravel()
    starts = np.flatnonzero(flat[1:] & ~flat[:-1]) + 1  # runs never wrap: padded columns
    lengths = np.flatnonzero(flat[:-1] & ~flat[1:]) + 1 - starts
    first = np.cumsum(lengths) - lengths  # compact index of each run's first pixel
    offset = (np.arange(n) - np.repeat(first, lengths)).astype(np.int32)
    left = offset + 1
    right = np.repeat(lengths.astype(np.int32), lengths) - offset
    col = starts % wp
    at_left = np.repeat(col == pad, lengths)  # the run starts at the image's left edge
    at_right = np.repeat(col + lengths == wp - pad, lengths)
    g = np.minimum(np.where(at_left, _INF2, left), np.where(at_right, _INF2, right))
    g2 = np.where(g >= _INF2, _INF2, g * g).astype(np.int32)  # g <= 16384: no overflow
    rowd2 = np.zeros(px.big.shape, np.int32)  # background: 0
    rowd2[:pad], rowd2[-pad:], rowd2[:, :pad], rowd2[:, -pad:] = _INF2, _INF2, _INF2, _INF2
    rowd2 = rowd2.ravel()
    rowd2[pos] = g2
    d2 = g2
    last = rowd2.size - 1
    act = np.flatnonzero(d2 > 1)
    dy, work = 1, 0
    while act.size:
        work += act.size
        if work > _EDT_WORK[0] * n + _EDT_WORK[1]:  # large objects: scipy's is cheaper
            full = ndimage.distance_transform_edt(mask).astype(np.float32)
            return full.ravel()[_unpadded(px)]
        p = pos[act]
        up = rowd2.take(np.maximum(p - dy * wp, 0))
        down = rowd2.take(np.minimum(p + dy * wp, last))
        cur = np.minimum(np.minimum(up, down) + dy * dy, d2[act])
        d2[act] = cur
        dy += 1
        act = act[cur > dy * dy]
    return np.sqrt(d2, dtype=np.float32)


def _unpadded(px: _Pixels) -> np.ndarray:
    """Flat indices of the pixels in the unpadded (H, W) map."""
    rows, cols = np.divmod(px.pos, px.wp)
    return (rows - px.pad) * (px.wp - 2 * px.pad) + (cols - px.pad)


def _smooth(px: _Pixels, dist, sigma, r) -> np.ndarray:
    """Gaussian (``sigma``, radius ``r``) of the distance map (0 off the mask) at the pixels:
    along rows over the whole padded map, then along columns at the pixels only."""
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    full = px.full(dist, np.float32).reshape(px.big.shape)
    across = ndimage.correlate1d(full, k, axis=1, mode="constant").ravel()
    out = np.zeros(px.pos.size, np.float32)
    for j, dy in enumerate(range(-r, r + 1)):
        out += k[j] * px.at(across, dy * px.wp)
    return out


def _basins(px: _Pixels, value) -> tuple[np.ndarray, np.ndarray]:
    """Steepest-ascent basins of ``value`` (> 0 at the pixels, 0 elsewhere), 8-neighbours,
    ties to the larger flat index (a plateau drains to one of its pixels).

    Returns (basin id per pixel (n,) int64, compact index of each basin's maximum)."""
    n, wp = px.pos.size, px.wp
    full = px.full(value, np.float32)
    offsets = sorted((dy * wp + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)), reverse=True)
    stack = np.empty((len(offsets), n), np.float32)
    for i, o in enumerate(offsets):
        stack[i] = px.at(full, o)
    best = np.asarray(offsets)[stack.argmax(0)]  # first maximum: the larger offset wins ties
    index = np.empty(px.big.size, np.int64)
    index[px.pos] = np.arange(n)
    root = index.take(px.pos + best)
    act = np.flatnonzero(root.take(root) != root)
    while act.size:  # pointer jumping on the pixels not yet at their maximum
        up = root.take(root.take(act))
        root[act] = up
        act = act[root.take(up) != up]
    peaks = np.flatnonzero(root == np.arange(n))
    lut = np.empty(n, np.int64)
    lut[peaks] = np.arange(peaks.size)
    return lut.take(root), peaks


def _merge_basins(px: _Pixels, value, basin, peak_at, neck, min_peak) -> np.ndarray:
    """Piece per pixel: basins merged along their saddles unless the lower peak is a particle.

    Basins merge in order of decreasing saddle (Kruskal on the basin adjacency graph, the
    saddle of two basins being their highest pair of 8-adjacent pixels, each at the lower of
    the two values). When two trees merge, the lower one's peak keeps a piece of its own
    where the saddle is at most ``neck`` x its height and it is at least ``min_peak`` high (a
    maximum of dynamics >= -log(neck) in log distance, the module doc's rule); otherwise it
    joins the piece on the other side of that saddle, as a flood from the kept peaks would.
    The highest peak of each component keeps its piece."""
    nb = peak_at.size
    if nb < 2:
        return np.zeros(px.pos.size, np.int64)
    full = px.full(basin + 1, np.int32)
    a_list, b_list, s_list = [], [], []
    for o in (1, px.wp - 1, px.wp, px.wp + 1):  # each 8-neighbour pair once
        other = px.at(full, o).astype(np.int64) - 1
        i = np.flatnonzero((other >= 0) & (other != basin))
        if i.size == 0:
            continue
        j = np.searchsorted(px.pos, px.pos[i] + o)
        a_list.append(basin[i])
        b_list.append(other[i])
        s_list.append(np.minimum(value[i], value[j]))
    if not a_list:
        return basin
    a, b, s = (np.concatenate(x) for x in (a_list, b_list, s_list))
    key = np.minimum(a, b) * nb + np.maximum(a, b)
    order = np.lexsort((-s, key))
    key, s = key[order], s[order]
    first = np.r_[True, key[1:] != key[:-1]]
    key, s = key[first], s[first]  # the highest saddle of each adjacent pair
    order = np.lexsort((key, -s))
    lo, hi = np.divmod(key[order], nb)
    height = value[peak_at].astype(np.float64).tolist()
    parent = list(range(nb))
    top = list(range(nb))
    attach = np.arange(nb)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v, sad in zip(lo.tolist(), hi.tolist(), s[order].tolist(), strict=True):
        ru, rv = find(u), find(v)
        if ru == rv:
            continue
        tu, tv = top[ru], top[rv]
        if (height[tu], tu) < (height[tv], tv):  # make u's tree the higher one
            ru, rv, tu, tv, u = rv, ru, tv, tu, v
        if not (height[tv] >= min_peak and max(sad, 0.5) <= neck * height[tv]):
            attach[tv] = u  # the lower peak is no particle: its piece joins u's
        parent[rv] = ru
    while True:
        nxt = attach.take(attach)
        if np.array_equal(nxt, attach):
            break
        attach = nxt
    return attach.take(basin)


def relabel(shape, fg, ids, min_area: int) -> np.ndarray:
    """Instance map (H, W) int32 from the pixels ``fg`` (flat, raster order) and their ids
    (>= 0): 1..n in order of each instance's first pixel, those under ``min_area`` px dropped."""
    out = np.zeros(shape, np.int32)
    if fg.size == 0:
        return out
    areas = np.bincount(ids)
    first = np.full(areas.size, np.iinfo(np.int64).max)
    np.minimum.at(first, ids, fg)
    keep = np.flatnonzero(areas >= min_area)
    order = keep[np.argsort(first[keep], kind="stable")]
    lut = np.zeros(areas.size, np.int32)
    lut[order] = np.arange(1, order.size + 1, dtype=np.int32)
    out.ravel()[fg] = lut[ids]
    return out
