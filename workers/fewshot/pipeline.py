"""The one segmentation core, split where re-use pays: embed once -> fit to a support set ->
classify, many times.

    embedded = embed(image, encoder=enc, chip_size=32)              # the expensive step, cacheable
    seg = Segmenter.fit([embedded], [support], options=...,
                        encoder=enc)                          # prototypes, temperature
    result = seg.classify(embedded.embeddings[0], grid=embedded.grid,
                          pixels=embedded.frames[0])                 # labels, probs, statistics

Jobs (``platform/analysis/runner.py``), the benchmarks, the fine-tuning evaluation and streams
all go through these three steps; ``segment``/``segment_images`` chain them for one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from workers.fewshot.boundary import (
    BoundaryConfig,
    FrameSpectrum,
    frame_spectrum,
    refine_prediction,
    support_frequencies,
)
from workers.fewshot.chipping import ChipGrid, normalise
from workers.fewshot.classifier import (
    Prediction,
    calibrate_temperature,
    fit_prototypes,
    prediction_from_log_probs,
    refine_prototypes,
    smooth_log_probs,
    squared_distances,
)
from workers.fewshot.encoders import Encoder, build_encoder
from workers.fewshot.pixels import PixelFeatures, PixelMap, chip_shares, pixel_map
from workers.fewshot.stats import (
    abundance,
    bootstrap_counts,
    fraction_interval,
    interval_multiplier,
    interval_probs,
)
from workers.fewshot.uncertainty import (
    calibrated_probs,
    disagreements,
    support_check,
    temperature_scale,
)
from workers.fewshot.weighting import group_weights

__all__ = [
    "Embedded",
    "SegmentOptions",
    "Segmentation",
    "Segmenter",
    "deterministic",
    "embed",
    "embed_frames",
    "neighbour_fractions",
    "normalised_frames",
    "rescale_support",
    "segment",
    "segment_images",
]

Support = dict[int, list[tuple[int, int]]]


#: a chip relabelled by the pixel vote: the weight of its pixel shares against its classifier
#: probabilities in its reported probabilities (seen cases, k = 3 / 5, expected calibration
#: error: 0.5 -> 0.029 / 0.021, 0.75 -> 0.028 / 0.020, 1.0 -> 0.026 / 0.019: no real choice;
#: the mean keeps a disagreement visible)
VOTE_SHARE_WEIGHT = 0.5


@dataclass(frozen=True)
class SegmentOptions:
    """Classifier options (defaults are the measured best; see CONTRACT.md).

    temperature: float, "encoder" (the encoder's trained temperature, else auto) or "auto"
        (leave-one-out calibration on the support chips).
    refine: transductive prototype refinement with confident queries (threshold, weight).
    smooth: strength of the 4-neighbour smoothing of log probabilities (0 = off).
    bootstrap: number of support resamples for the abundance uncertainty (0 = off).
    seed: seeds the embedding (where an encoder is stochastic) and the bootstrap.
    boundary: re-decide chips on class boundaries by unmixing area-linear features against
        local prototypes (``workers.fewshot.boundary``; None = off). Their probabilities become
        the estimated class fractions of the chip.
    weighting: per-task weights of the encoder's feature groups chosen on the support chips
        ("loo": leave-one-out, ``workers.fewshot.weighting``; None = the embedding as is).
    calibration: "per-chip" (``uncertainty.calibrated_probs``: a temperature per chip from the
        image's own distances, so confidence means what it says on data the encoder never saw
        and a chip like no example is not shown as certain) or None (softmax at ``temperature``;
        labels are the same either way without smoothing).
    pixel_vote: make the pixel map (``workers.fewshot.pixels``, returned as
        ``Segmentation.pixel_map``) and give each chip the class most of its pixels have;
        a chip whose label changes gets the mean of its pixel shares and its classifier
        probabilities (so a disagreement shows as low confidence). Needs the frame's pixels.
        Chosen on the seen cases (k = 3: lattices 0.966 -> 0.979, particles 0.724 -> 0.739,
        textures 0.816 -> 0.839 chip mIoU).
    """

    temperature: float | str = "encoder"
    refine: bool = False
    refine_threshold: float = 0.9
    refine_weight: float = 1.0
    smooth: float = 0.0
    bootstrap: int = 200
    ci: float = 0.95
    seed: int = 0
    boundary: BoundaryConfig | None = field(default_factory=BoundaryConfig)
    weighting: str | None = "loo"
    calibration: str | None = "per-chip"
    pixel_vote: bool = True


@dataclass
class Embedded:
    """One image embedded once: frames (T, H, W) normalised pixels (None where not kept),
    grid, embeddings (T, rows, cols, D) float32."""

    frames: np.ndarray | None
    grid: ChipGrid
    embeddings: np.ndarray


@dataclass
class Segmentation:
    """Result for one frame.

    labels (rows, cols) int64 class ids; probs (rows, cols, K) float32, columns in the order of
    ``classes``; confidence (rows, cols) float32; stats (stats.abundance); timings (s per stage).
    """

    labels: np.ndarray
    probs: np.ndarray
    confidence: np.ndarray
    stats: dict
    timings: dict[str, float]
    grid: ChipGrid
    classes: tuple[int, ...] = ()
    temperature: float = 1.0
    pixel_map: PixelMap | None = None


# torch imports its compiler stack (~1.2 s) on the first use_deterministic_algorithms() call:
# pay that once when the engine is imported (worker start-up), not inside the first segmentation.
torch.use_deterministic_algorithms(
    torch.are_deterministic_algorithms_enabled(),
    warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
)


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch and enable deterministic torch kernels for the duration (restored after)."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block, and restore the process's setting after
    (a worker runs other jobs afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def single_thread():
    """Run small tensor ops on one thread: classifying a few thousand chips is dominated by
    thread hand-offs otherwise (10x slower on a busy machine)."""
    return torch_threads(1)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._t
        self._t = now

    def rounded(self) -> dict[str, float]:
        out = {k: round(v, 4) for k, v in self.timings.items()}
        out["total"] = round(sum(self.timings.values()), 4)
        return out


def normalised_frames(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C) or (T, H, W) pixels -> (T, H, W) float32 as the encoders see them
    (``chipping.normalise``: percentiles pooled over a stack's frames)."""
    norm = normalise(image)
    return norm[None] if norm.ndim == 2 else norm


def embed(
    image: np.ndarray,
    *,
    encoder: Encoder,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    seed: int = 0,
    keep_frames: bool = True,
) -> Embedded:
    """Embed every chip of an image or frame stack: (H, W) | (H, W, 3) | (T, H, W) -> Embedded.

    A stack is normalised with percentiles pooled over its frames (frames stay comparable);
    every frame is embedded whole, batched. ``keep_frames`` keeps the normalised pixels, which
    boundary refinement needs.
    """
    out = embed_frames(
        normalised_frames(image), encoder=encoder, chip_size=chip_size, offset=offset, seed=seed
    )
    return out if keep_frames else Embedded(None, out.grid, out.embeddings)


def embed_frames(
    frames: np.ndarray,
    *,
    encoder: Encoder,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    seed: int = 0,
) -> Embedded:
    """``embed`` for frames already normalised by ``normalised_frames``: (T, H, W) -> Embedded."""
    grid = ChipGrid.for_shape(frames.shape[1:], chip_size, offset)
    with deterministic(seed):
        out = [np.asarray(encoder.embed(frame, grid), dtype=np.float32) for frame in frames]
    return Embedded(frames, grid, np.stack(out))


def resolve_temperature(
    choice: float | str,
    *,
    encoder_temperature: float | None,
    support_emb: dict[int, torch.Tensor],
) -> float:
    """A number, "encoder" (the encoder's trained temperature, else calibrated) or "auto"."""
    if choice == "encoder" and encoder_temperature is not None:
        return float(encoder_temperature)
    if choice in ("encoder", "auto"):
        return calibrate_temperature(support_emb)
    return float(choice)


class Segmenter:
    """Prototypes fitted once on pooled support embeddings; classifies any number of grids.

    Class ids are any non-negative ints (usually 0..K-1); probability columns follow
    ``classes`` (sorted ids), labels hold ids, and statistics lists are indexed by id (length
    max id + 1; absent ids count 0).
    """

    def __init__(
        self,
        support_emb: dict[int, np.ndarray],
        *,
        options: SegmentOptions | None = None,
        encoder_temperature: float | None = None,
        encoder_name: str | None = None,
        frequencies: np.ndarray | None = None,
        groups: Sequence[tuple[str, slice]] | None = None,
        support_chips: dict[int, list[tuple[int, int, int]]] | None = None,
    ) -> None:
        """support_emb {class id: (n_k, D)}; encoder_temperature and encoder_name of the
        encoder that embedded them (its trained temperature; the interval's multiplier);
        ``frequencies`` the support chips' spectral peaks (``boundary.support_frequencies``),
        required with boundary refinement; ``groups`` the encoder's feature groups (group
        weighting); support_chips {class id: [(image index, row, col)]} in the order of
        support_emb's rows (names the chips of the support check)."""
        self.options = opts = options or SegmentOptions()
        self.classes = tuple(sorted(int(k) for k, v in support_emb.items() if len(v)))
        if len(self.classes) < 2 or self.classes[0] < 0:
            raise ValueError(
                f"support needs >= 2 classes with ids >= 0 and >= 1 chip, got {self.classes}"
            )
        if opts.boundary is not None and frequencies is None:
            raise ValueError(
                "boundary refinement needs the support chips' frequencies "
                "(workers.fewshot.boundary.support_frequencies)"
            )
        self.frequencies = frequencies
        self.encoder_name = encoder_name
        self.support = {
            k: torch.as_tensor(np.asarray(support_emb[k], np.float32)) for k in self.classes
        }
        # per-task weights of the encoder's feature groups (``groups``: Encoder.groups), applied
        # to support and query embeddings alike
        self.weights = None
        if opts.weighting is not None and groups:
            w = group_weights(
                {k: v.numpy() for k, v in self.support.items()}, groups, method=opts.weighting
            )
            if np.any(w != 1):
                self.weights = torch.as_tensor(w, dtype=torch.float32)
                self.support = {k: v * self.weights for k, v in self.support.items()}
        with single_thread():
            self.protos = fit_prototypes(self.support)
            self.temperature = resolve_temperature(
                opts.temperature, encoder_temperature=encoder_temperature, support_emb=self.support
            )
            # the per-chip calibration's scale: one example per class is less sure than several
            self.calibration_scale = temperature_scale(min(len(v) for v in self.support.values()))
            # held out, each example is scored like a query chip: with the per-chip
            # calibration when it is on, else at the job's temperature
            self.support_check = _support_check(
                self.support,
                None if opts.calibration == "per-chip" else self.temperature,
                support_chips,
            )

    @classmethod
    def fit(
        cls,
        images: Sequence[Embedded],
        support: Sequence[Support],
        *,
        encoder: Encoder,
        options: SegmentOptions | None = None,
    ) -> Segmenter:
        """Fit to support chips {class id: [(row, col)]} picked on frame 0 of each image
        (``support[i]`` belongs to ``images[i]`` and may be empty); classes are pooled.
        ``encoder``: the one that embedded the images (its trained temperature and name)."""
        opts = options or SegmentOptions()
        if len(support) != len(images):
            raise ValueError(f"need one support dict per image ({len(images)}), got {len(support)}")
        pooled: dict[int, list[np.ndarray]] = {}
        chips_of: dict[int, list[tuple[int, int, int]]] = {}
        for i, (img, chips) in enumerate(zip(images, support, strict=True)):
            for k, positions in chips.items():
                if len(positions):
                    flat = img.embeddings[0].reshape(img.grid.n_chips, -1)
                    index = [img.grid.index(int(r), int(c)) for r, c in positions]
                    pooled.setdefault(int(k), []).append(flat[index])
                    chips_of.setdefault(int(k), []).extend(
                        (i, int(r), int(c)) for r, c in positions
                    )
        frequencies = None
        if opts.boundary is not None:
            if any(img.frames is None for img in images):
                raise ValueError("boundary refinement needs the images' frames (keep_frames)")
            frequencies = support_frequencies(
                [img.frames[0] for img in images],
                [img.grid for img in images],
                support,
                n_peaks=opts.boundary.n_peaks,
            )
        return cls(
            {k: np.concatenate(v) for k, v in pooled.items()},
            options=opts,
            encoder_temperature=getattr(encoder, "default_temperature", None),
            encoder_name=getattr(encoder, "name", None),
            frequencies=frequencies,
            groups=getattr(encoder, "groups", None),
            support_chips=chips_of,
        )

    def classify(
        self,
        emb: np.ndarray,
        *,
        grid: ChipGrid,
        pixels: np.ndarray | None = None,
        pixel_size: float | None = None,
        pixel_unit: str | None = None,
        support: Support | None = None,
        spectrum: FrameSpectrum | None = None,
        pixel_features: PixelFeatures | None = None,
    ) -> Segmentation:
        """Label one grid of embeddings (rows, cols, D); with boundary refinement ``pixels`` is
        the normalised frame (H, W) that ``grid`` cuts. ``support``: the example chips clicked
        on this grid {class id: [(row, col)]}, whose class the fraction interval takes as known
        (their labels stay the model's: disagreements are reported, see ``support_check``).
        ``spectrum``: ``boundary.frame_spectrum(pixels, grid)``, which does not depend on the
        support set: a caller re-running the same frame passes it to skip a whole-frame FFT;
        ``pixel_features`` (``pixels.PixelFeatures(grid)``), kept the same way, keeps the
        frame's boundary and pixel features computed here: a re-run after a support-set edit
        then only classifies. Neither changes the result."""
        opts, timer = self.options, _Timer()
        rows, cols, dim = emb.shape
        if (grid.rows, grid.cols) != (rows, cols):
            raise ValueError(f"{grid.rows}x{grid.cols} grid for {rows}x{cols} embeddings")
        features = None
        if (opts.boundary is not None or opts.pixel_vote) and pixels is None:
            raise ValueError("boundary refinement and the pixel vote need the frame's pixels")
        if opts.boundary is not None or opts.pixel_vote:
            # the frame's features, for both steps (each computed its own spectrum before;
            # without frequencies, no Gabor features need it)
            if spectrum is None and self.frequencies is not None:
                spectrum = frame_spectrum(pixels, grid)
            if pixel_features is None:
                pixel_features = PixelFeatures(grid)
        if opts.boundary is not None:
            # FFTs of a whole frame: worth the threads that the small steps below do without
            features = pixel_features.chip_features(pixels, self.frequencies, spectrum)
            timer.lap("boundary")
        with deterministic(opts.seed), single_thread():
            q = torch.as_tensor(np.ascontiguousarray(emb, np.float32)).reshape(-1, dim)
            if self.weights is not None:
                q = q * self.weights
            protos = self.protos
            if opts.refine:
                protos = refine_prototypes(
                    q,
                    protos,
                    self.temperature,
                    threshold=opts.refine_threshold,
                    query_weight=opts.refine_weight,
                )
            dist = squared_distances(q, protos.centres)
            if opts.calibration == "per-chip":
                probs, _ = calibrated_probs(dist, scale=self.calibration_scale)
                logp = torch.from_numpy(np.log(np.maximum(probs, 1e-30))).float()
            else:
                logp = torch.log_softmax(-dist / self.temperature, dim=-1)
            if opts.smooth > 0:
                logp = smooth_log_probs(logp.reshape(rows, cols, -1), strength=opts.smooth)
                logp = logp.reshape(rows * cols, -1)
            pred = prediction_from_log_probs(logp, protos)
            timer.lap("classify")
            decided = None
            if features is not None:
                unmixed, decided = refine_prediction(pred, features, protos.classes, opts.boundary)
                pred = _mixed_prediction(pred, unmixed, decided, protos.classes)
                timer.lap("boundary")
        pm = None
        if opts.pixel_vote:  # whole-frame work: with the threads the steps above do without
            pm, pred, voted = self._pixel_vote(
                pred, pixels, grid, support, spectrum, pixel_features
            )
            decided = voted if decided is None else (decided | voted)
            timer.lap("pixels")
        with deterministic(opts.seed), single_thread():
            boot = None
            n_ids = self.classes[-1] + 1
            if opts.bootstrap > 0:
                # unmixing and the pixel vote do not use the prototypes: their chips keep
                # their label in every support resample (else the interval is centred on
                # other labels); counted in blocks, never as (B, N) labels
                boot = bootstrap_counts(
                    q,
                    self.support,
                    n_classes=n_ids,
                    n_resamples=opts.bootstrap,
                    seed=opts.seed,
                    fixed=None if decided is None else np.where(decided, pred.labels, -1),
                )
            probs_by_id = np.zeros((rows * cols, n_ids), np.float32)
            probs_by_id[:, list(self.classes)] = pred.probs
            labels = pred.labels.reshape(rows, cols).astype(np.int64)
            # the interval covers the map's errors: the clicked chips count as known
            clicked = {k: [grid.index(r, c) for r, c in v] for k, v in (support or {}).items()}
            interval = fraction_interval(
                interval_probs(probs_by_id, support=clicked),
                np.bincount(labels.ravel(), minlength=n_ids) / labels.size,
                multiplier=interval_multiplier(self.encoder_name),
                ci=opts.ci,
            )
            stats = abundance(
                labels,
                probs_by_id,
                n_classes=n_ids,
                chip_area_px=grid.chip_size**2,
                pixel_size=pixel_size,
                pixel_unit=pixel_unit,
                bootstrap_counts=boot,
                ci=opts.ci,
                interval=interval,
            )
            stats["temperature"] = self.temperature
            stats["calibration"] = opts.calibration or "encoder temperature"
            stats["support_check"] = self.support_check
            timer.lap("statistics")
        return Segmentation(
            labels=labels,
            probs=pred.probs.reshape(rows, cols, -1).astype(np.float32),
            confidence=pred.confidence.reshape(rows, cols).astype(np.float32),
            stats=stats,
            timings=timer.rounded(),
            grid=grid,
            classes=self.classes,
            temperature=self.temperature,
            pixel_map=pm,
        )

    def _pixel_vote(
        self,
        pred: Prediction,
        pixels: np.ndarray,
        grid: ChipGrid,
        support: Support | None,
        spectrum: FrameSpectrum | None,
        pixel_features: PixelFeatures | None = None,
    ) -> tuple[PixelMap, Prediction, np.ndarray]:
        """The pixel map of the frame from the chip prediction, and the prediction with each
        chip's label the majority of its pixels (chips changed: ``voted``, flat)."""
        rows, cols = grid.rows, grid.cols
        chips = Segmentation(
            labels=pred.labels.reshape(rows, cols),
            probs=pred.probs.reshape(rows, cols, -1),
            confidence=pred.confidence.reshape(rows, cols),
            stats={},
            timings={},
            grid=grid,
            classes=self.classes,
        )
        pm = pixel_map(
            pixels,
            chips,
            frequencies=self.frequencies,
            support=support,
            spectrum=spectrum,
            features=pixel_features,
        )
        shares = chip_shares(pm.labels, grid, self.classes)
        covered = shares.sum(1) > 0
        col = np.searchsorted(np.asarray(self.classes), pred.labels)
        voted = covered & (shares.argmax(1) != col)
        if not voted.any():
            return pm, pred, voted
        probs = pred.probs.copy()
        w = VOTE_SHARE_WEIGHT
        probs[voted] = (1 - w) * probs[voted] + w * shares[voted]
        labels = pred.labels.copy()
        labels[voted] = np.asarray(self.classes)[shares[voted].argmax(1)]
        own = probs[np.arange(len(probs)), np.searchsorted(np.asarray(self.classes), labels)]
        confidence = np.where(voted, own, pred.confidence)
        return (
            pm,
            Prediction(probs.astype(np.float32), labels, confidence.astype(np.float32)),
            voted,
        )


def _mixed_prediction(
    before: Prediction, unmixed: Prediction, decided: np.ndarray, classes: Sequence[int]
) -> Prediction:
    """Re-decided boundary chips keep the unmixing's label; their probabilities average the
    unmixed class fractions (an estimate of area) with the classifier's probabilities, and
    their confidence is the probability of that label. Where the two disagree, e.g. a faint
    particle chip unmixed as support against a bright particle's interior, the chip is shown
    as unsure rather than as certain of an area estimate. Columns follow ``classes``."""
    if not decided.any():
        return unmixed
    probs = unmixed.probs.copy()
    probs[decided] = 0.5 * (unmixed.probs[decided] + before.probs[decided])
    own = probs[np.arange(len(probs)), np.searchsorted(np.asarray(classes), unmixed.labels)]
    confidence = np.where(decided, own, unmixed.confidence)
    return Prediction(probs.astype(np.float32), unmixed.labels, confidence.astype(np.float32))


def rescale_support(
    support: Support, factor: float, grid: ChipGrid, labels: np.ndarray | None = None
) -> Support:
    """Support chips {class: [(row, col)]} of an s px grid moved to ``grid`` (s * factor px,
    same offset): factor 0.5 gives the four chips inside each example, 2 the chip containing it
    (with ``labels``, the s px map's labels (rows, cols), only where the map gives all four of
    its s px chips the example's class: a 2s chip around a small particle is mostly support).
    Chips outside ``grid`` and chips claimed by two classes are left out."""
    if factor == 0.5:
        moved = {
            k: [(2 * r + i, 2 * c + j) for r, c in v for i in (0, 1) for j in (0, 1)]
            for k, v in support.items()
        }
    elif factor == 2:
        moved = {k: sorted({(r // 2, c // 2) for r, c in v}) for k, v in support.items()}
        if labels is not None:
            moved = {
                k: [
                    (r, c)
                    for r, c in v
                    if (labels[2 * r : 2 * r + 2, 2 * c : 2 * c + 2] == k).all()
                ]
                for k, v in moved.items()
            }
    else:
        raise ValueError(f"chip size factor must be 0.5 or 2, got {factor}")
    owners: dict[tuple[int, int], set[int]] = {}
    for k, v in moved.items():
        for rc in v:
            owners.setdefault(rc, set()).add(k)
    return {
        k: [(r, c) for r, c in v if r < grid.rows and c < grid.cols and len(owners[(r, c)]) == 1]
        for k, v in moved.items()
    }


def neighbour_fractions(
    frames: Sequence[np.ndarray],
    support: Sequence[Support],
    *,
    encoder: Encoder,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    options: SegmentOptions | None = None,
    targets: Sequence[int] = (0,),
    max_chips: int = 16_384,
    embedder: Callable[[int, int], Embedded] | None = None,
    labels: Sequence[np.ndarray | None] | None = None,
) -> dict[int, list[list[float]]]:
    """Class fractions of the ``targets`` images at half and double the chip size.

    frames: one normalised frame (H, W) per image (``normalised_frames(...)[0]``); support: the
    chips picked on each at ``chip_size`` (moved by ``rescale_support``). Returns {chip size:
    [fractions per target]} for each neighbouring size that is >= 8 px, fits the images, keeps
    >= 1 chip of every class and cuts at most ``max_chips`` chips in all (no bootstrap: only the
    labels are compared). Feeds ``uncertainty.chip_size_sensitivity``. ``embedder(i, size)``
    gives image i embedded at ``size`` (a job's goes through its embeddings cache); by default
    frame i is embedded here. ``labels``: each image's map at ``chip_size`` (or None), which
    decides where an example still holds at double the chip size (``rescale_support``).
    """
    opts = replace(options or SegmentOptions(), bootstrap=0)
    shortest = min(min(f.shape) for f in frames)
    out: dict[int, list[list[float]]] = {}
    for factor in (0.5, 2):
        size = int(chip_size * factor)
        if size < 8 or size > shortest - max(offset):
            continue
        grids = [ChipGrid.for_shape(f.shape, size, offset) for f in frames]
        if sum(g.n_chips for g in grids) > max_chips:
            continue
        moved = [
            rescale_support(sup, factor, g, None if labels is None else labels[i])
            for i, (sup, g) in enumerate(zip(support, grids, strict=True))
        ]
        classes = {k for sup in support for k, v in sup.items() if v}
        if {k for sup in moved for k, v in sup.items() if v} != classes:
            continue
        embedded = [
            embedder(i, size)
            if embedder is not None
            else embed_frames(
                f[None], encoder=encoder, chip_size=size, offset=offset, seed=opts.seed
            )
            for i, f in enumerate(frames)
        ]
        segmenter = Segmenter.fit(embedded, moved, encoder=encoder, options=opts)
        out[size] = [
            segmenter.classify(
                embedded[i].embeddings[0], grid=embedded[i].grid, pixels=frames[i]
            ).stats["fractions"]
            for i in targets
        ]
    return out


def _support_check(
    support: dict[int, torch.Tensor],
    temperature: float | None,
    chips: dict[int, list[tuple[int, int, int]]] | None,
) -> dict:
    """Every support chip classified leave-one-out (``uncertainty.support_check``), as a
    JSON-ready summary: how many were checked and the examples the model would label otherwise
    (most confident first), each with its class, predicted class and probability, and its
    (image index, row, col)."""
    check = support_check(support, temperature)
    disagree = []
    for c in disagreements(check):
        item = {
            "class": c["class_id"],
            "predicted": c["predicted"],
            "probability": round(c["probability"], 4),
        }
        if chips is not None:
            item["image"], item["row"], item["col"] = chips[c["class_id"]][c["index"]]
        disagree.append(item)
    # most confident first: one wrong example also pulls its class's held-out prototype, so the
    # right examples of that class can follow it, less surely
    disagree.sort(key=lambda d: -d["probability"])
    return {
        "method": "leave-one-out: each example against prototypes built without it",
        "n_checked": sum(c["checked"] for c in check),
        "n_examples": len(check),
        "disagree": disagree,
    }


def segment(
    image: np.ndarray,
    *,
    chip_size: int,
    support: Support,
    encoder: Encoder | str = "default",
    offset: tuple[int, int] = (0, 0),
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    options: SegmentOptions | None = None,
) -> Segmentation:
    """Segment one image from support chips {class id: [(row, col), ...]} (see segment_images)."""
    return segment_images(
        [image],
        chip_size=chip_size,
        support=[support],
        encoder=encoder,
        offset=offset,
        pixel_size=pixel_size,
        pixel_unit=pixel_unit,
        options=options,
    )[0]


def segment_images(
    images: Sequence[np.ndarray],
    *,
    chip_size: int,
    support: Sequence[Support],
    encoder: Encoder | str = "default",
    offset: tuple[int, int] = (0, 0),
    pixel_size: float | Sequence[float | None] | None = None,
    pixel_unit: str | None = None,
    options: SegmentOptions | None = None,
) -> list[Segmentation]:
    """Segment several images (frame 0 of each) with one pooled support set: ``embed`` each,
    ``Segmenter.fit`` on all, ``classify`` each. Timings add the embedding and fitting stages
    to each result's classification stages."""
    opts = options or SegmentOptions()
    sizes = list(pixel_size) if isinstance(pixel_size, Sequence) else [pixel_size] * len(images)
    enc = build_encoder(encoder) if isinstance(encoder, str) else encoder
    timer = _Timer()
    embedded = [
        embed(img, encoder=enc, chip_size=chip_size, offset=offset, seed=opts.seed)
        for img in images
    ]
    timer.lap("embed")
    segmenter = Segmenter.fit(embedded, support, encoder=enc, options=opts)
    timer.lap("prototypes")
    results = []
    for img, size, chips in zip(embedded, sizes, support, strict=True):
        seg = segmenter.classify(
            img.embeddings[0],
            grid=img.grid,
            pixels=img.frames[0],
            pixel_size=size,
            pixel_unit=pixel_unit,
            support=chips,
        )
        stages = {**timer.timings, **{k: v for k, v in seg.timings.items() if k != "total"}}
        seg.timings = {k: round(v, 4) for k, v in stages.items()}
        seg.timings["total"] = round(sum(stages.values()), 4)
        results.append(seg)
    return results
