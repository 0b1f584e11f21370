"""Types of the unseen families: the generated image (SimImage-compatible) and a case spec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workers.fewshot.unseen.optics import Optics

__all__ = ["Drawn", "UnseenCase", "UnseenImage"]


@dataclass
class UnseenImage:
    """A micrograph with pixel truth; the same fields as ``sim.SimImage`` (duck-compatible).

    image: (H, W) float32 raw counts; truth: (H, W) int32 indexing ``class_names``.
    """

    image: np.ndarray
    truth: np.ndarray
    class_names: list[str]
    pixel_size: float
    pixel_unit: str = "nm"
    group: str = "lattices"
    meta: dict = field(default_factory=dict)


@dataclass
class Drawn:
    """An ideal scene before imaging: intensity (H, W) float32, truth (H, W) int32, class names."""

    intensity: np.ndarray
    truth: np.ndarray
    class_names: list[str]
    classes: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class UnseenCase:
    """A named case: ``draw(rng, canvas) -> Drawn`` and how it is imaged (None: texture, as is)."""

    name: str
    group: str
    description: str
    draw: Callable[[np.random.Generator, tuple[int, int]], Drawn]
    optics: Optics | None
    pixel_size: float
    pixel_unit: str = "nm"
