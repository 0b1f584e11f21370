"""Scores on the reduced grid to labels and confidence at full resolution (bilinear, as
``F.interpolate``), and the outline field of flagged spots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

#: a margin (best minus second best score) above which the confidence sigmoid(margin) is 1 in
#: float32 (1 + e^-m rounds to 1 above m = 16.6), with room for rounding: four neighbouring
#: samples that all give one class at least this margin give it every pixel between them,
#: with confidence 1 (the margin of a bilinear mix is at least the smallest of the four)
SURE_MARGIN = 18.0


def _source(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear upsampling from n_in to n_out samples as torch's ``F.interpolate`` does it
    (align_corners=False, edges clamped): each output's lower input index (n_out,) int64 and
    the weight of the upper one (n_out,) float32 (float32 arithmetic, as torch's)."""
    scale = np.float32(n_in) / np.float32(n_out)
    real = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    real = np.maximum(real, np.float32(0))
    lower = np.minimum(real.astype(np.int64), n_in - 1)
    return lower, np.clip(real - lower.astype(np.float32), 0, 1).astype(np.float32)


def _best_two(v: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Best class column (int16) and margin over the second best, from the score differences
    ``v[j - 1] = score[j] - score[0]`` (any equal shapes; ties go to the lower column)."""
    best = np.maximum(v[0], 0)
    second = np.minimum(v[0], 0)
    label = (v[0] > 0).astype(np.int16)
    for j in range(1, len(v)):
        better = v[j] > best
        label[better] = j + 1
        second = np.maximum(second, np.minimum(best, v[j]))
        best = np.maximum(best, v[j])
    return label, best - second


def _spot_confidence(f: np.ndarray) -> np.ndarray:
    """The confidence cap of a spot field (``spot_field``) value: 1 / 2 inside a spot, 3 / 4
    on its contour, 1 far away."""
    return torch.sigmoid_(torch.from_numpy(f * np.float32(16))).mul_(-0.5).add_(1).numpy()


def _decide(values: list[np.ndarray], spots: bool) -> tuple[np.ndarray, np.ndarray]:
    """Label and confidence of upsampled pixels: ``values`` the score differences to class 0
    (K - 1 planes), then the spot field where ``spots``."""
    n = len(values) - int(spots)
    if n == 1:  # two classes: the margin is |v| (``_best_two``'s numbers, in fewer passes)
        label, margin = (values[0] > 0).astype(np.int16), np.abs(values[0])
    else:
        label, margin = _best_two(values[:n])
    conf = torch.sigmoid_(torch.from_numpy(margin)).numpy()
    if spots:
        np.minimum(conf, _spot_confidence(values[-1]), out=conf)
    return label, conf


def full_resolution(
    score: np.ndarray, spots: np.ndarray | None, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (class columns, int16) and confidence (float32) at ``shape`` (Hc, Wc) from the
    scores on the sample grid (K, h, w), bilinearly upsampled as ``F.interpolate`` would
    (align_corners=False): the label is the best class, the confidence the logistic of the
    margin between the best two; ``spots`` (h, w) (``spot_field``) caps it.

    The upsampled values between four neighbouring samples (a block) are their bilinear mix,
    so where all four give one class a margin >= SURE_MARGIN (and no spot), every pixel of the
    block has that class with confidence 1: those blocks are filled, and only the others
    (boundaries, uncertain areas, spots) are interpolated pixel by pixel, block by block, or
    whole rows of pixels where most blocks of a row need it (:func:`_dense_rows`: most rows
    of a map whose chip probabilities are not near certain). A 4096^2 map was K full-size
    upsampled score planes before (3 classes: 1 s of 1.1 s); the pixels computed both ways
    are the same numbers.
    """
    K, h, w = score.shape
    Hc, Wc = shape
    v = [score[j] - score[0] for j in range(1, K)]  # one plane for two classes
    label, margin = _best_two(v)
    ys, ly = _source(h, Hc)
    xs, lx = _source(w, Wc)
    ny, nx = np.bincount(ys, minlength=h), np.bincount(xs, minlength=w)  # pixels per block
    y0, x0 = np.cumsum(ny) - ny, np.cumsum(nx) - nx  # first pixel of each block
    y1, x1 = np.minimum(np.arange(h) + 1, h - 1), np.minimum(np.arange(w) + 1, w - 1)

    def corners(a: np.ndarray) -> tuple[np.ndarray, ...]:
        below = a[y1]
        return a, a[:, x1], below, below[:, x1]

    c = corners(label)
    sure = (c[0] == c[1]) & (c[0] == c[2]) & (c[0] == c[3])
    sure &= np.minimum.reduce(corners(margin)) >= SURE_MARGIN
    if spots is not None:
        sure &= np.maximum.reduce(corners(spots)) <= -1
    far = _spot_confidence(np.full(1, -1, np.float32))[0] if spots is not None else 1.0
    # rows of blocks mostly to interpolate: whole rows of pixels; the others filled with
    # their blocks' labels and confidence 1, then their unsure blocks interpolated
    dense = (~sure).mean(1) > 0.25
    full = np.empty((Hc, Wc), np.int16)
    # one pass each: a block row's pixel rows all get its labels repeated along x (a boolean
    # row mask and an (Hc, Wc) temporary took ~70 ms of a 4096^2 re-run)
    conf = np.full((Hc, Wc), far, np.float32)
    for i in np.flatnonzero(~dense):
        full[y0[i] : y0[i] + ny[i]] = np.repeat(label[i], nx)
    rows = _Rows(ly, ny, y0, y1)
    if dense.any():
        _dense_rows(v, spots, np.flatnonzero(dense), rows, (xs, lx, x1), full, conf, far)
        sure[dense] = True
    planes = v if spots is None else [*v, spots]
    _blocks(
        planes, spots is not None, np.flatnonzero(~sure.ravel()), rows, (nx, x0, x1, lx), full, conf
    )
    return full, conf


@dataclass(frozen=True)
class _Rows:
    """Rows of blocks: each pixel row's weight of the lower sample row below it (``ly``), and
    per block row its pixel rows (``ny``), first pixel row (``y0``) and lower sample row
    (``y1``)."""

    ly: np.ndarray
    ny: np.ndarray
    y0: np.ndarray
    y1: np.ndarray


def _dense_rows(v, spots, dense, rows: _Rows, cols, full, conf, far) -> None:
    """Interpolate the block rows ``dense`` into ``full`` and ``conf`` pixel by pixel: along x
    once for all rows, then a block row at a time. The spot field is interpolated only where
    one of a block row's two sample rows has a spot: elsewhere it is -1 everywhere, and so
    is its bilinear mix, whose cap is ``far``."""
    xs, wx1, x1 = cols
    wx0 = np.float32(1) - wx1
    # take(axis=1), not a[:, xs]: fancy indexing gives column-major rows (16x slower reads)
    along_x = [a.take(xs, axis=1) * wx0 + a.take(x1[xs], axis=1) * wx1 for a in v]  # (h, Wc)
    spotted = np.zeros(len(rows.ny), bool)
    if spots is not None:
        spotted = np.maximum(spots, spots[rows.y1]).max(1) > -1
        if spotted.any():
            along_x.append(spots.take(xs, axis=1) * wx0 + spots.take(x1[xs], axis=1) * wx1)
    for i in dense:
        yy = slice(rows.y0[i], rows.y0[i] + rows.ny[i])
        wy1 = rows.ly[yy][:, None]
        wy0 = np.float32(1) - wy1
        planes = along_x if spotted[i] else along_x[: len(v)]
        values = [a[i] * wy0 + a[rows.y1[i]] * wy1 for a in planes]
        full[yy], conf[yy] = _decide(values, bool(spotted[i]))
        if spots is not None and not spotted[i]:
            np.minimum(conf[yy], far, out=conf[yy])


def _blocks(planes, spots: bool, todo, rows: _Rows, cols, full, conf) -> None:
    """Interpolate the blocks ``todo`` (flat block indices) into ``full`` and ``conf``, in
    batches of about a million pixels; ``planes``: the score differences, then the spot
    field where ``spots``."""
    nx, x0, x1, lx = cols
    w = len(nx)
    py, px = int(rows.ny.max()), int(nx.max())
    step = max(1, (1 << 20) // (py * px))  # blocks per batch: ~1 M pixels per plane
    for start in range(0, len(todo), step):
        bi, bj = np.divmod(todo[start : start + step], w)
        # each block's pixels, padded to the largest block by repeating its last one
        yy = np.minimum(rows.y0[bi, None] + np.arange(py), (rows.y0 + rows.ny - 1)[bi, None])
        xx = np.minimum(x0[bj, None] + np.arange(px), (x0 + nx - 1)[bj, None])
        wy1, wx1 = rows.ly[yy][:, :, None], lx[xx][:, None, :]
        wy0, wx0 = np.float32(1) - wy1, np.float32(1) - wx1
        y1 = rows.y1
        values = []
        for a in planes:  # torch's order: along x, then along y
            top = a[bi, bj][:, None, None] * wx0 + a[bi, x1[bj]][:, None, None] * wx1
            bottom = a[y1[bi], bj][:, None, None] * wx0 + a[y1[bi], x1[bj]][:, None, None] * wx1
            values.append(top * wy0 + bottom * wy1)
        r, c = yy[:, :, None], xx[:, None, :]
        full[r, c], conf[r, c] = _decide(values, spots)


def spot_field(z: np.ndarray, seed: float, extent: float, snr: float = 0.0) -> np.ndarray | None:
    """Where the flagged spots lie, as a field whose 0 level is their contour: (h, w) float32,
    > 0 inside a spot, or None where no sample exceeds ``seed``.

    z: :func:`blob_excess` per sample (h, w). A spot is a connected set of samples above
    ``extent * seed`` that holds one above ``seed`` (hysteresis: it takes the whole spot, not
    only its peak), holes filled. The field is z / (extent * seed) - 1 (at least 1 / 4 on a
    spot) on the spots and their 4-neighbours and -1 elsewhere, so that its bilinear
    upsampling traces each spot's own outline (a flag on whole samples, dilated, showed a
    blocky square of 3 x 3 samples). With ``snr``, a spot is kept only when its summed excess
    over the square root of its samples reaches ``snr`` (a lone noise spike does not).
    """
    seeds = z > seed
    if not seeds.any():
        return None
    low = extent * seed
    # the whole spot, holes filled (the contrast of a wide disc dips at its centre)
    spots = ndimage.binary_fill_holes(ndimage.binary_propagation(seeds, mask=z > low))
    if snr > 0:
        lab, n = ndimage.label(spots)
        mass = ndimage.sum_labels(np.maximum(z, 0), lab, np.arange(1, n + 1))
        size = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        keep = np.concatenate([[False], mass / np.sqrt(np.maximum(size, 1)) >= snr])
        spots = keep[lab]
        if not spots.any():
            return None
    field = np.maximum(z / low - 1, -1)
    field = np.where(spots, np.maximum(field, 0.25), field)
    return np.where(ndimage.binary_dilation(spots), field, -1).astype(np.float32)
