"""Atomic-resolution scenes: phases assigned to layout regions, with per-class metadata."""

from __future__ import annotations

import math

import numpy as np

from workers.fewshot.sim.render import Phase, render_regions
from workers.fewshot.sim.scene import Scene

__all__ = ["TWIN_TRACE_DEG", "lattice_scene", "twin_of"]

# In a diamond-cubic [110] projection the edge-on (1-11) twin plane runs at atan(sqrt2) = 54.74 deg
# to the [1-10] cell axis.
TWIN_TRACE_DEG = math.degrees(math.atan(math.sqrt(2.0)))


def twin_of(angle: float, mirror_line: float) -> dict:
    """Rotation and mirror flag of a lattice at ``angle`` reflected across ``mirror_line`` (deg).

    A reflection across a line at phi maps a cell rotated by theta to one rotated by 2 phi - theta
    with its motif mirrored.
    """
    return {"angle": 2.0 * mirror_line - angle, "mirror": True}


def lattice_scene(
    regions: np.ndarray,
    phases: list[Phase],
    region_class: list[int],
    class_names: list[str],
    rng: np.random.Generator,
) -> Scene:
    """Render region i with ``phases[i]`` and label it ``region_class[i]`` -> Scene.

    regions: (H, W) int32 ids 0..len(phases)-1. Class metadata merges the region descriptions: a
    parameter that differs between regions of one class (e.g. grain angles) becomes a list.
    """
    if len(phases) != len(region_class):
        raise ValueError("one class per phase region is required")
    intensity = render_regions(regions, phases, rng)
    lut = np.asarray(region_class, np.int32)
    truth = lut[regions]
    classes: list[dict] = []
    for c in range(len(class_names)):
        described = [p.describe() for p, k in zip(phases, region_class, strict=True) if k == c]
        classes.append(_merge(described))
    return Scene(intensity, truth, list(class_names), classes)


def _merge(descriptions: list[dict]) -> dict:
    """One dict from several: equal values kept, differing values listed per region."""
    if not descriptions:
        return {"kind": "absent"}
    merged: dict = {}
    for key in descriptions[0]:
        values = [d.get(key) for d in descriptions]
        if all(v == values[0] for v in values):
            merged[key] = values[0]
        else:
            merged[key] = values
    return merged
