"""Segmenter: prototypes fitted once on pooled support embeddings; classifies any number of
grids (labels, calibrated probabilities, boundary and pixel refinement, statistics)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from workers.fewshot.boundary import FrameSpectrum, frame_spectrum, refine_prediction
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.classifier import (
    Prediction,
    fit_prototypes,
    prediction_from_log_probs,
    refine_prototypes,
    resolve_temperature,
    smooth_log_probs,
    squared_distances,
)
from workers.fewshot.encoders import Encoder
from workers.fewshot.frequencies import support_frequencies
from workers.fewshot.interval import fraction_interval, interval_multiplier, interval_probs
from workers.fewshot.pipeline.options import Embedded, Segmentation, SegmentOptions, Support
from workers.fewshot.pipeline.runtime import Timer, deterministic, single_thread
from workers.fewshot.pipeline.shifted import shifted_copies
from workers.fewshot.pipeline.support import support_check_summary
from workers.fewshot.pipeline.taskspace import fit_task_space
from workers.fewshot.pipeline.voting import mixed_prediction, pixel_vote
from workers.fewshot.pixels import PixelFeatures
from workers.fewshot.spatial import smoothed_log_probs
from workers.fewshot.spectral_peaks import SupportPeaks, fit_support_peaks
from workers.fewshot.stats import (
    abundance,
    bootstrap_counts,
    labels_beforehand,
)
from workers.fewshot.uncertainty import (
    calibrated_probs,
    recalibrated_prediction,
    smoothed_temperature,
    temperature_scale,
    tempered_prediction,
)


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
        copies: dict[int, np.ndarray] | None = None,
    ) -> None:
        """support_emb {class id: (n_k, D)}; encoder_temperature and encoder_name of the
        encoder that embedded them (its trained temperature; the interval's multiplier);
        ``frequencies`` the support chips' spectral peaks (``frequencies.support_frequencies``),
        required with boundary refinement; ``groups`` the encoder's feature groups (group
        weighting); support_chips {class id: [(image index, row, col)]} in the order of
        support_emb's rows (names the chips of the support check); ``copies`` {class id:
        (n, D)} shifted copies of the support chips (``pipeline.shifted``), to which the task
        space and the prototypes are fitted as well."""
        self.options = opts = options or SegmentOptions()
        self.classes = tuple(sorted(int(k) for k, v in support_emb.items() if len(v)))
        if len(self.classes) < 2 or self.classes[0] < 0:
            raise ValueError(
                f"support needs >= 2 classes with ids >= 0 and >= 1 chip, got {self.classes}"
            )
        if opts.boundary is not None and frequencies is None:
            raise ValueError(
                "boundary refinement needs the support chips' frequencies "
                "(workers.fewshot.frequencies.support_frequencies)"
            )
        self.frequencies = frequencies
        # the support-peak group (``spectral_peaks``), set by ``fit`` when it appended one
        self.peaks: SupportPeaks | None = None
        self.encoder_name = encoder_name
        self.support = {
            k: torch.as_tensor(np.asarray(support_emb[k], np.float32)) for k in self.classes
        }
        # the task's space (group weights, then the metric), applied to queries alike; the
        # support check reads the support before the metric
        self.space, self.support, checked, fitted = fit_task_space(
            self.support, opts, groups, copies
        )
        with single_thread():
            self.protos = fit_prototypes(fitted)
            self.temperature = resolve_temperature(
                opts.temperature, encoder_temperature=encoder_temperature, support_emb=self.support
            )
            # the per-chip calibration's scale: one example per class is less sure than several
            # (times the metric's factor: as sure as Euclidean distances were, metric.py)
            smallest = min(len(v) for v in self.support.values())
            self.calibration_scale = temperature_scale(smallest) * self.space.calibration_factor
            # its final confidence is mapped as fitted on the per-chip calibration's
            self.single_example = smallest <= 1 and opts.calibration == "per-chip"
            # held out, each example is scored like a query chip: with the per-chip
            # calibration when it is on, else at the job's temperature
            self.support_check = support_check_summary(
                checked,
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
        ``encoder``: the one that embedded the images (temperature, name; the shifted examples)."""
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
                memos=[img.memo for img in images],  # kept for the next fit
            )
        support_emb = {k: np.concatenate(v) for k, v in pooled.items()}
        groups = getattr(encoder, "groups", None)
        # the group is gated by the per-task weighting (off unless it removes a held-out
        # error): without the weighting it would always count
        gated = opts.peaks and opts.task_weighting is not None
        peaks = fit_support_peaks(images, support, support_emb, frequencies) if gated else None
        if peaks is not None:
            support_emb, groups = peaks.augmented_support, peaks.groups(groups or [])
        copies = shifted_copies(images, support, encoder=encoder, peaks=peaks, options=opts)
        segmenter = cls(
            support_emb,
            options=opts,
            encoder_temperature=getattr(encoder, "default_temperature", None),
            encoder_name=getattr(encoder, "name", None),
            frequencies=frequencies,
            groups=groups,
            support_chips=chips_of,
            copies=copies,
        )
        segmenter.peaks = peaks
        return segmenter

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
        opts, timer = self.options, Timer()
        rows, cols, _ = emb.shape
        if (grid.rows, grid.cols) != (rows, cols):
            raise ValueError(f"{grid.rows}x{grid.cols} grid for {rows}x{cols} embeddings")
        features, spectrum, pixel_features = self._frame_features(
            pixels, grid, spectrum, pixel_features, timer
        )
        q, pred, decided, smoothed = self._predict(emb, features, timer)
        pm, resampled = None, None
        if opts.pixel_vote:  # one thread: split in two, its steps stalled on a busy CPU (~6x)
            # the support bootstrap's labels do not depend on the vote: made beside it on the
            # other core, one torch thread there too (the chips the vote fixes are applied when
            # they are counted)
            beside = ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(1,))
            with single_thread(), beside as pool:
                early = pool.submit(
                    labels_beforehand, q, self.support, opts.bootstrap, seed=opts.seed
                )
                pm, pred, voted = pixel_vote(
                    pred,
                    pixels,
                    grid,
                    support,
                    spectrum,
                    pixel_features,
                    classes=self.classes,
                    frequencies=self.frequencies,
                    object_classes=opts.object_classes if opts.object_edges else (),
                    object_kinds=opts.object_kinds,
                    config=opts.pixel_config,
                )
                resampled = early.result()
            decided = voted if decided is None else (decided | voted)
            timer.lap("pixels")
        if smoothed:  # the prior's probabilities are over-confident: tempered, labels kept
            pred = tempered_prediction(pred, self.classes, smoothed_temperature(self.encoder_name))
        elif self.single_example:  # no prior: Platt scaling fitted for one example per class
            pred = recalibrated_prediction(pred, self.classes)
        labels, stats = self._statistics(
            q, pred, decided, grid, support, pixel_size, pixel_unit, timer, resampled
        )
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
            cpu_timings={k: round(v, 4) for k, v in timer.cpu.items()},
        )

    def _frame_features(
        self,
        pixels: np.ndarray | None,
        grid: ChipGrid,
        spectrum: FrameSpectrum | None,
        pixel_features: PixelFeatures | None,
        timer: Timer,
    ) -> tuple[np.ndarray | None, FrameSpectrum | None, PixelFeatures | None]:
        """The frame's support-independent inputs of boundary refinement and the pixel vote:
        (boundary chip features or None, spectrum, pixel features)."""
        opts = self.options
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
        if opts.pixel_vote and self.frequencies is not None:  # the vote's, threaded here
            pixel_features.matrix(pixels, np.asarray(self.frequencies).reshape(-1, 2), spectrum)
            timer.lap("pixels")
        return features, spectrum, pixel_features

    def _predict(
        self, emb: np.ndarray, features: np.ndarray | None, timer: Timer
    ) -> tuple[torch.Tensor, Prediction, np.ndarray | None, bool]:
        """The chip classifier: (weighted query embeddings (N, D), prediction, chips re-decided
        by boundary refinement (flat) or None, whether the spatial prior smoothed it)."""
        opts = self.options
        rows, cols, dim = emb.shape
        with deterministic(opts.seed), single_thread():
            q = torch.as_tensor(np.ascontiguousarray(emb, np.float32)).reshape(-1, dim)
            if self.peaks is not None and features is not None:
                q = self.peaks.augment(q, features)
            q = self.space(q)
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
            smoothed = opts.mean_field > 0 and min(map(len, self.support.values())) >= 2
            if smoothed:
                logp = smoothed_log_probs(logp, (rows, cols), opts.mean_field, emb=q)
            pred = prediction_from_log_probs(logp, protos)
            timer.lap("classify")
            decided = None
            if features is not None:
                unmixed, decided = refine_prediction(pred, features, protos.classes, opts.boundary)
                pred = mixed_prediction(pred, unmixed, decided, protos.classes)
                timer.lap("boundary")
        return q, pred, decided, smoothed

    def _statistics(
        self,
        q: torch.Tensor,
        pred: Prediction,
        decided: np.ndarray | None,
        grid: ChipGrid,
        support: Support | None,
        pixel_size: float | None,
        pixel_unit: str | None,
        timer: Timer,
        resampled: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict]:
        """Labels (rows, cols) int64 and the statistics: abundance with the support bootstrap
        (``resampled``: its labels made beforehand, or None) and the fraction interval,
        temperature, calibration, support check."""
        opts = self.options
        rows, cols = grid.rows, grid.cols
        with deterministic(opts.seed), single_thread():
            boot = None
            n_ids = self.classes[-1] + 1
            if opts.bootstrap > 0:
                # unmixing and the pixel vote do not use the prototypes: their chips keep
                # their label in every support resample (else the interval is centred on
                # other labels); counted in blocks, or from the labels made beside the vote
                boot = bootstrap_counts(
                    q,
                    self.support,
                    n_classes=n_ids,
                    n_resamples=opts.bootstrap,
                    seed=opts.seed,
                    fixed=None if decided is None else np.where(decided, pred.labels, -1),
                    labels=resampled,
                )
            probs_by_id = np.zeros((rows * cols, n_ids), np.float32)
            probs_by_id[:, list(self.classes)] = pred.probs
            labels = pred.labels.reshape(rows, cols).astype(np.int64)
            # the interval covers the map's errors: the clicked chips count as known
            clicked = {k: [grid.index(r, c) for r, c in v] for k, v in (support or {}).items()}
            interval = fraction_interval(
                interval_probs(probs_by_id, support=clicked),
                np.bincount(labels.ravel(), minlength=n_ids) / labels.size,
                multiplier=interval_multiplier(
                    self.encoder_name, min(map(len, self.support.values()))
                ),
                ci=opts.ci,
                known=np.array([len(set(clicked.get(k, ()))) for k in range(n_ids)])
                / (rows * cols),
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
        return labels, stats
