"""Types of the selection set: the generated image, the specimen before imaging, a case spec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SelectionCase", "SelectionImage", "Specimen"]


@dataclass
class SelectionImage:
    """A micrograph with pixel truth; the fields of ``sim.SimImage`` (duck-compatible).

    image: (H, W) float32 raw counts (textures: grey levels); truth: (H, W) int32 indexing
    ``class_names`` (particles: 0 the support, vacuum included, 1..n the particle kinds;
    lattices and textures: one class per kind of region); group: "particles", "lattices" or
    "textures"; pixel_unit "nm" (textures: "px").
    """

    image: np.ndarray
    truth: np.ndarray
    class_names: list[str]
    pixel_size: float
    pixel_unit: str = "nm"
    group: str = "particles"
    meta: dict = field(default_factory=dict)


@dataclass
class Specimen:
    """The specimen on a canvas before imaging, all maps (H, W).

    thickness: projected thickness in nm per material name (float32); top: height of the upper
    surface above the substrate in px (float32, what a secondary-electron image sees); truth:
    int32 class of the particle covering each pixel (0: support); class_names: the classes;
    bragg: (H, W) float32 extra loss of a bright-field beam to Bragg diffraction by crystals
    near a zone axis (the exponent of the transmitted share; None: none).
    """

    thickness: dict[str, np.ndarray]
    top: np.ndarray
    truth: np.ndarray
    class_names: list[str]
    bragg: np.ndarray | None = None
    #: drawn settings for ``meta`` (as a crystal's ``Projected.notes``)
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SelectionCase:
    """A named case of a group: ``render(rng, (H, W)) -> (image, truth, class_names, notes)``.

    ``render`` draws the specimen on a canvas with its own margin, images it and crops the
    margin, so that the returned maps have the requested shape.
    """

    name: str
    description: str
    render: Callable[[np.random.Generator, tuple[int, int]], tuple]
    pixel_size: float
    pixel_unit: str = "nm"
    group: str = "particles"
