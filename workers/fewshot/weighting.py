"""Per-task weighting of embedding groups, chosen from the support chips alone.

An embedding is a concatenation of feature groups (``Encoder.groups``; the default encoder's:
``learned`` = the fused CNN / spectral-MLP / intensity projection, then the chip's Fourier
descriptor ``chip_radial``, ``chip_angular``, ``chip_lattice``, ``chip_intensity``, the context
window's ``window_radial``, ``window_angular``, ``window_lattice`` and the chip's local binary
pattern histograms ``chip_texture``, which no brightness or contrast changes and which every
candidate but "angular" keeps). Which groups tell the classes apart depends on the task. When
grains of one phase vary in brightness with thickness or tilt, everything that reads absolute
intensity or contrast (the learned part, the intensity statistics, the level of the radial
log-power profile) is a nuisance, while the angular profile (log power above its radial mean:
unchanged by a contrast gain), the dominant spacing and the symmetry harmonics are not.

The support set is the only labelled data a job has, so the choice is made on it: each
candidate mask (``CANDIDATES``) is scored by leave-one-out classification of the support chips
(each chip against prototypes that leave it out). A candidate replaces the unweighted
embedding only when it makes at least ``min_gain`` fewer leave-one-out errors *and* its mean
log distance ratio (own prototype / nearest other, scale-free) is no worse; among those the
fewest errors, then the lowest ratio, win. With 3 chips per class a single error is weak
evidence: the ratio condition is what keeps particles and textures, whose support chips are
heterogeneous, from switching on noise (measured on the benchmark's selection images, see
CONTRACT.md). Support sets that cannot be scored (a class with one chip) keep all ones, and so
do tasks where a class is an object (``SegmentOptions.task_weighting``: examples of particles
are chips partly of the support, whose spread the choice read as a class difference).

Optional groups (``optional``: the classifier's ``support_peaks``, ``spectral_peaks``) are off
unless the whole embedding with them on makes ``OPTIONAL_GAIN`` fewer leave-one-out errors and
separates no worse: they are made from the support chips themselves, so a weaker test would
see each held-out chip's own peaks.

Weights are rescaled so the mean squared distance between support chips is that of the
unweighted embedding (without the optional groups): the encoder's trained softmax
temperature keeps its meaning.

    w = group_weights({0: (n0, D), 1: (n1, D)}, encoder.groups)   # (D,), ones = unchanged
    support and query embeddings are both multiplied by w before prototypes
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["CANDIDATES", "Group", "group_weights", "loo_scores", "mask_weights", "rescaled"]

Group = tuple[str, slice]

#: fewer leave-one-out errors an optional group must bring to be switched on
OPTIONAL_GAIN = 1

#: candidate masks: (name, {group-name prefix: factor}); the longest matching prefix sets a
#: group's factor, unmatched groups keep 1. The first is the unweighted embedding.
CANDIDATES: tuple[tuple[str, dict[str, float]], ...] = (
    ("all", {}),
    # the Fourier descriptor of chip and window without the learned part
    ("descriptor", {"learned": 0.0}),
    # ... and without intensity statistics: spacing, orientation, symmetry, radial profile
    ("spectral", {"learned": 0.0, "chip_intensity": 0.0, "intensity": 0.0}),
    # contrast-invariant orientation / symmetry cues only
    (
        "angular",
        {
            "learned": 0.0,
            "chip_": 0.0,
            "window_": 0.0,
            "radial": 0.0,
            "lattice": 0.0,
            "intensity": 0.0,
            "chip_angular": 1.0,
            "window_angular": 1.0,
            "angular": 1.0,
        },
    ),
)


def mask_weights(groups: Sequence[Group], dim: int, factors: Mapping[str, float]) -> np.ndarray:
    """(D,) per-dimension factors: a group whose name starts with a key of ``factors`` gets that
    key's factor (the longest matching key wins); every other dimension 1."""
    w = np.ones(dim, np.float64)
    for name, sl in groups:
        keys = [k for k in factors if name.startswith(k)]
        if keys:
            w[sl] = factors[max(keys, key=len)]
    return w


def loo_scores(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[int, float]:
    """Leave-one-out (errors, mean log distance ratio) of support chips.

    x (N, D) embeddings, y (N,) class indices 0..K-1, w (D,) weights. Chips of classes with >= 2
    chips are held out one at a time (own prototype = mean of the others); the ratio is
    log(d_own / d_nearest_other), lower is better and does not depend on the scale of w.
    Returns (0, 0.0) when no chip can be held out.
    """
    xw = x * w
    k = int(y.max()) + 1
    counts = np.bincount(y, minlength=k).astype(np.float64)
    centres = np.stack([xw[y == c].mean(0) for c in range(k)])
    idx = np.nonzero(counts[y] > 1)[0]
    if idx.size == 0:
        return 0, 0.0
    yi, rows = y[idx], np.arange(idx.size)
    d = ((xw[idx, None, :] - centres[None]) ** 2).sum(-1)  # (M, K)
    n = counts[yi][:, None]
    own = (n * centres[yi] - xw[idx]) / (n - 1)
    d_own = ((xw[idx] - own) ** 2).sum(-1)
    d[rows, yi] = np.inf
    d_other = d.min(1)
    errors = int((d_other < d_own).sum())
    ratio = float(np.mean(np.log((d_own + 1e-12) / (d_other + 1e-12))))
    return errors, ratio


def group_weights(
    support_emb: Mapping[int, np.ndarray],
    groups: Sequence[Group],
    *,
    method: str = "loo",
    min_gain: int = 1,
    optional: Sequence[str] = (),
    optional_gain: int = OPTIONAL_GAIN,
) -> np.ndarray:
    """Per-dimension weights (D,) float64 for one support set {class: (n_k, D)}.

    ``groups`` [(name, slice)] cover the embedding (``Encoder.groups``). ``method``: "loo"
    (choose among ``CANDIDATES`` by leave-one-out on the support chips, see the module
    docstring) or "none". ``optional``: group-name prefixes that are off (weight 0) unless "all"
    with them on wins by ``optional_gain`` fewer errors and a ratio no worse; the other
    candidates keep them off. The base is "all" with the optional groups off:
    all ones elsewhere (the embedding unchanged) for "none", fewer than 2 groups or classes,
    or any class with a single chip. Deterministic.
    """
    if method not in ("loo", "none"):
        raise ValueError(f"unknown weighting method {method!r}; use 'loo' or 'none'")
    classes = sorted(support_emb)
    x = np.concatenate([np.asarray(support_emb[k], np.float64) for k in classes])
    y = np.concatenate([np.full(len(support_emb[k]), i) for i, k in enumerate(classes)])
    off = {p: 0.0 for p in optional if any(name.startswith(p) for name, _ in groups)}
    base = mask_weights(groups, x.shape[1], off)
    counts = np.bincount(y, minlength=len(classes))
    if method == "none" or len(groups) < 2 or len(classes) < 2 or counts.min() < 2:
        return base
    e0, r0 = loo_scores(x, y, base)
    best, best_key = base, (e0, r0)
    variants = [(f | off, min_gain) for _, f in CANDIDATES[1:]]
    if off:
        # everything on: with the groups that drop parts of the embedding the optional ones
        # were picked on particle support sets and misled there (seen cases, k = 3 / 5)
        variants.append(({}, optional_gain))
    for factors, gain in variants:
        mask = mask_weights(groups, x.shape[1], factors)
        if np.array_equal(mask, base) or not np.any(mask):
            continue  # the candidate touches no group of this encoder / leaves nothing
        w = rescaled(mask, x, base)
        errors, ratio = loo_scores(x, y, w)
        if errors <= e0 - gain and ratio <= r0 and (errors, ratio) < best_key:
            best, best_key = w, (errors, ratio)
    return best


def rescaled(w: np.ndarray, x: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``w`` scaled so the mean squared distance between support chips x (N, D) is that under
    ``base`` (it is twice the total variance)."""
    before, after = (x * base).var(axis=0).sum(), (x * w).var(axis=0).sum()
    if before <= 0 or after <= 0:
        return base
    return w * np.sqrt(before / after)
