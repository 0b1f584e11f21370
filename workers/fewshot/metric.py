"""Per-task metric: distances measured against the support chips' within-class scatter.

Prototypes compare chips by squared Euclidean distance, which treats every direction of the
embedding alike. The support chips of one class say which directions vary *within* a class on
this task: where in a chip a particle's edge falls, how one patch of a texture differs from
the next. Those directions separate nothing and should count less. The pooled within-class
covariance S of the support chips estimates them, but from a few chips (rank r <= N - K for N
chips of K classes, in D = 227 dimensions) it is noise except for its leading directions, so
it is shrunk towards isotropy:

    C = S + a * (trace(S) / D) * I,      distances measured after x -> x C^(-1/2)

``a`` (``METRIC_SHRINKAGE``) is the one setting: a large ``a`` is the Euclidean metric
scaled, a small one whitens by the few support chips. It does not depend on the embedding's
scale (S and its trace scale together). C^(-1/2) is the identity (times a scale) but on the r
directions S spans, so it is applied as a rank-r update, x + ((x V) * g) V^T, which costs a
query grid 2 r / D of a full (D, D) product. It is symmetric, so a group the per-task
weighting switched off (all zeros) stays zero, and it is rescaled so that the support chips'
mean squared distance is what it was (as ``weighting`` does): the encoder's trained
temperature keeps its meaning. A support set without within-class scatter (one chip per
class) gets None: the metric stays Euclidean. The pipeline re-scales its per-chip calibration
by how much separation the metric kept (``WithinClassMetric.separation_kept``).

    m = within_class_metric({0: (n0, D), 1: (n1, D)})   # WithinClassMetric or None
    support and query embeddings are both mapped by m: m(x (N, D)) -> (N, D)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "CALIBRATION_EXPONENT",
    "METRIC_SHRINKAGE",
    "WithinClassMetric",
    "within_class_metric",
]

#: isotropic share a of the shrunk covariance S + a * mean variance * I (chosen on the seen
#: cases at k = 3 and 5, where 5..20 scored alike; see CONTRACT.md)
METRIC_SHRINKAGE = 10.0

#: with the metric, the per-chip calibration's temperature scale is multiplied by
#: ``separation_kept() ** CALIBRATION_EXPONENT``: the metric softens probabilities made from
#: distances relative to a query's own spread. Chosen on the seen cases' calibration as the
#: value that keeps the fraction intervals' coverage at k = 3 and 5 (see CONTRACT.md).
CALIBRATION_EXPONENT = 0.25


@dataclass(frozen=True)
class WithinClassMetric:
    """x -> scale * (x + ((x @ basis) * gains) @ basis.T): basis (D, r) orthonormal, the
    directions of within-class scatter; gains (r,) in (-1, 0], how much each is shrunk."""

    scale: float
    basis: torch.Tensor
    gains: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) float32 -> (N, D) float32 (a new tensor)."""
        low = (x @ self.basis).mul_(self.gains) @ self.basis.T
        return low.add_(x).mul_(self.scale)

    def separation_kept(self, centres: torch.Tensor) -> float:
        """Mean over class pairs of the squared distance between prototypes (K, D), taken
        before the metric, after it relative to the scaled isotropic part alone (scale^2 times
        before): in (0, 1], how much the metric shrank the classes' separation compared with
        the spread of a query around its own prototype, which lies mostly outside the few
        directions the support chips span. Probabilities made from distances relative to that
        spread (``uncertainty.calibrated_probs``) soften by about this factor."""
        ratios = []
        for i in range(len(centres)):
            for j in range(i + 1, len(centres)):
                d = (centres[i] - centres[j]).double()
                before = float(d @ d)
                if before > 0:
                    after = float(self(d[None].float()).double().square().sum())
                    ratios.append(after / (self.scale**2 * before))
        return float(np.clip(np.mean(ratios), 1e-6, 1.0)) if ratios else 1.0


def within_class_metric(
    support_emb: Mapping[int, np.ndarray], *, shrinkage: float = METRIC_SHRINKAGE
) -> WithinClassMetric | None:
    """The metric of one support set {class: (n_k, D)}: S pools the deviations from their
    class mean of the classes with >= 2 chips; None when there are none or they do not vary."""
    if shrinkage <= 0:
        raise ValueError(f"shrinkage must be > 0, got {shrinkage}")
    x = [np.asarray(v, np.float64) for v in support_emb.values()]
    deviations = [v - v.mean(0) for v in x if len(v) >= 2]
    if not deviations:
        return None
    r = np.concatenate(deviations)
    _, sv, vt = np.linalg.svd(r, full_matrices=False)
    keep = sv > sv[0] * 1e-6 if sv.size and sv[0] > 0 else np.zeros(sv.shape, bool)
    if not keep.any():
        return None
    variances = sv[keep] ** 2 / len(r)  # the non-zero eigenvalues of S
    floor = shrinkage * variances.sum() / r.shape[1]
    gains = np.sqrt(floor / (variances + floor)) - 1.0
    basis = vt[keep].T
    pooled = np.concatenate(x)
    mapped = pooled + ((pooled @ basis) * gains) @ basis.T
    before, after = pooled.var(axis=0).sum(), mapped.var(axis=0).sum()
    scale = float(np.sqrt(before / after)) if before > 0 and after > 0 else 1.0
    return WithinClassMetric(
        scale,
        torch.as_tensor(basis, dtype=torch.float32),
        torch.as_tensor(gains, dtype=torch.float32),
    )
