"""Scores of a pixel map against the pixel truth (``bench.pixels``): mIoU, boundary error
(and its placement / gross parts), calibration, missed objects shown as uncertain.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from workers.fewshot.bench.metrics import confusion, mean_iou

UNSURE = 0.75  # confidence below which the UI calls a pixel uncertain (analysis.maps)


def pixel_miou(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """mIoU over pixels where truth >= 0 and pred >= 0."""
    ok = (truth >= 0) & (pred >= 0)
    return mean_iou(confusion(truth[ok], pred[ok], n_classes))


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label."""
    e = np.zeros(labels.shape, bool)
    e[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    e[:-1, :] |= labels[1:, :] != labels[:-1, :]
    return e


def boundary_error(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean symmetric distance (px) between the class boundaries of two label maps of the same
    region (nan when either has none)."""
    et, ep = _edges(truth), _edges(pred)
    if not et.any() or not ep.any():
        return float("nan")
    dt = ndimage.distance_transform_edt(~et)
    dp = ndimage.distance_transform_edt(~ep)
    return float((dt[ep].sum() + dp[et].sum()) / (ep.sum() + et.sum()))


def boundary_parts(truth: np.ndarray, pred: np.ndarray, near: float) -> dict[str, float]:
    """:func:`boundary_error` split in two additive parts: edge pixels (of either map) within
    ``near`` px of the other map's boundary ("placement": a boundary drawn in the right place
    give or take) and farther ones ("gross": a missed or spurious boundary, a mislabelled
    domain); ``placement + gross == mean``. Also: the mean distance of the near edge pixels
    alone ("near_mean"), the share of edge pixels that are far ("far_share"), the 95th
    percentile of all distances ("p95", px) and the share of scored pixels in wrongly labelled
    8-connected blobs of at least a chip's area (``near`` = half a chip: (2 near)^2 px),
    "domains". NaN where either map has no boundary."""
    et, ep = _edges(truth), _edges(pred)
    nan = float("nan")
    if not et.any() or not ep.any():
        keys = ("mean", "placement", "gross", "near_mean", "far_share", "p95", "domains")
        return dict.fromkeys(keys, nan)
    d = np.concatenate(
        [
            ndimage.distance_transform_edt(~et)[ep],
            ndimage.distance_transform_edt(~ep)[et],
        ]
    )
    close = d <= near
    wrong = (truth != pred) & (truth >= 0) & (pred >= 0)
    comp, _ = ndimage.label(wrong, np.ones((3, 3)))
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    big = sizes >= (2 * near) ** 2
    return {
        "mean": float(d.mean()),
        "placement": float(d[close].sum() / d.size),
        "gross": float(d[~close].sum() / d.size),
        "near_mean": float(d[close].mean()) if close.any() else nan,
        "far_share": float((~close).mean()),
        "p95": float(np.percentile(d, 95)),
        "domains": float(big[comp].sum() / max(1, ((truth >= 0) & (pred >= 0)).sum())),
    }


def calibration(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of confidences against correctness (equal-width bins)."""
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    n = np.bincount(idx, minlength=bins)
    c = np.bincount(idx, weights=conf, minlength=bins)
    a = np.bincount(idx, weights=correct.astype(float), minlength=bins)
    return float(np.abs(c - a).sum() / max(1, n.sum()))


def missed_objects(
    truth: np.ndarray, labels: np.ndarray, confidence: np.ndarray, *, min_px: int = 16
) -> tuple[int, int, int]:
    """(objects, missed, missed shown as uncertain) over the truth objects of ``truth`` (dense
    classes, -1 ignored): 8-connected components of every class but the largest."""
    valid = truth[truth >= 0]
    if valid.size == 0:
        return 0, 0, 0
    background = int(np.bincount(valid).argmax())
    n = missed = flagged = 0
    for k in np.unique(valid):
        if k == background:
            continue
        comp, _ = ndimage.label(truth == k, np.ones((3, 3)))
        for obj in ndimage.find_objects(comp):
            idx = comp[obj] > 0  # the bounding box may hold other objects: take the largest
            ids, counts = np.unique(comp[obj][idx], return_counts=True)
            this = comp[obj] == ids[counts.argmax()]
            if this.sum() < min_px:
                continue
            n += 1
            if (labels[obj][this] == k).mean() < 0.5:
                missed += 1
                flagged += int(np.median(confidence[obj][this]) < UNSURE)
    return n, missed, flagged


def extra_objects(truth: np.ndarray, labels: np.ndarray, *, min_px: int = 16) -> int:
    """Objects the map shows that are not there: 8-connected components (>= ``min_px``) of each
    class but the truth's largest in ``labels`` of which less than half is that class in
    ``truth`` (dense classes, -1 ignored): the false finds that ``missed_objects`` mirrors."""
    valid = truth[truth >= 0]
    if valid.size == 0:
        return 0
    background = int(np.bincount(valid).argmax())
    extra = 0
    for k in np.unique(labels[labels >= 0]):
        if k == background:
            continue
        comp, n = ndimage.label(labels == k, np.ones((3, 3)))
        if not n:
            continue
        ids = comp.ravel()
        size = np.bincount(ids, minlength=n + 1)[1:]
        right = np.bincount(ids, weights=(truth == k).ravel(), minlength=n + 1)[1:]
        scored = np.bincount(ids, weights=(truth >= 0).ravel(), minlength=n + 1)[1:]
        keep = (size >= min_px) & (scored > 0)
        extra += int((keep & (right < 0.5 * scored)).sum())
    return extra


def false_alarms(
    truth: np.ndarray, labels: np.ndarray, confidence: np.ndarray, *, margin: int = 2
) -> int:
    """Spots shown as uncertain where there is nothing: 8-connected components of pixels below
    ``UNSURE`` confidence that the map and the truth (dense classes, -1 ignored) both give the
    largest class, more than ``margin`` px from any other truth class (not the rim of a real
    object)."""
    valid = truth[truth >= 0]
    if valid.size == 0:
        return 0
    background = int(np.bincount(valid).argmax())
    near = ndimage.binary_dilation((truth >= 0) & (truth != background), iterations=margin)
    spots = (confidence < UNSURE) & (labels == background) & (truth == background) & ~near
    comp, n = ndimage.label(spots, np.ones((3, 3)))
    if not n:
        return 0
    # a spot counts when none of it touches pixels shown uncertain for another reason
    other = ndimage.binary_dilation((confidence < UNSURE) & ~spots)
    touched = np.bincount(comp[other & (comp > 0)], minlength=n + 1)[1:]
    return int((touched == 0).sum())
