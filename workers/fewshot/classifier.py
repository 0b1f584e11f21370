"""Prototypical classifier: class prototypes, calibrated softmax over distances, refinements.

Probabilities are ``softmax(-||x - c_k||^2 / T)``. The temperature T is either the one the
encoder was trained with (the default encoder learns it episodically) or calibrated on the
support set itself (``calibrate_temperature``: leave-one-out negative log-likelihood of the
support chips, minimised over a log grid of T) — the only labelled data a few-shot job has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "Prediction",
    "Prototypes",
    "calibrate_temperature",
    "fit_prototypes",
    "predict",
    "refine_prototypes",
    "resolve_temperature",
    "smooth_log_probs",
    "squared_distances",
]

ArrayLike = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class Prototypes:
    """Class prototypes: centres (K, D) in the order of classes; counts (K,) support sizes."""

    classes: tuple[int, ...]
    centres: torch.Tensor
    counts: torch.Tensor

    @property
    def n_classes(self) -> int:
        """K."""
        return len(self.classes)


class Prediction(NamedTuple):
    """Per-query output: probs (N, K), labels (N,) class ids, confidence (N,) = max prob."""

    probs: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray


def _tensor(x: ArrayLike) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).float()


def fit_prototypes(support_emb: dict[int, ArrayLike]) -> Prototypes:
    """Prototype = mean support embedding per class: {class: (n_k, D)} -> Prototypes (K, D)."""
    if not support_emb:
        raise ValueError("support set is empty")
    classes = tuple(sorted(int(k) for k in support_emb))
    vecs = [_tensor(support_emb[k]).reshape(-1, _tensor(support_emb[k]).shape[-1]) for k in classes]
    empty = [k for k, v in zip(classes, vecs, strict=True) if v.shape[0] == 0]
    if empty:
        raise ValueError(f"classes without support chips: {empty}")
    centres = torch.stack([v.mean(0) for v in vecs])
    counts = torch.tensor([v.shape[0] for v in vecs], dtype=torch.float32)
    return Prototypes(classes, centres, counts)


def squared_distances(query: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances: (..., N, D), (..., K, D) -> (..., N, K), clamped at 0.

    ``(q2 - 2 q.c + c2).clamp_min(0)`` in place on the product (the same numbers: negating
    and doubling are exact, and a sum does not depend on its order of two terms): the
    support bootstrap's (N, B K) blocks took 1.8x as long with a new tensor per step."""
    q2 = query.square().sum(-1, keepdim=True)
    c2 = centres.square().sum(-1).unsqueeze(-2)
    return (query @ centres.transpose(-1, -2)).mul_(-2).add_(q2).add_(c2).clamp_min_(0)


def log_probs(query: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log class probabilities: (N, D), (K, D) -> (N, K)."""
    return torch.log_softmax(-squared_distances(query, centres) / temperature, dim=-1)


def predict(
    query_emb: ArrayLike,
    protos: Prototypes,
    temperature: float | str = "auto",
    *,
    support_emb: dict[int, ArrayLike] | None = None,
) -> Prediction:
    """Classify queries by nearest prototype: (N, D) -> Prediction (probs, labels, confidence).

    ``temperature="auto"`` calibrates on ``support_emb`` (required then) with
    :func:`calibrate_temperature`. Labels are class ids from ``protos.classes``.
    """
    q = _tensor(query_emb).reshape(-1, protos.centres.shape[1])
    if temperature == "auto":
        if support_emb is None:
            raise ValueError("temperature='auto' needs support_emb")
        temperature = calibrate_temperature(support_emb)
    return prediction_from_log_probs(log_probs(q, protos.centres, float(temperature)), protos)


def prediction_from_log_probs(logp: torch.Tensor, protos: Prototypes) -> Prediction:
    """(N, K) log probabilities -> Prediction with class ids."""
    probs = logp.exp()
    probs = probs / probs.sum(-1, keepdim=True)
    conf, idx = probs.max(-1)
    ids = torch.tensor(protos.classes, dtype=torch.int64)[idx]
    return Prediction(
        probs.numpy().astype(np.float32), ids.numpy(), conf.numpy().astype(np.float32)
    )


def calibrate_temperature(support_emb: dict[int, ArrayLike], *, n_grid: int = 41) -> float:
    """Temperature minimising the leave-one-out NLL of the support chips.

    Each support chip is classified against prototypes where its own class prototype is the mean of
    the *other* chips of that class (classes with a single chip keep their prototype and
    contribute no held-out term). With no held-out term at all, falls back to half the median
    squared distance between prototypes. The grid spans 1e-3..1e2 times the median
    held-out distance scale, log-spaced.
    """
    protos = fit_prototypes(support_emb)
    x, y = [], []
    for i, k in enumerate(protos.classes):
        v = _tensor(support_emb[k]).reshape(-1, protos.centres.shape[1])
        x.append(v)
        y.append(torch.full((v.shape[0],), i))
    x, y = torch.cat(x), torch.cat(y)
    n = protos.counts[y]
    keep = n > 1
    if not keep.any() or protos.n_classes < 2:
        d = squared_distances(protos.centres, protos.centres)
        off = d[~torch.eye(len(d), dtype=torch.bool)]
        return float(max(off.median().item() / 2, 1e-6)) if off.numel() else 1.0
    x, y, n = x[keep], y[keep], n[keep]
    d = squared_distances(x, protos.centres)  # (M, K)
    # own prototype without the chip: (n c - x) / (n - 1)
    own = (n[:, None] * protos.centres[y] - x) / (n[:, None] - 1)
    d[torch.arange(len(y)), y] = (x - own).square().sum(-1)
    scale = d.median().clamp_min(1e-6)
    grid = scale * torch.logspace(-3, 2, n_grid)
    nll = torch.stack(
        [-torch.log_softmax(-d / t, -1)[torch.arange(len(y)), y].mean() for t in grid]
    )
    return float(grid[int(nll.argmin())])


def refine_prototypes(
    query_emb: torch.Tensor,
    protos: Prototypes,
    temperature: float,
    *,
    threshold: float = 0.9,
    query_weight: float = 1.0,
    iterations: int = 1,
) -> Prototypes:
    """Transductive refinement: pull prototypes towards confidently assigned query chips.

    New centre_k = (n_k c_k + w sum_q p_qk x_q) / (n_k + w sum_q p_qk) over queries whose max
    probability >= ``threshold``; ``w = query_weight * n_k / (number of confident chips of k)``
    caps the queries' total influence at ``query_weight`` times the support's. Shapes:
    query (N, D), centres (K, D).
    """
    q = _tensor(query_emb)
    centres = protos.centres
    base = protos.centres * protos.counts[:, None]
    for _ in range(iterations):
        p = log_probs(q, centres, temperature).exp()  # (N, K)
        p = p * (p.max(-1, keepdim=True).values >= threshold)
        mass = p.sum(0)  # (K,)
        w = query_weight * protos.counts / mass.clamp_min(1e-6)
        num = base + w[:, None] * (p.T @ q)
        den = protos.counts + w * mass
        centres = num / den[:, None]
    return Prototypes(protos.classes, centres, protos.counts)


def smooth_log_probs(logp: torch.Tensor, *, strength: float = 0.5) -> torch.Tensor:
    """Spatial smoothing of log probabilities on the chip grid: (rows, cols, K) -> (rows, cols, K).

    Adds ``strength`` times the mean log probability of the 4-neighbours (edge chips average
    the neighbours they have), a one-step mean-field approximation of a Potts smoothness prior.
    """
    x = logp.permute(2, 0, 1).unsqueeze(0)  # (1, K, rows, cols)
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    k = kernel.expand(x.shape[1], 1, 3, 3)
    ones = torch.ones(1, 1, *x.shape[-2:])
    norm = torch.nn.functional.conv2d(ones, kernel[None, None], padding=1)
    neigh = torch.nn.functional.conv2d(x, k, padding=1, groups=x.shape[1]) / norm
    out = x + strength * neigh
    return torch.log_softmax(out, dim=1)[0].permute(1, 2, 0)


def resolve_temperature(
    choice: float | str,
    *,
    encoder_temperature: float | None,
    support_emb: dict[int, ArrayLike],
) -> float:
    """A number, "encoder" (the encoder's trained temperature, else calibrated) or "auto"."""
    if choice == "encoder" and encoder_temperature is not None:
        return float(encoder_temperature)
    if choice in ("encoder", "auto"):
        return calibrate_temperature(support_emb)
    return float(choice)
