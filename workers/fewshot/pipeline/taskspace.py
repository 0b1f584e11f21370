"""The task's embedding space, chosen from the support chips alone: per-task weights of the
encoder's feature groups (``workers.fewshot.weighting``), then the within-class metric
(``workers.fewshot.metric``). Support and query embeddings go through the same map."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from workers.fewshot.classifier import fit_prototypes
from workers.fewshot.metric import CALIBRATION_EXPONENT, WithinClassMetric, within_class_metric
from workers.fewshot.pipeline.options import SegmentOptions
from workers.fewshot.spectral_peaks import PEAK_GROUP
from workers.fewshot.weighting import group_weights

__all__ = ["TaskSpace", "fit_task_space"]


@dataclass(frozen=True)
class TaskSpace:
    """x -> metric(x * weights); either step None = skipped. ``calibration_factor`` multiplies
    the per-chip calibration's scale: the metric softens probabilities (``metric.py``)."""

    weights: torch.Tensor | None = None
    metric: WithinClassMetric | None = None
    calibration_factor: float = 1.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) float32 -> (N, D) float32."""
        if self.weights is not None:
            x = x * self.weights
        if self.metric is not None:
            x = self.metric(x)
        return x


def fit_task_space(
    support: dict[int, torch.Tensor],
    options: SegmentOptions,
    groups: Sequence[tuple[str, slice]] | None,
) -> tuple[TaskSpace, dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """The space of one support set {class id: (n_k, D)} -> (space, the support in it, the
    support weighted but before the metric: what the support check reads, since a metric fitted
    with a wrongly clicked chip reads that chip as spread within its class and hides it)."""
    weights = None
    if options.weighting is not None and groups:
        w = group_weights(
            {k: v.numpy() for k, v in support.items()},
            groups,
            method=options.weighting,
            optional=(PEAK_GROUP,),
        )
        if np.any(w != 1):
            weights = torch.as_tensor(w, dtype=torch.float32)
            support = {k: v * weights for k, v in support.items()}
    checked = support
    metric, factor = None, 1.0
    if options.metric is not None:
        plain = {k: v.numpy() for k, v in support.items()}
        metric = within_class_metric(plain, shrinkage=options.metric)
        if metric is not None:
            support = {k: metric(v) for k, v in support.items()}
            kept = metric.separation_kept(fit_prototypes(checked).centres)
            factor = kept**CALIBRATION_EXPONENT
    return TaskSpace(weights, metric, factor), support, checked
