"""Which chips to label next: the chips a result is least sure of, or least like any example."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from workers.fewshot.classifier import fit_prototypes, squared_distances

__all__ = ["ChipSuggestion", "label_next"]


class ChipSuggestion(NamedTuple):
    """A chip to label next, with its score (higher = more useful) and why."""

    row: int
    col: int
    score: float
    reason: str


def label_next(
    probs: np.ndarray,
    embeddings: np.ndarray | torch.Tensor,
    support: dict[int, list[tuple[int, int]]],
    n: int = 8,
    *,
    strategy: str = "mixed",
    spacing: int = 1,
) -> list[ChipSuggestion]:
    """Chips the user should label next: probs (rows, cols, K), embeddings (rows, cols, D).

    Strategies: "margin" (smallest gap between the two most probable classes), "entropy",
    "novelty" (squared distance to the nearest prototype, relative to the median), "mixed"
    (mean of the margin and novelty rank percentiles). Support chips are skipped and picks are
    kept at least ``spacing`` + 1 chips apart (Chebyshev) while possible, so suggestions
    cover the image; returns min(n, free chips) suggestions.
    """
    p = np.asarray(probs, dtype=np.float64)
    rows, cols, k = p.shape
    srt = np.sort(p, axis=-1)
    margin = 1.0 - (srt[..., -1] - (srt[..., -2] if k > 1 else 0.0))
    entropy = -(p * np.log(np.clip(p, 1e-12, 1))).sum(-1) / np.log(max(k, 2))
    emb = torch.as_tensor(
        np.asarray(embeddings) if not torch.is_tensor(embeddings) else embeddings
    ).float()
    emb = emb.reshape(rows * cols, -1)
    sup = {c: emb[[r * cols + q for r, q in rc]] for c, rc in support.items() if rc}
    if sup:
        d = (
            squared_distances(emb, fit_prototypes(sup).centres)
            .min(-1)
            .values.numpy()
            .reshape(rows, cols)
        )
        novelty = d / max(float(np.median(d)), 1e-12)
    else:
        novelty = np.zeros((rows, cols))
    scores = {"margin": margin, "entropy": entropy, "novelty": novelty}
    if strategy == "mixed":

        def pct(x: np.ndarray) -> np.ndarray:
            return np.argsort(np.argsort(x.ravel())).reshape(x.shape) / max(x.size - 1, 1)

        score = (pct(margin) + pct(novelty)) / 2
    elif strategy in scores:
        score = scores[strategy]
    else:
        raise ValueError(f"unknown strategy {strategy!r}; use margin, entropy, novelty or mixed")
    support_mask = np.zeros((rows, cols), bool)
    for rc in support.values():
        for r, c in rc:
            support_mask[r, c] = True
    order = np.argsort(-score.ravel(), kind="stable")
    picked: list[int] = []
    blocked = support_mask.copy()
    for flat in order:  # first pass keeps picks apart, the second fills up if the image is small
        r, c = divmod(int(flat), cols)
        if not blocked[r, c]:
            picked.append(int(flat))
            blocked[
                max(0, r - spacing) : r + spacing + 1, max(0, c - spacing) : c + spacing + 1
            ] = True
        if len(picked) == n:
            break
    if len(picked) < n:
        chosen = set(picked)
        extra = [int(f) for f in order if not support_mask.flat[f] and int(f) not in chosen]
        picked += extra[: n - len(picked)]
    out: list[ChipSuggestion] = []
    for flat in picked:
        r, c = divmod(flat, cols)
        why = (
            f"margin {1 - margin[r, c]:.2f}, entropy {entropy[r, c]:.2f}, "
            f"novelty {novelty[r, c]:.2f}"
        )
        out.append(ChipSuggestion(r, c, float(score[r, c]), why))
    return out
