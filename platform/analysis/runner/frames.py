"""One frame's segmentation: the job's options from its params, and the chip classification
plus pixel outputs that a job stores for each frame and a re-derivation recomputes."""

from __future__ import annotations

import numpy as np

from workers.fewshot.boundary import BoundaryConfig, FrameSpectrum
from workers.fewshot.metric import METRIC_SHRINKAGE
from workers.fewshot.pipeline import Embedded, Segmentation, Segmenter, SegmentOptions
from workers.fewshot.pixels import PixelFeatures
from workers.fewshot.spatial import MEAN_FIELD_STRENGTH

from .. import maps


def options_from_params(params: dict, classes: list[dict] = ()) -> SegmentOptions:
    """The core's options for a job's params and its class table; a job from before boundary
    refinement, group weighting, the pixel vote, the spatial prior, the support-peak group, the
    per-task metric, one kind per particle, the texture view, the shifted support copies or the
    object edges (no "boundary" / "weighting" / "pixel_vote" / "spatial" / "peaks" / "metric" /
    "object_kinds" / "texture_view" / "support_shifts" / "object_edges" param) re-runs without
    them, as it first ran (new jobs record all ten). The classes marked as objects keep the
    texture view and the shifted copies off and, with "object_kinds" (opt-in), are the kinds of
    particle."""
    kinds = tuple(int(c["index"]) for c in classes if c.get("kind") == "objects")
    return SegmentOptions(
        temperature=params.get("temperature", "encoder"),
        refine=bool(params.get("refine", False)),
        smooth=float(params.get("smooth", 0.0)),
        bootstrap=int(params.get("bootstrap", 200)),
        seed=int(params.get("seed", 0)),
        boundary=BoundaryConfig() if params.get("boundary", False) else None,
        weighting="loo" if params.get("weighting", False) else None,
        pixel_vote=bool(params.get("pixel_vote", False)),
        mean_field=MEAN_FIELD_STRENGTH if params.get("spatial", False) else 0.0,
        peaks=bool(params.get("peaks", False)),
        metric=METRIC_SHRINKAGE if params.get("metric", False) else None,
        object_kinds=kinds if params.get("object_kinds", False) else (),
        texture_view=bool(params.get("texture_view", False)),
        support_shifts=bool(params.get("support_shifts", False)),
        object_classes=kinds,
        object_edges=bool(params.get("object_edges", False)),
    )


def frame_intensity(data: np.ndarray, frame: int) -> np.ndarray:
    """One frame of a decoded original ((H, W) or (T, H, W)) as float32 (H, W), in the file's
    units: the particles' mean intensity."""
    return (data if data.ndim == 2 else data[frame]).astype(np.float32)


def classify_frame(
    segmenter: Segmenter,
    embedded: Embedded,
    frame: int,
    *,
    frame_pixels: np.ndarray,
    classes: list[dict],
    support: dict | None,
    spectrum: FrameSpectrum | None,
    intensity: np.ndarray | None,
    pixel_size: float | None,
    pixel_unit: str | None,
    timed=lambda stage: None,
    pixel_features: PixelFeatures | None = None,
) -> tuple[Segmentation, maps.PixelOutputs]:
    """One frame's chip segmentation and its pixel outputs (map, statistics, particles): what
    a job stores for each frame, and what a re-derivation (``analysis.rederive``) recomputes.
    ``frame_pixels``: the normalised frame; ``support``: the chips clicked on this frame
    ({class index: [(row, col)]}, frame 0 only); ``timed(stage)`` is called after the
    "classify" and the "pixels" stage; ``spectrum`` and ``pixel_features`` (support-independent,
    cached by a worker) only save time: the result is the same without them."""
    result = segmenter.classify(
        embedded.embeddings[frame],
        grid=embedded.grid,
        pixels=None if embedded.frames is None else embedded.frames[frame],
        spectrum=spectrum,
        pixel_features=pixel_features,
        pixel_size=pixel_size,
        pixel_unit=pixel_unit,
        support=support,
    )
    timed("classify")
    pixels = maps.pixel_outputs(
        frame_pixels,
        result,
        classes,
        frequencies=segmenter.frequencies,
        support=support,
        spectrum=spectrum,
        intensity=intensity,
        pixel_size=pixel_size,
        pixel_unit=pixel_unit,
        seed=segmenter.options.seed,
    )
    timed("pixels")
    return result, pixels
