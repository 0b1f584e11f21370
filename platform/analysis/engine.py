"""The few-shot engine, split at the embeddings so that re-runs only re-classify.

``workers.fewshot.pipeline.segment_images`` embeds and classifies in one call; a job instead
embeds each image once (or takes the embeddings from the cache), pools the support embeddings
and classifies every (image, frame) with the engine's own classifier and statistics. Pure
numpy/torch (no Django) so that it can be tested and benchmarked on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from workers.fewshot.boundary import chip_features, refine_prediction
from workers.fewshot.chipping import ChipGrid, normalise
from workers.fewshot.classifier import (
    calibrate_temperature,
    fit_prototypes,
    log_probs,
    prediction_from_log_probs,
    refine_prototypes,
    smooth_log_probs,
)
from workers.fewshot.pipeline import deterministic
from workers.fewshot.stats import abundance, bootstrap_labels


@contextmanager
def single_thread() -> Iterator[None]:
    """Run small tensor ops on one thread: classifying a few thousand chips is dominated by
    thread hand-offs otherwise (10x slower on a busy machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Options:
    """Classifier options of a job (a subset of ``workers.fewshot.pipeline.SegmentOptions``)."""

    temperature: float | str = "encoder"
    refine: bool = False
    smooth: float = 0.0
    bootstrap: int = 200
    seed: int = 0
    boundary: bool = False

    @classmethod
    def from_params(cls, params: dict) -> Options:
        """Options of a job's params; a job from before boundary refinement (no "boundary"
        param) re-runs without it, as it first ran (new jobs record it, see DEFAULT_PARAMS)."""
        return cls(
            temperature=params.get("temperature", "encoder"),
            refine=bool(params.get("refine", False)),
            smooth=float(params.get("smooth", 0.0)),
            bootstrap=int(params.get("bootstrap", 200)),
            seed=int(params.get("seed", 0)),
            boundary=bool(params.get("boundary", False)),
        )


@dataclass
class FrameResult:
    """labels (rows, cols) class indices, probs (rows, cols, K), confidence (rows, cols), stats."""

    labels: np.ndarray
    probs: np.ndarray
    confidence: np.ndarray
    stats: dict


def normalised_frames(data: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C) or (T, H, W) pixels -> (T, H, W) float32 (percentiles pooled)."""
    norm = normalise(data)
    return norm[None] if norm.ndim == 2 else norm


def embed_frames(
    data: np.ndarray, *, encoder, chip_size: int, offset: tuple[int, int], seed: int = 0
) -> np.ndarray:
    """Embed every chip of an image or frame stack: (H, W) | (T, H, W) -> (T, rows, cols, D).

    A stack is normalised with percentiles pooled over its frames (frames stay comparable),
    like ``workers.fewshot.chipping.normalise``; every frame is embedded whole, batched.
    """
    frames = normalised_frames(data)
    grid = ChipGrid.for_shape(frames.shape[1:], chip_size, offset)
    if grid.rows < 1 or grid.cols < 1:
        raise ValueError(f"no {chip_size}px chip fits in a {frames.shape[1:]} image")
    with deterministic(seed):
        out = [np.asarray(encoder.embed(frame, grid), dtype=np.float32) for frame in frames]
    return np.stack(out)


def resolve_temperature(
    choice, *, encoder_temperature: float | None, support_emb: dict[int, torch.Tensor]
) -> float:
    """A number, "encoder" (the encoder's trained temperature, else calibrated) or "auto"."""
    if choice == "encoder" and encoder_temperature is not None:
        return float(encoder_temperature)
    if choice in ("encoder", "auto"):
        return calibrate_temperature(support_emb)
    return float(choice)


class Classifier:
    """Prototypes fitted once on pooled support embeddings; classifies query grids."""

    def __init__(
        self,
        support_emb: dict[int, np.ndarray],
        *,
        options: Options,
        encoder_temperature: float | None = None,
        frequencies: np.ndarray | None = None,
    ) -> None:
        classes = sorted(support_emb)
        if classes != list(range(len(classes))) or len(classes) < 2:
            raise ValueError(f"support classes must be 0..K-1 with K >= 2, got {classes}")
        if options.boundary and frequencies is None:
            raise ValueError(
                "boundary refinement needs the support chips' frequencies "
                "(workers.fewshot.boundary.support_frequencies)"
            )
        self.options = options
        self.frequencies = frequencies
        self.n_classes = len(classes)
        self.support = {
            k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in support_emb.items()
        }
        with single_thread():
            self.protos = fit_prototypes(self.support)
            self.temperature = resolve_temperature(
                options.temperature,
                encoder_temperature=encoder_temperature,
                support_emb=self.support,
            )

    def classify(
        self,
        emb: np.ndarray,
        *,
        chip_size: int,
        pixel_size: float | None = None,
        pixel_unit: str | None = None,
        pixels: np.ndarray | None = None,
        offset: tuple[int, int] = (0, 0),
    ) -> FrameResult:
        """Label one grid of embeddings (rows, cols, D); with boundary refinement, ``pixels`` is
        the normalised frame (H, W) and ``offset`` the grid's (y, x) offset."""
        rows, cols, dim = emb.shape
        opts = self.options
        features = None
        if opts.boundary:
            if pixels is None:
                raise ValueError("boundary refinement needs the frame's pixels")
            grid = ChipGrid.for_shape(pixels.shape, chip_size, offset)
            if (grid.rows, grid.cols) != (rows, cols):
                raise ValueError(f"{grid.rows}x{grid.cols} grid for {rows}x{cols} embeddings")
            # FFTs of a whole frame: worth the threads that the small steps below do without
            features = chip_features(pixels, grid, self.frequencies)
        with deterministic(opts.seed), single_thread():
            q = torch.as_tensor(np.ascontiguousarray(emb, np.float32)).reshape(-1, dim)
            protos = self.protos
            if opts.refine:
                protos = refine_prototypes(q, protos, self.temperature)
            logp = log_probs(q, protos.centres, self.temperature)
            if opts.smooth > 0:
                logp = smooth_log_probs(logp.reshape(rows, cols, -1), strength=opts.smooth).reshape(
                    rows * cols, -1
                )
            pred = prediction_from_log_probs(logp, protos)
            if features is not None:
                pred, decided = refine_prediction(pred, features, protos.classes)
            boot = None
            if opts.bootstrap > 0:
                boot = bootstrap_labels(q, self.support, n_resamples=opts.bootstrap, seed=opts.seed)
                if features is not None:
                    # unmixed chips keep their label in every resample (as in pipeline.segment)
                    boot[:, decided] = pred.labels[decided]
            labels = pred.labels.reshape(rows, cols)
            stats = abundance(
                labels,
                pred.probs,
                n_classes=self.n_classes,
                chip_area_px=chip_size**2,
                pixel_size=pixel_size,
                pixel_unit=pixel_unit,
                bootstrap=boot,
            )
        stats["temperature"] = self.temperature
        return FrameResult(
            labels=labels.astype(np.int64),
            probs=pred.probs.reshape(rows, cols, -1).astype(np.float32),
            confidence=pred.confidence.reshape(rows, cols).astype(np.float32),
            stats=stats,
        )
