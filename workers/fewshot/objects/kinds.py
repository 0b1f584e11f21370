"""Kinds of object told apart as objects: every particle of a pixel map gets one kind.

Two kinds of particle of one material (round vs rod, dome vs plate) differ in the shape and
the intensity profile of the whole particle, which a chip smaller than the particle does not
hold: chip by chip, a rod's middle looks like a round particle's. Here the instances of the
kinds' union (``instances``: touching particles cut at their necks) are measured: size,
elongation, circularity, mean intensity and its spread, centre-minus-rim intensity and the
inscribed radius. The instance under most of a support chip of a kind is an example of that
kind. Each instance's kind then adds, per kind, the log of its pixels' vote (smoothed) and a
diagonal-Gaussian log likelihood of its measurements around the kind's examples (variances:
half the examples' pooled within-kind variance, half the variance over all instances, as two
or three examples per kind estimate a variance poorly). Each instance takes the best kind, all
its pixels with it: a rod whose every pixel the chips called round becomes a rod when its shape
says so clearly enough to outweigh the vote.

Chosen on the seen particle cases (chip mIoU with the pixel vote, 10 draws; ``python -m
workers.fewshot.bench --set seen --cases particles --ks 3,5``): k = 3 group mean 0.743 -> 0.759,
k = 5 0.782 -> 0.800 (round vs rod 0.622 -> 0.764 at k = 3; two Z-contrasts 0.902 -> 0.878,
where touching particles of both kinds merge into one instance). Keeping the kind of a particle
whose pixels agree to 95 % gave the same means (0.762 / 0.799): one rule fewer without it. With
examples that are alike by chance, the other measurements can outweigh the one that tells the
kinds apart (a seen round-vs-rod image in the browser: with three long, bright rods as examples,
four shorter, dimmer rods stay round); a per-particle
majority vote alone gave
+0.001, the truth's kind for each found particle would give +0.14. With one example per kind
there is no within-kind spread and the map is left as it is (a first version with the total
variance alone: seen k = 1 0.657 against 0.654 off, unseen 0.639 -> 0.616). On the unseen
particles it did not help (k = 3 0.712 -> 0.709, pixel mIoU 0.663 -> 0.642): jobs run it only
when asked (job param ``object_kinds``); figures in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.objects.core import instance_votes, instances

__all__ = ["kind_per_object", "object_measurements"]

#: weight of the within-kind variance of the examples against the variance over all instances
WITHIN_WEIGHT = 0.5
#: added to the vote shares before their log (a share of 0 is not a certainty)
VOTE_FLOOR = 0.05

Support = dict[int, list[tuple[int, int]]]


def object_measurements(inst_labels: np.ndarray, n: int, frame: np.ndarray, inst) -> np.ndarray:
    """(n, 7) measurements of the instances 1..n of ``inst_labels`` on ``frame``: log area,
    log aspect ratio, circularity, mean intensity, intensity s.d., centre minus rim mean
    intensity (centre: beyond half the inscribed radius) and log inscribed radius, both from the
    chessboard distance to the background (the Euclidean transform took 2.6 s at 4096^2)."""
    fg = inst_labels > 0
    lab = inst_labels[fg]
    value = frame[fg].astype(np.float64)
    dist = ndimage.distance_transform_cdt(fg, metric="chessboard")[fg].astype(np.float64)
    radius = np.zeros(n + 1)
    np.maximum.at(radius, lab, dist)
    centre = dist > 0.5 * radius[lab]

    def per_instance(weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(lab, weights, minlength=n + 1)[1:]

    count, total = per_instance(), per_instance(value)
    mean = total / count
    sd = np.sqrt(np.maximum(per_instance(value * value) / count - mean**2, 0.0))
    n_centre = per_instance(centre.astype(np.float64))
    inner = per_instance(value * centre)
    n_rim = count - n_centre
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = inner / n_centre - (total - inner) / n_rim
    profile[(n_centre == 0) | (n_rim == 0)] = 0.0  # a 1-2 px instance has no centre
    return np.stack(
        [
            np.log(inst.area_px),
            np.log(np.maximum(inst.aspect_ratio, 1.0)),
            inst.circularity,
            mean,
            sd,
            profile,
            np.log(np.maximum(radius[1:], 0.5)),
        ],
        axis=1,
    )


def _examples(inst_labels: np.ndarray, grid: ChipGrid, support: Support, kinds) -> dict[int, int]:
    """{instance id: kind} of the instances under most of a support chip of a kind (an
    instance under chips of two kinds is no example)."""
    s, (oy, ox) = grid.chip_size, grid.offset
    seen: dict[int, set[int]] = {}
    for k in kinds:
        for r, c in support.get(k, []):
            window = inst_labels[oy + r * s : oy + (r + 1) * s, ox + c * s : ox + (c + 1) * s]
            ids, counts = np.unique(window[window > 0], return_counts=True)
            if ids.size:
                seen.setdefault(int(ids[counts.argmax()]), set()).add(int(k))
    return {i: next(iter(ks)) for i, ks in seen.items() if len(ks) == 1}


def _enough(examples: dict[int, int], kinds) -> bool:
    """Every kind has an example and one has two (a within-kind spread to weigh by)."""
    return len(examples) > len(kinds) and set(kinds) <= set(examples.values())


def _likelihoods(x: np.ndarray, examples: dict[int, int], kinds) -> np.ndarray:
    """(n, K) diagonal-Gaussian log likelihoods of the measurements ``x`` (n, F) around each
    kind's examples (``_enough`` of them)."""
    ids = np.fromiter(examples, int) - 1
    of = np.fromiter(examples.values(), int)
    dof = len(ids) - len(kinds)
    means = np.stack([x[ids[of == k]].mean(0) for k in kinds])
    dev = x[ids] - means[np.searchsorted(np.asarray(kinds), of)]
    total = x.var(0) + 1e-9
    within = (dev**2).sum(0) / dof
    var = WITHIN_WEIGHT * within + (1 - WITHIN_WEIGHT) * total
    return -0.5 * (((x[:, None, :] - means[None]) ** 2) / var).sum(-1)


def kind_per_object(
    labels: np.ndarray,
    frame: np.ndarray,
    grid: ChipGrid,
    support: Support | None,
    kinds: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """One kind per object: ``labels`` (H, W) class ids (-1 uncovered) with every instance of
    the ``kinds``' union (>= 2 kinds) relabelled to its kind (see the module), and a (H, W)
    float32 map of each relabelled pixel's posterior for its new kind (1 elsewhere), which
    the caller folds into the pixel confidence. The map is left as it is unless every kind
    has an example instance and one kind two (one example per class, k = 1: no within-kind
    spread to weigh the measurements by; seen k = 1 0.654 with the step off, 0.657 on with
    the total variance alone, unseen 0.639 -> 0.616)."""
    kinds = sorted(int(k) for k in kinds)
    posterior = np.ones(labels.shape, np.float32)
    if len(kinds) < 2:
        return labels, posterior
    inst = instances(labels, kinds, min_area_px=1)
    ids, n = inst.labels, inst.n
    if n == 0:
        return labels, posterior
    examples = _examples(ids, grid, support or {}, kinds)
    if not _enough(examples, kinds):
        return labels, posterior
    fg = ids > 0
    votes = instance_votes(ids, labels, kinds, n)
    shares = votes / np.maximum(votes.sum(1, keepdims=True), 1)
    score = np.log(shares + VOTE_FLOOR)
    score = score + _likelihoods(object_measurements(ids, n, frame, inst), examples, kinds)
    choice = score.argmax(1)
    p = np.exp(score - score.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    kept = p[np.arange(n), choice]
    out = labels.copy()
    new = np.asarray(kinds)[choice][ids[fg] - 1]
    changed = new != labels[fg]
    out[fg] = new
    yy, xx = np.nonzero(fg)
    posterior[yy[changed], xx[changed]] = kept[ids[fg][changed] - 1]
    return out, posterior
