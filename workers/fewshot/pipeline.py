"""End-to-end few-shot segmentation: normalise -> embed -> prototypes -> classify -> statistics."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from workers.fewshot.boundary import (
    BoundaryConfig,
    chip_features,
    refine_prediction,
    support_frequencies,
)
from workers.fewshot.chipping import ChipGrid, normalise
from workers.fewshot.classifier import (
    Prototypes,
    calibrate_temperature,
    fit_prototypes,
    log_probs,
    prediction_from_log_probs,
    refine_prototypes,
    smooth_log_probs,
)
from workers.fewshot.encoders import Encoder, build_encoder
from workers.fewshot.stats import abundance, bootstrap_labels

__all__ = ["SegmentOptions", "Segmentation", "deterministic", "segment", "segment_images"]

Support = dict[int, list[tuple[int, int]]]


@dataclass(frozen=True)
class SegmentOptions:
    """Classifier options (defaults are the measured best; see the engine README in CONTRACT.md).

    temperature: float, "encoder" (the encoder's trained temperature, else auto) or "auto"
        (leave-one-out calibration on the support chips).
    refine: transductive prototype refinement with confident queries (threshold, weight).
    smooth: strength of the 4-neighbour smoothing of log probabilities (0 = off).
    stride: window stride in px for sliding-window embedding (None = chip grid only); chip
        probabilities then average the log probabilities of the overlapping windows.
    bootstrap: number of support resamples for the abundance uncertainty (0 = off).
    boundary: re-decide chips on class boundaries by unmixing area-linear features against
        local prototypes (``workers.fewshot.boundary``; None = off). Their probabilities become
        the estimated class fractions of the chip.
    """

    temperature: float | str = "encoder"
    refine: bool = False
    refine_threshold: float = 0.9
    refine_weight: float = 1.0
    smooth: float = 0.0
    stride: int | None = None
    bootstrap: int = 200
    ci: float = 0.95
    boundary: BoundaryConfig | None = field(default_factory=BoundaryConfig)


@dataclass
class Segmentation:
    """Result for one image.

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
    embeddings: torch.Tensor | None = field(default=None, repr=False)
    temperature: float = 1.0


# torch imports its compiler stack (~1.2 s) on the first use_deterministic_algorithms() call:
# pay that once when the engine is imported (worker start-up), not inside the first segmentation.
torch.use_deterministic_algorithms(
    torch.are_deterministic_algorithms_enabled(),
    warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
)


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch/numpy and enable deterministic torch kernels for the duration (restored after)."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._t
        self._t = now


def _support_rows(support: Support, grid: ChipGrid) -> dict[int, list[int]]:
    """{class: [(row, col)]} -> {class: [flat chip index]}, validated against the grid."""
    return {int(k): [grid.index(int(r), int(c)) for r, c in chips] for k, chips in support.items()}


def segment(
    image: np.ndarray,
    *,
    chip_size: int,
    support: Support,
    encoder: Encoder | str = "default",
    offset: tuple[int, int] = (0, 0),
    seed: int = 0,
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
        seed=seed,
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
    seed: int = 0,
    pixel_size: float | Sequence[float | None] | None = None,
    pixel_unit: str | None = None,
    options: SegmentOptions | None = None,
) -> list[Segmentation]:
    """Segment several images with one pooled support set.

    ``support[i]`` holds the support chips picked on ``images[i]`` (may be empty); every image is
    embedded once, support embeddings are pooled per class across images, and each image is
    classified against the same prototypes. Class ids are any non-negative ints (usually
    0..K-1); probability columns follow ``Segmentation.classes`` (sorted ids), labels hold ids,
    and statistics lists are indexed by id (length max id + 1; absent ids count 0).
    """
    opts = options or SegmentOptions()
    if len(support) != len(images):
        raise ValueError(f"need one support dict per image ({len(images)}), got {len(support)}")
    classes = sorted({int(k) for s in support for k, v in s.items() if len(v)})
    if len(classes) < 2 or classes[0] < 0:
        raise ValueError(f"support needs >= 2 classes with ids >= 0 and >= 1 chip, got {classes}")
    sizes = list(pixel_size) if isinstance(pixel_size, Sequence) else [pixel_size] * len(images)
    enc = build_encoder(encoder) if isinstance(encoder, str) else encoder
    with deterministic(seed):
        timer = _Timer()
        grids, embs, norms = [], [], []
        for img in images:
            norm = normalise(img)
            timer.lap("normalise")
            grid = ChipGrid.for_shape(norm.shape, chip_size, offset)
            emb = enc.embed(norm, grid)  # (rows, cols, D)
            timer.lap("embed")
            grids.append(grid)
            embs.append(emb.reshape(-1, emb.shape[-1]))
            norms.append(norm)
        support_emb = {k: [] for k in classes}
        for s, grid, emb in zip(support, grids, embs, strict=True):
            for k, rows in _support_rows(s, grid).items():
                support_emb[k].append(emb[rows])
        support_emb = {k: torch.cat(v) for k, v in support_emb.items()}
        protos = fit_prototypes(support_emb)
        temperature = _temperature(opts.temperature, enc, support_emb)
        if opts.refine:
            protos = refine_prototypes(
                torch.cat(embs),
                protos,
                temperature,
                threshold=opts.refine_threshold,
                query_weight=opts.refine_weight,
            )
        freqs = None
        if opts.boundary is not None:
            freqs = support_frequencies(norms, grids, support, n_peaks=opts.boundary.n_peaks)
        timer.lap("prototypes")
        results = []
        for i, (grid, emb, norm) in enumerate(zip(grids, embs, norms, strict=True)):
            logp = _chip_log_probs(enc, norm, grid, emb, protos, temperature, opts)
            if opts.smooth > 0:
                logp = smooth_log_probs(
                    logp.reshape(grid.rows, grid.cols, -1), strength=opts.smooth
                ).reshape(grid.n_chips, -1)
            pred = prediction_from_log_probs(logp, protos)
            timer.lap("classify")
            if opts.boundary is not None:
                features = chip_features(norm, grid, freqs)
                pred, decided = refine_prediction(pred, features, protos.classes, opts.boundary)
                timer.lap("boundary")
            boot = None
            if opts.bootstrap > 0:
                idx = bootstrap_labels(emb, support_emb, n_resamples=opts.bootstrap, seed=seed)
                boot = np.asarray(classes)[idx]
                if opts.boundary is not None:
                    # unmixing does not use the prototypes: its chips keep their label in
                    # every support resample (else the interval is centred on other labels)
                    boot[:, decided] = pred.labels[decided]
            n_ids = classes[-1] + 1
            probs_by_id = np.zeros((grid.n_chips, n_ids), np.float32)
            probs_by_id[:, classes] = pred.probs
            st = abundance(
                pred.labels.reshape(grid.rows, grid.cols),
                probs_by_id,
                n_classes=n_ids,
                chip_area_px=chip_size**2,
                pixel_size=sizes[i],
                pixel_unit=pixel_unit,
                bootstrap=boot,
                ci=opts.ci,
            )
            st["temperature"] = temperature
            timer.lap("statistics")
            results.append(
                Segmentation(
                    labels=pred.labels.reshape(grid.rows, grid.cols),
                    probs=pred.probs.reshape(grid.rows, grid.cols, -1),
                    confidence=pred.confidence.reshape(grid.rows, grid.cols),
                    stats=st,
                    timings={},
                    grid=grid,
                    classes=tuple(classes),
                    embeddings=emb.reshape(grid.rows, grid.cols, -1),
                    temperature=temperature,
                )
            )
    timings = {k: round(v, 4) for k, v in timer.timings.items()}
    timings["total"] = round(sum(timer.timings.values()), 4)
    for r in results:
        r.timings = timings
    return results


def _temperature(choice: float | str, enc: Encoder, support_emb: dict[int, torch.Tensor]) -> float:
    """Resolve SegmentOptions.temperature to a number."""
    if choice == "encoder" and enc.default_temperature is not None:
        return float(enc.default_temperature)
    if choice in ("encoder", "auto"):
        return calibrate_temperature(support_emb)
    return float(choice)


def _chip_log_probs(
    enc: Encoder,
    norm: np.ndarray,
    grid: ChipGrid,
    emb: torch.Tensor,
    protos: Prototypes,
    temperature: float,
    opts: SegmentOptions,
) -> torch.Tensor:
    """Log probabilities per chip (N, K); with a stride, averaged over overlapping windows."""
    if opts.stride is None or opts.stride >= grid.chip_size:
        return log_probs(emb, protos.centres, temperature)
    s, t = grid.chip_size, int(opts.stride)
    if s % t:
        raise ValueError(f"stride {t} must divide chip_size {s}")
    f = s // t
    win = enc.embed(norm, grid, stride=t)  # (nr, nc, D), window (i, j) at offset + (i t, j t)
    nr, nc, d = win.shape
    lw = log_probs(win.reshape(-1, d), protos.centres, temperature).reshape(nr, nc, -1)
    # A chip (r, c) starts at window (r f, c f); windows shifted by |u| < f strides overlap it by
    # (1 - |u|/f) per axis: weight log probs by the overlap area (a separable triangle kernel).
    tri = 1 - torch.arange(-(f - 1), f).abs().float() / f
    kernel = torch.outer(tri, tri)
    x = lw.permute(2, 0, 1).unsqueeze(1)  # (K, 1, nr, nc)
    num = torch.nn.functional.conv2d(x, kernel[None, None], padding=f - 1)
    den = torch.nn.functional.conv2d(torch.ones(1, 1, nr, nc), kernel[None, None], padding=f - 1)
    avg = (num / den)[:, 0, ::f, ::f][:, : grid.rows, : grid.cols]  # (K, rows, cols)
    return torch.log_softmax(avg.permute(1, 2, 0).reshape(grid.n_chips, -1), dim=-1)
