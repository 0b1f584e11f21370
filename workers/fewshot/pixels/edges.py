"""Object edges at full resolution: a particle's outline in the pixel map moved to where the
frame's own intensity crosses between the particle and its surroundings.

The pixel map is decided on a reduced grid (4 px cells at 32 px chips, 8 px at 4096^2) from
features smoothed over 2 and 8 px and a chip prior that spreads a particle chip's class over
its neighbours: its outlines are a cell or more off (seen particles: mean boundary error
3.1 px). A chip's class is the majority of its pixels, so where a particle covers 35-65 % of a
chip those pixels decide the chip: most wrong particle chips on the selection scenes were such
chips.

For the classes marked as objects, in blocks of ``BLOCK`` px: a block at an edge (it or one of
its 8 neighbours holds object pixels, and it or one holds others) has its pixels re-decided
from their intensity (the mean over (2 ``BOX`` + 1)^2 px) against two local levels: the mean
intensity of the object blocks and that of the other blocks away from any edge, within about a
chip around it (a particle's own thickness, its support's own background: holey carbon,
vacuum). A pixel joins the objects where it stands more than ``ADD_LEVEL`` of the contrast from
the background towards them (a blurred step's half level), and an object pixel stays down to
``KEEP_LEVEL`` (hysteresis: a dome's thin rim, a particle fainter than its neighbours). Where
the contrast is within ``CONTRAST_Z`` spreads of the background's block means (a stretch of
support the map calls a particle, whose intensity is the support's) nothing moves. A pixel made
object takes the object class of its block or of a neighbouring block holding one (the largest
id), one made background the class of the background beside it; a moved pixel is at most
``MOVED_CONFIDENCE`` sure. Region classes are untouched.

Chosen on the selection and seen particle scenes (k = 3, 10 draws; ``python -m
workers.fewshot.bench --set selection --cases particles --ks 3``): chip mIoU 0.625 -> 0.645
(selection, 6 of 6 cases up), 0.750 -> 0.766 (seen, 8 of 8 up). Pixel maps of the seen scenes
(``bench.pixels --set seen --cases particles --k 3``): pixel mIoU 0.729 -> 0.769, boundary
error 3.1 -> 1.9 px, missed particles 131 -> 129 of 610, extra 89 -> 107, calibration error
0.047 -> 0.060 (under-confident: right at 0.919 of its pixels where it claims 0.879). Tried:
the midpoint both ways (no hysteresis), chip mIoU 0.634; a quarter both ways, more extra
particles; a level per object class, 157 extra against 127; no contrast test, 127 extra (the
seen set) and, on the selection set, block-edged remnants of support called a particle (179
against 137 with it); blocks of 8 px, no gain; a wider band where the map's cells are coarser,
no gain (1024^2 at 64 px chips: 0.486 either way); a pixel's own intensity or a 3 x 3 mean,
more extra particles from noise (119 / 103 against 97 at 5 x 5, the first version). Cost
(``bench.object_speed``, 16 px chips): the pixel map 0.29 -> 0.38 s at 4096^2, 0.21 -> 0.24 s
at 1024^2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from workers.fewshot.chipping import ChipGrid

__all__ = [
    "ADD_LEVEL",
    "BLOCK",
    "BOX",
    "CONTRAST_Z",
    "KEEP_LEVEL",
    "MOVED_CONFIDENCE",
    "refine_object_edges",
]

#: side of the blocks (px) whose pixels are re-decided at an edge: the band is 1-2 blocks wide
#: (4-8 px)
BLOCK = 4
#: a pixel's intensity is the mean over (2 BOX + 1)^2 px around it
BOX = 2
#: a pixel joins an object where it stands above ADD_LEVEL of the contrast between the objects
#: and the background from the background, and an object pixel stays above KEEP_LEVEL
ADD_LEVEL = 0.5
KEEP_LEVEL = 0.25
#: the contrast between the objects and the background must exceed this many spreads of the
#: background's block means for the intensity to place an edge
CONTRAST_Z = 3.0
#: the most a pixel that the intensity moved across an edge is sure of its class (it sits on an
#: edge; seen particles, the first version: pixel calibration error 0.053 / 0.050 / 0.049 at
#: 0.5 / 0.75 / 1)
MOVED_CONFIDENCE = 0.75


def refine_object_edges(
    labels: np.ndarray,
    confidence: np.ndarray,
    frame: np.ndarray,
    grid: ChipGrid,
    object_classes: Sequence[int],
) -> int:
    """Move the edges of the ``object_classes``' pixels in ``labels`` (H, W) class ids, -1
    uncovered, to the frame's intensity (see the module), in place with ``confidence``;
    ``frame``: the normalised frame the grid cuts. Returns the pixels moved."""
    objs = np.asarray(sorted({int(c) for c in object_classes}))
    covered_h, covered_w = labels[grid.covered].shape
    hb, wb = covered_h // (2 * BLOCK) * 2, covered_w // (2 * BLOCK) * 2  # whole 2 x 2 blocks
    if not objs.size or min(hb, wb) < 4:
        return 0
    crop = (slice(None, hb * BLOCK), slice(None, wb * BLOCK))
    lab = labels[grid.covered][crop]  # views: written in place
    conf = confidence[grid.covered][crop]
    img = np.asarray(frame[grid.covered][crop], np.float32)
    fg = lab == objs[0] if objs.size == 1 else np.isin(lab, objs)
    full, empty = _whole_blocks(fg), _whole_blocks(~fg)
    edge = ndimage.maximum_filter(~empty, 3) & ndimage.maximum_filter(~full, 3)
    by, bx = np.nonzero(edge)
    levels = _Levels(_block_sums(img, BLOCK, np.float32) / BLOCK**2, ~edge, grid.chip_size)
    outside, noise = levels.at(empty, by, bx, spread=True)
    inside, _ = levels.at(full, by, bx)  # all object classes' together: per class, more specks
    # where the objects do not stand out of the background's own spread, the intensity cannot
    # place their edge (a stretch of support that the map calls a particle): left as it is
    clear = np.abs(inside - outside) > CONTRAST_Z * noise
    if not clear.any():
        return 0
    by, bx = by[clear], bx[clear]
    inside, outside = inside[clear, None, None], outside[clear, None, None]
    ys, xs = _block_pixels(by, bx)
    old, current = fg[ys, xs], lab[ys, xs]
    # how far each pixel stands from the background towards the objects, against the contrast
    # between the two: an object pixel stays above a quarter of it, another joins above half
    rise = (_box_means(img, by, bx) - outside) * np.sign(inside - outside)
    new = rise > np.where(old, KEEP_LEVEL, ADD_LEVEL) * np.abs(inside - outside)
    corners = lab[::BLOCK, ::BLOCK]  # the class of a block wholly of one class
    joins = _neighbour_class(current, old, np.where(full, corners, -1), by, bx)
    leaves = _neighbour_class(current, ~old & (current >= 0), np.where(empty, corners, -1), by, bx)
    target = np.where(new, np.where(old, current, joins), leaves)
    moved = (new != old) & (target >= 0) & (current >= 0)
    lab[ys[moved], xs[moved]] = target[moved]
    conf[ys[moved], xs[moved]] = np.minimum(conf[ys[moved], xs[moved]], MOVED_CONFIDENCE)
    return int(moved.sum())


def _whole_blocks(mask: np.ndarray) -> np.ndarray:
    """(hb, wb): the BLOCK x BLOCK blocks wholly inside ``mask`` (bool)."""
    return _block_sums(mask.view(np.uint8), BLOCK, np.uint8) == BLOCK * BLOCK


def _block_sums(a: np.ndarray, size: int, dtype) -> np.ndarray:
    """Sums of ``a`` (h size, w size) over its size x size blocks -> (h, w): whole rows at a
    time, then strided columns (a reduction over a short last axis was 7x slower)."""
    h, w = a.shape
    rows = np.add.reduce(a.reshape(h // size, size, w), axis=1, dtype=dtype)
    total = rows[:, ::size].copy()
    for i in range(1, size):
        total += rows[:, i::size]
    return total


class _Levels:
    """Local mean intensities of blocks of one kind away from edges, within about a chip, on
    2 x 2 blocks. means: the blocks' mean intensities (hb, wb), hb and wb even; quiet: the
    blocks away from edges (only they count)."""

    def __init__(self, means: np.ndarray, quiet: np.ndarray, chip_size: int) -> None:
        self.means, self.quiet = means, quiet
        self.window = max(2, round(chip_size / (2 * BLOCK)))

    def at(
        self, blocks: np.ndarray, by: np.ndarray, bx: np.ndarray, *, spread: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(n,) each: the mean intensity of the quiet ``blocks`` (hb, wb) around blocks
        (by, bx), NaN where there are none, and with ``spread`` the spread (s.d.) of their
        means (else None)."""
        w = (blocks & self.quiet).astype(np.float32)

        def around(a: np.ndarray) -> np.ndarray:  # the window's mean of a, at (by, bx)
            return ndimage.uniform_filter(
                _block_sums(a, 2, np.float32), self.window, mode="constant"
            )[by // 2, bx // 2]

        n = around(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 1e-6, around(w * self.means) / n, np.nan)
            if not spread:
                return mean, None
            squares = around(w * self.means * self.means) / n
            return mean, np.sqrt(np.maximum(squares - mean * mean, 0.0))


def _block_pixels(by: np.ndarray, bx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (n, BLOCK, BLOCK) of the pixels of blocks (by, bx)."""
    step = np.arange(BLOCK)
    ys = by[:, None, None] * BLOCK + step[None, :, None]
    xs = bx[:, None, None] * BLOCK + step[None, None, :]
    shape = (by.size, BLOCK, BLOCK)
    return np.broadcast_to(ys, shape), np.broadcast_to(xs, shape)


def _box_means(img: np.ndarray, by: np.ndarray, bx: np.ndarray) -> np.ndarray:
    """(n, BLOCK, BLOCK): the mean of ``img`` over (2 BOX + 1)^2 pixels around each pixel of
    blocks (by, bx), edges replicated: each block's tile with its margin gathered once, then
    summed along rows and columns (25 gathers per pixel took 0.5 s at 4096^2)."""
    h, w = img.shape
    side = np.arange(BLOCK + 2 * BOX) - BOX
    ty = np.clip(by[:, None] * BLOCK + side, 0, h - 1)
    tx = np.clip(bx[:, None] * BLOCK + side, 0, w - 1)
    tile = img[ty[:, :, None], tx[:, None, :]]
    rows = sum(tile[:, i : i + BLOCK] for i in range(2 * BOX + 1))
    return sum(rows[:, :, j : j + BLOCK] for j in range(2 * BOX + 1)) / (2 * BOX + 1) ** 2


def _neighbour_class(
    current: np.ndarray, mine: np.ndarray, whole: np.ndarray, by: np.ndarray, bx: np.ndarray
) -> np.ndarray:
    """(n, BLOCK, BLOCK): for the pixels of blocks (by, bx), the class of the block's own
    ``mine`` pixels (their largest id), else that of its 8 neighbours that hold such pixels
    (``whole``: (hb, wb) the class of the blocks wholly of it, -1 elsewhere; the blocks
    (by, bx) add their own), the largest id, else -1."""
    own = np.where(mine, current, -1).max((1, 2))
    whole = whole.copy()
    whole[by, bx] = np.maximum(whole[by, bx], own)
    hb, wb = whole.shape
    around = np.full(by.shape, -1, whole.dtype)
    for dy in (-1, 0, 1):
        yy = np.clip(by + dy, 0, hb - 1)
        for dx in (-1, 0, 1):
            np.maximum(around, whole[yy, np.clip(bx + dx, 0, wb - 1)], out=around)
    cls = np.where(own >= 0, own, around)
    return np.broadcast_to(cls[:, None, None], current.shape)
