"""Honest uncertainty for few-shot chip labels: held-out support checks, calibrated confidence.

Three things a few-shot job can say about itself without any labelled data beyond its support:

* :func:`support_check` scores every support chip leave-one-out, against prototypes built
  without it, so a user's example that the model would label differently is reported as such
  (an in-sample score, where the chip helped build its own prototype, is always near 1).
* :func:`calibrated_probs` replaces the encoder's trained temperature with one set per chip from
  the image itself: ``T_i = scale * max(d_ref, d_i)``, with ``d_i`` the chip's squared distance to
  its nearest prototype and ``d_ref`` the median of that distance over the image's chips. The
  probabilities then depend on distances relative to how far chips of this image typically lie
  from their class mean (the scale of an embedding differs between images and encoders), and a
  chip far from every prototype (an outlier: nothing like the support) gets a proportionally
  higher temperature, so only its *relative* nearness counts and it is not shown as certain.
  ``scale`` was chosen on the simulator's validation images (seeds >= 100), see
  ``TEMPERATURE_SCALE``.
* :func:`tempered_prediction` re-scales probabilities that the spatial prior
  (``workers.fewshot.spatial``) sharpened: it counts neighbouring chips, whose embeddings share
  context pixels, as independent evidence, so its probabilities are over-confident; raised to
  ``1 / T`` (``SMOOTHED_TEMPERATURE``, per encoder) and renormalised (temperature scaling of
  the smoothed log probabilities), they mean what they say again, and the labels (argmax) do
  not change.
* :func:`expected_calibration_error` measures it (15 equal-width bins of max probability).

Shapes: support embeddings ``{class id: (n_k, D)}``; query embeddings ``(N, D)``; squared
distances and probabilities ``(N, K)`` with columns in sorted class-id order.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit, logit

from workers.fewshot.classifier import Prediction, squared_distances

__all__ = [
    "FLAG_BELOW",
    "OUTLIER_RATIO",
    "SINGLE_EXAMPLE_MAP",
    "SMOOTHED_TEMPERATURE",
    "TEMPERATURE_SCALE",
    "calibrated_probs",
    "chip_size_sensitivity",
    "disagreements",
    "expected_calibration_error",
    "outliers",
    "recalibrated_prediction",
    "reference_distance",
    "smoothed_temperature",
    "support_check",
    "temperature_scale",
    "tempered",
    "tempered_prediction",
]

#: T_i = TEMPERATURE_SCALE * max(d_ref, d_i). Chosen on the seen simulator cases (seeds 100-101,
#: k = 1, 3, 5, 5 draws each): pooled NLL / ECE best at 0.5 for the default encoder and 0.4 for
#: fourier; 0.45 gives ECE <= 0.04 for both (trained temperature: 0.08-0.10 / 0.03-0.15).
#: Held out (independent simulator, 32 px, k = 1 / 3 / 5): default 0.071 / 0.037 / 0.033 (trained
#: temperature 0.062 / 0.082 / 0.081), fourier 0.065 / 0.024 / 0.036; one example per class
#: stays above 0.05.
TEMPERATURE_SCALE = 0.45

#: the scale when a class has a single support chip (k = 1): its prototype is one chip, whose
#: own noise and position put query distances further from what chips of a class usually lie
#: at. Chosen on the seen cases including the harder ones (brightness varying independently of
#: the class, thickness profiles, low dose + drift; seeds 100-101, 2 draws, 384 px): see
#: CONTRACT.md.
SINGLE_EXAMPLE_SCALE = 0.8

#: with one example per class the reported confidence c of each chip's label becomes
#: sigmoid(slope logit(c) + offset) (:func:`recalibrated_prediction`): Platt scaling of the
#: final confidence, fitted by logistic regression on the seen cases (seeds 100-101) and every
#: selection case (seeds 0-1), 32 px, k = 1, 5 draws (twenty-fourth session). No scale of
#: the per-chip calibration alone fits it: at 0.8 both sets were under-confident (ECE 0.050 /
#: 0.080, confidence 0.82 / 0.72 where 0.87 / 0.80 were right); at 0.5 the means matched but
#: chips claiming 0.95-0.99 were right 0.92 / 0.93 of the time and those under 0.5 0.55 / 0.60
#: (ECE 0.038 / 0.045). The fit: default encoder (0.794, 0.625), Fourier (0.81, 0.641), so one
#: map for every encoder; ECE seen / selection 0.050 / 0.080 -> 0.009 / 0.016 (Fourier 0.104 /
#: 0.063 -> 0.025 / 0.048). With several examples the spatial prior's tempering does this job.
SINGLE_EXAMPLE_MAP = (0.8, 0.63)


#: temperature of the probabilities reported after the spatial prior (:func:`tempered`), per
#: encoder. Chosen on the seen cases (seeds 100-101, 32 px; chip ECE pooled over k = 3 and 5,
#: the prior is off at k = 1). Default (5 draws): 1.0 (untempered) 0.021, 1.35 0.0081, 1.4
#: 0.0071, 1.45 0.0063, 1.5 0.0072, 1.55 0.0097. Fourier (2 draws; its per-chip probabilities
#: are softer to begin with, see TEMPERATURE_SCALE): 0.9 0.025, 1.0 0.016, 1.1 0.012, 1.2
#: 0.020. Other encoders: the softer value. See CONTRACT.md.
SMOOTHED_TEMPERATURE = {"default": 1.45, "fourier": 1.1}
SMOOTHED_TEMPERATURE_OTHER = 1.45


def smoothed_temperature(encoder: str | None) -> float:
    """The temperature of :func:`tempered_prediction` for an encoder's name (others: the
    softer one)."""
    return SMOOTHED_TEMPERATURE.get(encoder or "", SMOOTHED_TEMPERATURE_OTHER)


def temperature_scale(n_smallest: int) -> float:
    """Scale of :func:`calibrated_probs` for a support set whose smallest class has
    ``n_smallest`` chips."""
    return SINGLE_EXAMPLE_SCALE if n_smallest <= 1 else TEMPERATURE_SCALE


#: a support chip is flagged when, held out, another class wins and its own class gets less than
#: this probability. Chosen on the seen cases (k = 3 / 5, calibrated rule): argmax alone flags
#: 12 % / 7 % of correctly labelled examples (mostly chips across a class boundary); < 0.2 flags
#: 4.6 % / 3.3 % and still finds 90 % / 96 % of chips moved to another class (default encoder).
FLAG_BELOW = 0.2

#: a chip is marked an outlier when its nearest-prototype distance exceeds this multiple of the
#: image's median one (about the top 1.5 % of chips on the seen cases, where accuracy drops to
#: 0.75); the flag is for display, the temperature already lowers its confidence.
OUTLIER_RATIO = 4.0


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _tensor(x) -> torch.Tensor:
    return (x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))).float()


def calibrated_probs(
    sq_dist: np.ndarray | torch.Tensor,
    *,
    scale: float = TEMPERATURE_SCALE,
    reference: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities with a per-chip temperature: (N, K) squared distances -> (probs, T).

    ``T_i = scale * max(reference, min_k d_ik)``; ``reference`` defaults to the median over the
    given chips of their nearest-prototype distance (pass the image's value when scoring a
    subset, e.g. support chips). Labels (argmax) are those of any fixed temperature.
    Returns probs (N, K) float64 and T (N,).
    """
    d = _np(sq_dist).astype(np.float64)
    dmin = d.min(axis=1)
    ref = float(np.median(dmin)) if reference is None else float(reference)
    temp = scale * np.maximum(max(ref, 1e-12), dmin)
    logits = -(d - dmin[:, None]) / temp[:, None]
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), temp


def reference_distance(sq_dist: np.ndarray | torch.Tensor) -> float:
    """The image's typical nearest-prototype distance: median over chips of min_k d_ik."""
    return float(np.median(_np(sq_dist).min(axis=1)))


def outliers(sq_dist: np.ndarray | torch.Tensor, *, reference: float | None = None) -> np.ndarray:
    """(N,) bool: chips nearer no prototype than OUTLIER_RATIO times the reference distance."""
    d = _np(sq_dist)
    ref = reference_distance(d) if reference is None else reference
    return d.min(axis=1) > OUTLIER_RATIO * ref


def support_check(
    support_emb: dict[int, np.ndarray | torch.Tensor],
    temperature: float | None = None,
    *,
    reference: float | None = None,
    scale: float = TEMPERATURE_SCALE,
    flag_below: float = FLAG_BELOW,
) -> list[dict]:
    """Score every support chip leave-one-out -> one dict per chip, classes in id order.

    A chip of a class with n >= 2 chips is compared with its own class's mean of the *other*
    n - 1 chips and with the other classes' full prototypes. A class's single chip has no
    held-out prototype of its own: its own distance is taken as the typical held-out distance
    of the other classes' chips (the median of their leave-one-out distances; with no class of
    >= 2 chips, there is nothing to compare with and the chip is reported unchecked). It can
    then only disagree when another class's prototype is nearer to it than chips usually lie
    from their own class mean.

    ``temperature`` None uses the calibrated per-chip rule of :func:`calibrated_probs` with
    ``reference`` (the image's median nearest-prototype distance; default: the median of the
    held-out distances computed here). Each dict: class_id, index (within the class's chips),
    predicted (class id), probability (of the predicted class), own_probability (of the
    clicked class), agrees (the predicted class is the clicked one), flagged (it is not, and
    own_probability < ``flag_below``: what to show the user), checked (bool), single (the
    class has one chip). :func:`disagreements` lists the flagged chips.
    """
    classes, rows, typical = _held_out_distances(support_emb)
    ref = reference if reference is not None else typical
    out = []
    for k, i, d, single in rows:
        ci = classes.index(k)
        checked = not single or typical is not None
        if single and typical is not None:
            d = d.copy()
            d[ci] = typical
        if not checked or len(classes) < 2:
            out.append(
                {
                    "class_id": k,
                    "index": i,
                    "predicted": k,
                    "probability": None,
                    "own_probability": None,
                    "agrees": True,
                    "flagged": False,
                    "checked": False,
                    "single": single,
                }
            )
            continue
        if temperature is None:
            p, _ = calibrated_probs(d[None], scale=scale, reference=ref)
            p = p[0]
        else:
            z = -(d - d.min()) / float(temperature)
            p = np.exp(z) / np.exp(z).sum()
        j = int(np.argmax(p))
        out.append(
            {
                "class_id": k,
                "index": i,
                "predicted": classes[j],
                "probability": float(p[j]),
                "own_probability": float(p[ci]),
                "agrees": classes[j] == k,
                "flagged": classes[j] != k and float(p[ci]) < flag_below,
                "checked": True,
                "single": single,
            }
        )
    return out


def _held_out_distances(
    support_emb: dict[int, np.ndarray | torch.Tensor],
) -> tuple[list[int], list[tuple[int, int, np.ndarray, bool]], float | None]:
    """Each support chip's squared distances to the prototypes, its own class's without it:
    (classes in id order, [(class, index, distances (K,), single)], the median held-out own
    distance or None where no class has >= 2 chips)."""
    classes = sorted(int(k) for k in support_emb)
    vecs = {k: _tensor(support_emb[k]) for k in classes}
    vecs = {k: v.reshape(-1, v.shape[-1]) for k, v in vecs.items()}
    centres = torch.stack([vecs[k].mean(0) for k in classes])
    rows: list[tuple[int, int, np.ndarray, bool]] = []  # class, index, distances (K,), single
    loo_own = []
    for ci, k in enumerate(classes):
        v = vecs[k]
        n = v.shape[0]
        d = squared_distances(v, centres).double().numpy()  # (n, K)
        if n >= 2:
            own = (n * centres[ci] - v) / (n - 1)  # mean of the other chips
            d[:, ci] = (v - own).double().square().sum(-1).numpy()
            loo_own.extend(d[:, ci].tolist())
        rows.extend((k, i, d[i], n == 1) for i in range(n))
    typical = float(np.median(loo_own)) if loo_own else None
    return classes, rows, typical


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """(N, K) probabilities -> p^(1/T) renormalised per row, float64. Order-preserving: every
    row keeps its argmax (ties stay ties); T > 1 softens, T = 1 returns them unchanged."""
    p = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0 or p.size == 0:
        return p.copy()
    z = np.log(np.maximum(p, 1e-300)) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def tempered_prediction(pred: Prediction, classes, temperature: float) -> Prediction:
    """The prediction with :func:`tempered` probabilities and the confidence of each chip's
    label read from them; the labels are kept as they are (probs columns follow ``classes``).
    A label that is not its row's argmax (a chip relabelled by the pixel vote) keeps that too."""
    probs = tempered(pred.probs, temperature)
    confidence = probs[np.arange(len(probs)), _label_columns(pred, classes)]
    return Prediction(probs.astype(np.float32), pred.labels, confidence.astype(np.float32))


def _label_columns(pred: Prediction, classes) -> np.ndarray:
    """(N,) the probs column of each chip's label (columns follow ``classes``)."""
    return np.searchsorted(np.asarray(classes), np.asarray(pred.labels))


def recalibrated_prediction(
    pred: Prediction, classes, slope_offset: tuple[float, float] = SINGLE_EXAMPLE_MAP
) -> Prediction:
    """The prediction with each chip's confidence c in its label mapped to
    sigmoid(slope logit(c) + offset) (``SINGLE_EXAMPLE_MAP``) and its other classes'
    probabilities scaled to share the rest as they did (equally where c was 1); labels are kept
    as they are (probs columns follow ``classes``)."""
    slope, offset = slope_offset
    p = np.asarray(pred.probs, dtype=np.float64)
    rows = np.arange(len(p))
    col = _label_columns(pred, classes)
    c = np.clip(p[rows, col], 1e-9, 1 - 1e-9)
    new = expit(slope * logit(c) + offset)
    rest = p.copy()
    rest[rows, col] = 0.0
    total = rest.sum(axis=1, keepdims=True)
    share = np.where(total > 1e-12, rest / np.maximum(total, 1e-300), 1.0 / max(p.shape[1] - 1, 1))
    probs = share * (1 - new)[:, None]
    probs[rows, col] = new
    return Prediction(probs.astype(np.float32), pred.labels, new.astype(np.float32))


def disagreements(check: list[dict]) -> list[dict]:
    """The flagged support chips of :func:`support_check`: held out, another class is predicted
    and their own class gets less than ``FLAG_BELOW``."""
    return [c for c in check if c["flagged"]]


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 15
) -> float:
    """ECE: sum over equal-width confidence bins of |mean confidence - accuracy| * bin share.

    confidence (N,) max probability in [0, 1]; correct (N,) bool; every chip weighs the same.
    Bins are [0, 1/n), ..., [(n-1)/n, 1] (a confidence of exactly 1 falls in the last one).
    """
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    corr = np.asarray(correct, dtype=np.float64).ravel()
    if conf.size == 0:
        return 0.0
    b = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    gap = np.abs(np.bincount(b, conf, n_bins) - np.bincount(b, corr, n_bins))
    return float(gap.sum() / conf.size) if n.sum() else 0.0


def chip_size_sensitivity(
    fractions: dict[int, list[float]],
    chip_size: int,
    ci_low: list[float],
    ci_high: list[float],
) -> dict:
    """How much class fractions move when the chip size is halved or doubled.

    fractions {chip size: [fraction per class]} must hold ``chip_size`` (the reported map) and
    any of its half / double; ci_low / ci_high the reported interval at ``chip_size``.
    Returns per class the largest absolute shift from the reported fraction, the interval's
    half-width, and whether the shift exceeds it (then the chip size, not only the support,
    limits the result), plus ``any_exceeds`` and the sizes compared.
    """
    base = np.asarray(fractions[chip_size], dtype=np.float64)
    others = [s for s in sorted(fractions) if s != chip_size]
    lo, hi = np.asarray(ci_low, dtype=np.float64), np.asarray(ci_high, dtype=np.float64)
    half = (hi - lo) / 2
    if not others:
        shift = np.zeros_like(base)
    else:
        moved = [np.abs(np.asarray(fractions[s], dtype=np.float64) - base) for s in others]
        shift = np.max(moved, axis=0)
    exceeds = shift > half
    return {
        "chip_size": int(chip_size),
        "compared": [int(s) for s in others],
        "max_shift": shift.tolist(),
        "half_width": half.tolist(),
        "exceeds": exceeds.tolist(),
        "any_exceeds": bool(exceeds.any()),
    }
