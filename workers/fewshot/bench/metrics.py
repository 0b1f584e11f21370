"""Chip-level metrics: confusion matrix, accuracy and mean intersection-over-union."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion", "mean_iou", "per_class_iou"]


def confusion(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion counts (K, K) int64: entry [t, p] counts chips of true class t predicted p."""
    t = np.asarray(truth, np.int64).ravel()
    p = np.asarray(pred, np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"truth and prediction differ in size: {t.shape} vs {p.shape}")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    return np.bincount(t * n_classes + p, minlength=n_classes**2).reshape(n_classes, n_classes)


def accuracy(cm: np.ndarray) -> float:
    """Fraction of chips on the diagonal of a confusion matrix (nan when empty)."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def per_class_iou(cm: np.ndarray) -> np.ndarray:
    """IoU per class, (K,) float64: TP / (TP + FP + FN); nan for classes absent from both."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(cm: np.ndarray) -> float:
    """Mean IoU over the classes present in the truth or the prediction."""
    iou = per_class_iou(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
