"""Data types shared by the simulator: the generated image, the case spec and the ideal scene."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workers.fewshot.sim.imaging import ImagingConfig

__all__ = ["CaseSpec", "Scene", "SimImage", "as_size"]


@dataclass
class SimImage:
    """A synthetic micrograph with pixel-exact ground truth.

    ``image`` is (H, W) float32 in raw detector counts (not normalised); ``truth`` is (H, W) int32
    indexing ``class_names``. ``meta`` records the generating parameters: ``meta["classes"][i]``
    describes class i (kind, motif, spacing, angle, expected mean intensity...) and
    ``meta["imaging"]`` the imaging model that was applied.
    """

    image: np.ndarray
    truth: np.ndarray
    class_names: list[str]
    pixel_size: float
    pixel_unit: str = "nm"
    group: str = "lattices"
    meta: dict = field(default_factory=dict)


@dataclass
class Scene:
    """An ideal (noise-free, undistorted) scene before the imaging model.

    ``intensity`` is (H, W) float32 in units of "one atomic column of weight 1"; ``truth`` is
    (H, W) int32; ``classes`` holds one JSON-friendly parameter dict per class.
    """

    intensity: np.ndarray
    truth: np.ndarray
    class_names: list[str]
    classes: list[dict]


@dataclass(frozen=True)
class CaseSpec:
    """A named benchmark case: how to build its scene and how it is imaged.

    ``build(rng, (H, W)) -> Scene`` draws the content; ``imaging`` is the default imaging model
    (``generate(..., dose=...)`` overrides the dose).
    """

    name: str
    group: str
    description: str
    build: Callable[[np.random.Generator, tuple[int, int]], Scene]
    imaging: ImagingConfig
    pixel_size: float
    difficulty: str = "medium"
    tags: tuple[str, ...] = ()
    pixel_unit: str = "nm"


def as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """Normalise ``size`` (an int or (H, W)) to a validated (H, W) tuple."""
    if isinstance(size, int | np.integer):
        h = w = int(size)
    else:
        h, w = (int(v) for v in size)
    if h < 16 or w < 16:
        raise ValueError(f"size must be at least 16x16 pixels, got {(h, w)}")
    return h, w
