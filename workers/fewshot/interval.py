"""The fraction interval: where each class's true share of the grid lies, errors of the map
included (the support bootstrap in :mod:`workers.fewshot.stats` covers only the choice of
examples)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "INTERVAL_COVERS",
    "INTERVAL_EXPONENT",
    "INTERVAL_METHOD",
    "INTERVAL_MULTIPLIERS",
    "fraction_interval",
    "interval_multiplier",
    "interval_probs",
]

#: the half-width ``a * u ** INTERVAL_EXPONENT``, u = mean_i p_ik (1 - p_ik): fitted beside the
#: multipliers, over 0.5 (a square root) to 0.8 in steps of 0.05, for the narrowest interval at
#: k = 3 (twenty-second session; seen + selection, default encoder: width at k = 1 / 3 / 5
#: 0.622 / 0.316 / 0.225 at 0.5 -> 0.553 / 0.269 / 0.195 at 0.7, and on the quarter of trials
#: whose chips are surest 0.156 -> 0.098). A square root let a clean map's few unsure chips
#: (a particle's outline) widen its interval as much as regions of wrong chips would.
INTERVAL_EXPONENT = 0.7
#: a, by the support count of the smallest class: ((from count, a), ...). Rule: the smallest
#: multiplier (steps of 0.05) whose interval holds the truth in >= 95 % of each group's trials
#: at k = 1, 3 and 5 (k = 2-4 take k = 3's), over both selection sets: the seen simulator cases
#: (seeds 100-101) and every selection case (``workers.fewshot.selection``, seeds 0-1); 32 px,
#: 5 draws. A single example needs the most: its prototype is one chip, so a misplaced
#: prototype moves a whole class's chips at once, and the support bootstrap cannot see it.
#: Before the selection particles existed the multipliers were fitted on the seen cases alone,
#: and covered only 0.72 / 0.82 / 0.88 of the selection particles' trials at k = 1 / 3 / 5, whose
#: maps err in whole particles of one kind. ``python -m workers.fewshot.bench.uncertainty --set
#: unseen`` reports the result on the held-out simulator (README). Encoders not measured get
#: Fourier's values. On grids of 8 x 8 chips (64 px on 512 px) coverage falls: too few chips.
#: Refitted by the same rule after the object edges (``pixels.edges``, twenty-third session):
#: default 1.55 / 1.20 / 0.95 -> 1.60 / 1.20 / 0.95 (the selection particles' trials at k = 1
#: were covered 0.944 at 1.55), Fourier 2.10 / 2.25 / 1.60 -> 2.05 / 2.05 / 1.50; the rule's
#: rerun on the tree before the edges gave the old values back. With one example per class the
#: reported probabilities are Platt-scaled (``uncertainty.SINGLE_EXAMPLE_MAP``, twenty-fourth
#: session), which makes unsure chips surer and lowers u, so k = 1's were refitted by the same
#: rule: default 1.60 -> 1.90 (mean width over both sets 0.565 -> 0.578), Fourier 2.05 -> 2.50.
INTERVAL_MULTIPLIERS: dict[str, tuple[tuple[int, float], ...]] = {
    "default": ((1, 1.90), (2, 1.20), (5, 0.95)),
    "fourier": ((1, 2.50), (2, 2.05), (5, 1.50)),
}
INTERVAL_METHOD = "calibrated chip probabilities, spatially correlated errors"
INTERVAL_COVERS = (
    "the fraction of chips whose true majority class is this class, over the whole grid: "
    "errors of the map included (chips of unsure class, which tend to be wrong together in "
    "regions), not only the choice of support chips; sized to contain it at least 95 % of the "
    "time on each kind of simulated image (measured 93-100 % per kind on images from another "
    "simulator with 1-5 examples per class; less with fewer than about 100 chips)"
)


def interval_multiplier(encoder: str | None, n_smallest: int = 2) -> float:
    """The spread multiplier measured for a registered encoder (others: Fourier's) when the
    smallest support class has ``n_smallest`` chips (``INTERVAL_MULTIPLIERS``)."""
    table = INTERVAL_MULTIPLIERS.get(encoder or "", INTERVAL_MULTIPLIERS["fourier"])
    return next(a for count, a in reversed(table) if max(n_smallest, 1) >= count)


def interval_probs(
    probs: np.ndarray,
    *,
    support: dict[int, np.ndarray] | None = None,
    decided: np.ndarray | None = None,
    decided_probs: np.ndarray | None = None,
) -> np.ndarray:
    """Chip probabilities that enter :func:`fraction_interval`: (N, K) -> (N, K) float64.

    probs: calibrated probabilities (``uncertainty.calibrated_probs``), columns in sorted
    class-id order; support {column: flat chip indices}: chips whose class the user gave
    (one-hot); decided (N,) bool with decided_probs (N, K): chips re-decided by boundary
    unmixing, whose estimated class fractions stand in.
    """
    p = np.array(probs, dtype=np.float64)
    if decided is not None and decided_probs is not None:
        dec = np.asarray(decided, bool).ravel()
        p[dec] = np.asarray(decided_probs, dtype=np.float64).reshape(p.shape)[dec]
    for col, idx in (support or {}).items():
        p[np.asarray(idx, dtype=np.int64)] = np.eye(p.shape[1])[int(col)]
    return p


def fraction_interval(
    probs: np.ndarray,
    fractions: np.ndarray,
    *,
    multiplier: float,
    ci: float = 0.95,
    known: np.ndarray | None = None,
) -> dict:
    """Interval for each class's true fraction of chips: (N, K) probabilities -> dict of (K,).

    Centre: the soft fraction (mean probability). Half-width: ``multiplier`` times
    ``u ** INTERVAL_EXPONENT``, u = mean_i p_ik (1 - p_ik), the share of unsure chips under their
    calibrated probabilities. Were the chips' errors independent the half-width would be
    1.96 sqrt(u / N); classifier errors come in regions (a missed particle, a domain in the
    wrong phase), so the measured errors do not shrink with N: they grow with u, a little faster
    than its square root (both fitted on both selection sets, see ``INTERVAL_MULTIPLIERS``).
    The interval is widened to contain the reported (hard) ``fractions`` and clipped to what is
    known: ``known`` (K,) is the share of the chips whose class the user gave (the examples,
    which ``interval_probs`` fixes too), so a class never reads below its own examples' share,
    nor above what the other classes' examples leave (None: [0, 1]). It is meant for
    ``ci = 0.95``; other levels scale the half-width by the normal quantile ratio.

    Returns low, high, std (half-width / 1.96 at 95 %: a normal-equivalent standard deviation
    for areas), centre, multiplier, ci, method, covers.
    """
    from scipy.stats import norm  # heavy (scipy.stats): only the interval needs it

    p = np.asarray(probs, dtype=np.float64)
    point = np.asarray(fractions, dtype=np.float64)[: p.shape[1]]
    centre = p.mean(axis=0) if len(p) else np.zeros(p.shape[1])
    unsure = (p * (1 - p)).mean(axis=0) if len(p) else np.zeros(p.shape[1])
    z, z95 = float(norm.ppf(0.5 + ci / 2)), float(norm.ppf(0.975))
    half = multiplier * unsure**INTERVAL_EXPONENT * z / z95
    floor = np.zeros(p.shape[1]) if known is None else np.asarray(known, np.float64)
    ceiling = 1.0 - (floor.sum() - floor)
    low = np.clip(np.minimum(centre - half, point), floor, ceiling)
    high = np.clip(np.maximum(centre + half, point), floor, ceiling)
    return {
        "low": low.tolist(),
        "high": high.tolist(),
        "std": (half / z).tolist(),
        "centre": centre.tolist(),
        "multiplier": float(multiplier),
        "ci": float(ci),
        "method": INTERVAL_METHOD,
        "covers": INTERVAL_COVERS,
    }
