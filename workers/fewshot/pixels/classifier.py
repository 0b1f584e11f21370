"""The per-image pixel classifier: training chips, a Gaussian model with one shrunk
covariance (blended with a diagonal one), the faint-spot contrast test and the background's
own noise test."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage


def interior(labels: np.ndarray) -> np.ndarray:
    """Chips whose 8 neighbours (edge-replicated) share their label."""
    R, C = labels.shape
    p = np.pad(labels, 1, mode="edge")
    same = np.ones((R, C), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= p[1 + dy : 1 + dy + R, 1 + dx : 1 + dx + C] == labels
    return same


def lda(x: np.ndarray, y: np.ndarray, k: int, shrinkage: float):
    """Class means (K, F) and two whitenings (F, F) of a covariance shared by the classes, the
    mean of the class covariances (a class counts alike however many pixels it has): shrunk
    towards its diagonal, and its diagonal alone (``blend`` mixes the two models). Classes
    without samples get NaN means."""
    means = np.full((k, x.shape[1]), np.nan)
    covs = []
    for j in range(k):
        xj = x[y == j]
        if len(xj):
            means[j] = xj.mean(0)
            r = torch.from_numpy(xj - means[j])
            # torch's product, not numpy's: OpenBLAS's own threads would spin next to torch's
            covs.append((r.T @ r).numpy() / max(1, len(r) - 1))
    cov = np.mean(covs, axis=0)
    variances = np.diag(cov)
    cov = (1 - shrinkage) * cov + shrinkage * np.diag(variances) + 1e-6 * np.eye(len(cov))
    white = np.linalg.inv(np.linalg.cholesky(cov)).T  # x @ white: unit covariance
    return means, white, np.diag(1.0 / np.sqrt(variances + 1e-6))


def blend(white: np.ndarray, white_diagonal: np.ndarray, weight: float) -> np.ndarray:
    """The whitening of ``(1 - weight) * full + weight * diagonal`` log likelihoods (the two
    models share their class means): one quadratic form, evaluated once per sample."""
    precision = (1 - weight) * white @ white.T + weight * white_diagonal @ white_diagonal.T
    return np.linalg.cholesky(precision)  # x @ L: |.|^2 = x P x^T


def log_lik(x: np.ndarray, means: np.ndarray, white: np.ndarray) -> np.ndarray:
    """-0.5 squared Mahalanobis distance of every sample (the columns of x (F, N) float32) to
    every class mean: (K, N) float32; -inf for classes without a mean."""
    ok = np.isfinite(means[:, 0])
    # torch's matrix products: numpy's would wake OpenBLAS's own threads next to torch's
    z = torch.from_numpy(np.ascontiguousarray(white.T, np.float32)) @ torch.from_numpy(x)
    mz = (np.where(ok[:, None], means, 0) @ white).astype(np.float32)  # (K, F)
    out = torch.from_numpy(mz) @ z  # (K, N)
    out.mul_(-2).add_(torch.einsum("fn,fn->n", z, z)).add_(
        torch.from_numpy((mz * mz).sum(1))[:, None]
    )
    out = out.clamp_(min=0).mul_(-0.5).numpy()
    out[~ok] = -np.inf
    return out


def blob_excess(x: np.ndarray, best: np.ndarray, means: np.ndarray) -> np.ndarray:
    """How far each sample's local contrast stands out of its class's, towards another
    class's brightness: (N,), in robust standard deviations of the class's own contrast.

    x: standardised features (F, N) (``PixelFeatures.matrix``); best: each sample's class
    column; means: the classes' feature means (K, F) (NaN rows: no training samples). Contrast
    is the fine minus the coarse intensity (a difference of Gaussians: a compact spot); its
    spread per class is the larger of the MAD (Gaussian-scaled) and a third of the 99th
    percentile of deviations in that direction, so a class with heavy-tailed contrast (atomic
    columns) flags at most about 1 % of its samples. The sign is that of the other class's
    mean intensity minus this class's: a faint particle on the support is a bright spot where
    particles are brighter.
    """
    dog = x[0] - x[2]
    out = np.full(len(dog), -np.inf)
    for j in range(len(means)):
        sel = best == j
        if sel.sum() < 50 or not np.isfinite(means[j, 0]):
            continue
        dev = dog[sel] - np.median(dog[sel])
        mad = 1.4826 * np.median(np.abs(dev))
        for sign in {np.sign(m[0] - means[j, 0]) for m in means if np.isfinite(m[0])} - {0}:
            tail = np.quantile(sign * dev, 0.99) / 3
            out[sel] = np.maximum(out[sel], sign * dev / (max(mad, tail) + 1e-6))
    return out


def background_outliers(
    intensity: np.ndarray,
    ytrain: np.ndarray,
    best: np.ndarray,
    shape: tuple[int, int],
    z: tuple[float, float] = (3.0, 6.0),
    peak_share: float = 0.15,
) -> tuple[int, np.ndarray] | None:
    """Spots of the background class that its own noise does not explain, towards another
    class's brightness: (background column, component labels (h, w), 0 = none), or None
    where no class is the background (over half the samples) or intensity does not part it
    from the other classes.

    intensity: each sample's fine intensity (N,) (standardised); ytrain: training columns
    (N,) (-1 = none); best: each sample's class column (N,). The background's spread is
    robust to unresolved particles among its training samples: the larger of the
    Gaussian-scaled MAD and its 99th percentile deviation away from the other class over
    2.33. A class counts where its median lies over ``2 z[1]`` spreads from the
    background's (then a sample at ``z[1]`` is well short of the midpoint, where the
    Gaussian classifier parts them). Hysteresis: 8-connected samples at ``z[0]`` spreads or
    more that reach ``z[1]`` somewhere, down to ``peak_share`` of their peak (a very bright
    particle's blurred rim stays with the classifier).
    """
    K = int(max(best.max(), ytrain.max())) + 1
    counts = np.bincount(best, minlength=K)
    bg = int(counts.argmax())
    mine = intensity[ytrain == bg]
    if counts[bg] * 2 < len(best) or len(mine) < 50:
        return None
    med = float(np.median(mine))
    dev = mine - med
    mad = 1.4826 * float(np.median(np.abs(dev)))
    zs = np.full(len(intensity), -np.inf, np.float32)
    for j in range(K):
        other = intensity[ytrain == j]
        if j == bg or len(other) < 50:
            continue
        gap = float(np.median(other)) - med
        sign = 1.0 if gap > 0 else -1.0
        scale = max(mad, float(np.quantile(-sign * dev, 0.99)) / 2.326) + 1e-6
        if abs(gap) > 2 * z[1] * scale:
            zs = np.maximum(zs, sign * (intensity - med) / scale)
    zs = zs.reshape(shape)
    lab, n = ndimage.label(zs >= z[0], structure=np.ones((3, 3), bool))
    if not n:
        return None
    peak = np.zeros(n + 1, np.float32)
    np.maximum.at(peak, lab.ravel(), zs.ravel())
    peak[0] = np.inf
    keep = (peak[lab] >= z[1]) & (zs >= peak_share * peak[lab]) & (best.reshape(shape) == bg)
    lab = np.where(keep, lab, 0)
    return (bg, lab) if lab.any() else None
