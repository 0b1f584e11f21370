"""The task's embedding space, chosen from the support chips alone: per-task weights of the
encoder's feature groups (``workers.fewshot.weighting``), then the within-class metric
(``workers.fewshot.metric``), and where no class is an object the texture view beside it.
Support and query embeddings go through the same map.

The texture view: the chip's local binary pattern histograms (the default encoder's
``chip_texture`` group: no brightness or contrast change alters them) with a within-class
metric of their own, appended to the task space, so that squared distances are the mean of
the main space's and the texture view's. Within the whole embedding those 30 of 227 numbers
weigh little; on their own they are what tells a grain, phase or texture from another when
its brightness and contrast vary from region to region (thickness, tilt, gain). Objects
(particles on a support) differ by their material, i.e. by intensity, which the view cannot
see, so it stays off when a class is marked as objects. Chosen on the selection set (k = 3:
textures 0.757 -> 0.794, lattices 0.943 -> 0.952; particles, were the view on there, 0.743 ->
0.719; docs/benchmarks.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from workers.fewshot.classifier import fit_prototypes
from workers.fewshot.metric import CALIBRATION_EXPONENT, WithinClassMetric, within_class_metric
from workers.fewshot.pipeline.options import SegmentOptions
from workers.fewshot.spectral_peaks import PEAK_GROUP
from workers.fewshot.weighting import group_weights, rescaled

__all__ = ["TEXTURE_GROUP", "VIEW_CALIBRATION", "TaskSpace", "fit_task_space"]

#: the encoder group the texture view reads (``DefaultEncoder.groups``)
TEXTURE_GROUP = "chip_texture"

#: with the texture view, the per-chip calibration's scale is multiplied by this: squared
#: distances averaged over two spaces, one of which separates the classes less, bring a
#: chip's distances to the prototypes closer together relative to its own, and probabilities
#: made from them soften. Chosen on the selection set's calibration at k = 3 / 5 (ECE 0.032 /
#: 0.038 with 1, 0.021 / 0.028 with 0.75, 0.017 / 0.022 with 0.6; 0.011 / 0.021 without the
#: view; interval coverage 0.956 / 0.979 with 0.6)
VIEW_CALIBRATION = 0.6


@dataclass(frozen=True)
class TaskSpace:
    """x -> metric(x[:, columns] * weights); a step None = skipped. ``calibration_factor``
    multiplies the per-chip calibration's scale: the metric softens probabilities
    (``metric.py``). ``view``: the texture view (a space of its own over the texture group's
    columns, whose output is appended, the two scaled by 1 / sqrt 2) or None."""

    weights: torch.Tensor | None = None
    metric: WithinClassMetric | None = None
    calibration_factor: float = 1.0
    view: TaskSpace | None = None
    columns: slice | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) float32 -> (N, D) float32, or (N, D + texture group) with the view."""
        main = self._mapped(x)
        if self.view is None:
            return main
        return torch.cat([main, self.view(x)], dim=1).mul_(math.sqrt(0.5))

    def _mapped(self, x: torch.Tensor) -> torch.Tensor:
        if self.columns is not None:
            x = x[:, self.columns]
        if self.weights is not None:
            x = x * self.weights
        if self.metric is not None:
            x = self.metric(x)
        return x


# numpy's products on one BLAS thread: with the shifted copies the metrics' matrices grow past
# OpenBLAS's threading threshold, and its spinning threads slowed the steps after the fit
# (1024², 32 px chips: embedding and pixel vote CPU 0.10 -> 0.16 / 0.18 s)
@threadpool_limits.wrap(limits=1, user_api="blas")
def fit_task_space(
    support: dict[int, torch.Tensor],
    options: SegmentOptions,
    groups: Sequence[tuple[str, slice]] | None,
    copies: dict[int, np.ndarray] | None = None,
) -> tuple[TaskSpace, dict[int, torch.Tensor], dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """The space of one support set {class id: (n_k, D)} -> (space, the support in it, the
    support weighted but before the metric: what the support check reads, since a metric fitted
    with a wrongly clicked chip reads that chip as spread within its class and hides it, and
    the chips the prototypes are fitted to, in the space).

    ``copies`` {class id: (n, D)}: more chips of the classes (``pipeline.shifted``), to which
    the metrics and the prototypes are fitted too; not the group weights, chosen leave-one-out
    on the support chips (a held-out chip's copies would vote for it)."""
    more = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in (copies or {}).items()}
    pooled = {k: torch.cat([v, more[k]]) if k in more else v for k, v in support.items()}
    weights = None
    if options.task_weighting is not None and groups:
        w = group_weights(
            {k: v.numpy() for k, v in support.items()},
            groups,
            method=options.task_weighting,
            optional=(PEAK_GROUP,),
        )
        if np.any(w != 1):
            weights = torch.as_tensor(w, dtype=torch.float32)
    scaled = {k: v * weights for k, v in pooled.items()} if weights is not None else pooled
    checked = {k: v[: len(support[k])] for k, v in scaled.items()}
    metric, factor = None, 1.0
    if options.metric is not None:
        plain = {k: v.numpy() for k, v in scaled.items()}
        metric = within_class_metric(plain, shrinkage=options.metric)
        if metric is not None:
            kept = metric.separation_kept(fit_prototypes(scaled).centres)
            factor = kept**CALIBRATION_EXPONENT
    space = TaskSpace(weights, metric, factor)
    if metric is not None and options.texture_view and not options.object_classes:
        view = _texture_view(pooled, weights, options.metric, groups or ())
        if view is not None:
            space = TaskSpace(weights, metric, factor * VIEW_CALIBRATION, view)
    fitted = {k: space(v) for k, v in pooled.items()}
    return space, {k: space(v) for k, v in support.items()}, checked, fitted


def _texture_view(
    support: dict[int, torch.Tensor],
    weights: torch.Tensor | None,
    shrinkage: float,
    groups: Sequence[tuple[str, slice]],
) -> TaskSpace | None:
    """The texture view of a support set (raw embeddings {class id: (n_k, D)}): the texture
    group's columns alone, scaled so that the support chips' mean squared distance is that of
    the main space before its metric, with its own within-class metric; None where the encoder
    has no texture group or the group weighting switched it off.

    The metric's isotropic share is that of the whole embedding (``shrinkage`` times the
    group's share of its D numbers): the same space as the group masked in all D (measured
    so), at the group's size."""
    columns = next((sl for name, sl in groups if name == TEXTURE_GROUP), None)
    if columns is None or (weights is not None and not torch.any(weights[columns] != 0)):
        return None
    x = np.concatenate([v.numpy().astype(np.float64) for v in support.values()])
    main = weights.numpy().astype(np.float64) if weights is not None else np.ones(x.shape[1])
    mask = np.zeros(x.shape[1])
    mask[columns] = 1.0
    w = torch.as_tensor(rescaled(mask, x, main)[columns], dtype=torch.float32)
    weighted = {k: (v[:, columns] * w).numpy() for k, v in support.items()}
    share = w.numel() / x.shape[1]
    metric = within_class_metric(weighted, shrinkage=shrinkage * share)
    return TaskSpace(w, metric, columns=columns)
