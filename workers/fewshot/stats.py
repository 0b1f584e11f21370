"""Class abundances (counts, area fractions, physical areas) with support-bootstrap uncertainty."""

from __future__ import annotations

import numpy as np
import torch

from workers.fewshot.classifier import squared_distances

__all__ = ["abundance", "bootstrap_labels"]


def bootstrap_labels(
    query_emb: torch.Tensor | np.ndarray,
    support_emb: dict[int, torch.Tensor | np.ndarray],
    *,
    n_resamples: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Relabel queries under resampled support sets: (N, D) -> (B, N) class indices.

    Each resample draws n_k support chips of every class k with replacement, recomputes the
    prototypes and assigns each query to the nearest one. Embeddings are computed once; the
    B x K resampled prototypes are one matrix, so each chunk of queries is one matrix product
    (N, B K) rather than B small batched ones (5x faster for 1,024 chips).
    """
    q = torch.as_tensor(
        np.asarray(query_emb) if not torch.is_tensor(query_emb) else query_emb
    ).float()
    classes = sorted(support_emb)
    sup = [
        torch.as_tensor(
            np.asarray(support_emb[k]) if not torch.is_tensor(support_emb[k]) else support_emb[k]
        ).float()
        for k in classes
    ]
    rng = np.random.default_rng(seed)
    centres = []
    for v in sup:
        idx = torch.from_numpy(rng.integers(0, v.shape[0], size=(n_resamples, v.shape[0])))
        centres.append(v[idx].mean(1))  # (B, D)
    k = len(classes)
    centres = torch.stack(centres, dim=1).reshape(n_resamples * k, -1)  # (B K, D)
    out = np.empty((n_resamples, q.shape[0]), np.int64)
    step = max(1, 4_000_000 // (n_resamples * k))  # bound the (n, B K) distance memory
    for i in range(0, q.shape[0], step):
        d = squared_distances(q[i : i + step], centres).reshape(-1, n_resamples, k)
        out[:, i : i + step] = d.argmin(-1).T.numpy()
    return out


def abundance(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    n_classes: int,
    chip_area_px: int,
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    bootstrap: np.ndarray | None = None,
    ci: float = 0.95,
) -> dict:
    """Per-class statistics of a labelled grid (JSON-ready lists of length K).

    labels (rows, cols) class indices 0..K-1; probs (rows, cols, K) or (N, K); bootstrap
    (B, N) labels from :func:`bootstrap_labels` or None. Keys: n_chips, counts, fractions
    (hard), soft_fractions (mean probability), fractions_std_prob (from per-chip probabilities,
    chips treated as independent), and with a bootstrap fractions_std / fractions_ci_low /
    fractions_ci_high (percentile interval over support resamples); areas_px and, when
    ``pixel_size`` is known, areas in ``pixel_unit``^2 (with areas_std).
    """
    lab = np.asarray(labels).reshape(-1)
    p = np.asarray(probs, dtype=np.float64).reshape(lab.size, -1)
    n = lab.size
    counts = np.bincount(lab, minlength=n_classes)[:n_classes]
    fractions = counts / max(n, 1)
    out: dict = {
        "n_chips": int(n),
        "chip_area_px": int(chip_area_px),
        "counts": counts.tolist(),
        "fractions": fractions.tolist(),
        "soft_fractions": _pad(p.mean(0) if n else np.zeros(0), n_classes),
        "fractions_std_prob": _pad(np.sqrt((p * (1 - p)).sum(0)) / max(n, 1), n_classes),
        "mean_confidence": float(p.max(1).mean()) if n else 0.0,
    }
    std = np.zeros(n_classes)
    if bootstrap is not None and len(bootstrap):
        bfrac = np.stack(
            [np.bincount(b, minlength=n_classes)[:n_classes] / n for b in np.asarray(bootstrap)]
        )
        std = bfrac.std(0, ddof=1) if len(bfrac) > 1 else np.zeros(n_classes)
        alpha = (1 - ci) / 2
        out.update(
            {
                "bootstrap": {
                    "n_resamples": len(bfrac),
                    "ci": ci,
                    "method": "support-chip resampling",
                },
                "fractions_std": std.tolist(),
                "fractions_ci_low": np.quantile(bfrac, alpha, axis=0).tolist(),
                "fractions_ci_high": np.quantile(bfrac, 1 - alpha, axis=0).tolist(),
            }
        )
    areas_px = counts * chip_area_px
    out["areas_px"] = areas_px.tolist()
    if pixel_size is not None:
        px_area = float(pixel_size) ** 2
        total = n * chip_area_px * px_area
        out["areas"] = (areas_px * px_area).tolist()
        out["areas_std"] = (std * total).tolist()
        out["area_unit"] = f"{pixel_unit or 'px'}^2"
    return out


def _pad(values: np.ndarray, n: int) -> list[float]:
    """First n values as a list, zero-padded (probs may have fewer columns than n_classes)."""
    out = np.zeros(n)
    out[: min(n, len(values))] = values[:n]
    return out.tolist()
