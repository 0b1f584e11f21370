"""Secondary-electron SEM: yield from the surface's tilt, edges and material, seen from the side.

The yield of a surface element grows with its tilt (the secant law: the primary path near the
surface lengthens as 1 / cos(tilt)) and near edges and small convex features, where secondary
electrons escape through more surface (modelled as the height above its own local mean within
the escape range). Heavier materials add secondaries made by their backscattered electrons,
spread over the backscatter range. The side-mounted detector collects more from faces turned
towards it and less from faces and substrate turned away (a directional shading). The output
is what the operator's brightness and contrast make of it, quantised to 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from workers.fewshot.selection.materials import MATERIALS
from workers.fewshot.selection.scene import Specimen

__all__ = ["SecondaryElectrons", "secondary_yield", "to_8bit"]


@dataclass(frozen=True)
class SecondaryElectrons:
    """escape_px: escape range of secondaries (px); edge_gain: extra yield per escape range of
    height above the local mean; secant: exponent of the tilt law; shadow: strength of the
    detector's directional collection; bse_px: backscatter range (px); substrate: material
    under the particles."""

    escape_px: float = 2.0
    edge_gain: float = 0.8
    secant: float = 0.9
    shadow: float = 0.35
    bse_px: float = 6.0
    substrate: str = "silicon"


def _top_material(spec: Specimen, substrate: str) -> tuple[np.ndarray, np.ndarray]:
    """Secondary and backscatter yields of the material at the surface (H, W) each."""
    se = np.full(spec.truth.shape, MATERIALS[substrate].se, np.float32)
    bse = np.full(spec.truth.shape, MATERIALS[substrate].bse, np.float32)
    thickest = np.zeros(spec.truth.shape, np.float32)
    for name, t in spec.thickness.items():
        if name == substrate:
            continue
        on_top = (t > thickest) & (t > 0.05)
        se = np.where(on_top, MATERIALS[name].se, se)
        bse = np.where(on_top, MATERIALS[name].bse, bse)
        thickest = np.maximum(thickest, t)
    return se, bse


def secondary_yield(
    rng: np.random.Generator, spec: Specimen, sem: SecondaryElectrons
) -> tuple[np.ndarray, dict]:
    """Collected secondary-electron yield on the canvas (H, W) float32 and the drawn detector
    direction."""
    height = ndimage.gaussian_filter(spec.top.astype(np.float32), 0.6)
    gy, gx = np.gradient(height)
    secant = np.sqrt(1 + gy * gy + gx * gx)
    tilt = np.minimum(secant, 8.0) ** sem.secant
    local = ndimage.gaussian_filter(height, sem.escape_px * 1.5)
    edge = np.clip((height - local) / sem.escape_px, 0, 4)
    se, bse = _top_material(spec, sem.substrate)
    spread = ndimage.gaussian_filter(bse * np.minimum(1 + height / sem.bse_px, 3), sem.bse_px)
    produced = se * tilt * (1 + sem.edge_gain * edge) + 0.6 * spread
    azimuth = rng.uniform(0, 2 * np.pi)
    toward = (gx * np.cos(azimuth) + gy * np.sin(azimuth)) / secant
    wide = ndimage.gaussian_filter(height, 4 * sem.escape_px)
    wy, wx = np.gradient(wide)
    behind = wx * np.cos(azimuth) + wy * np.sin(azimuth)
    collected = 1 + sem.shadow * toward + 1.5 * sem.shadow * np.tanh(behind)
    out = produced * np.clip(collected, 0.25, 2.0)
    return out.astype(np.float32), {"detector_azimuth": float(azimuth)}


def to_8bit(rng: np.random.Generator, counts: np.ndarray) -> tuple[np.ndarray, dict]:
    """The operator's brightness and contrast: the 1st to ~99.7th percentile onto ~[15, 240]
    of 0..255 (the brightest edges clip), rounded -> float32 grey levels."""
    low, high = np.percentile(counts[::4, ::4], [1.0, rng.uniform(99.3, 99.9)])
    floor, ceil = rng.uniform(8, 25), rng.uniform(225, 250)
    out = floor + (counts - low) * (ceil - floor) / max(high - low, 1e-6)
    return np.round(np.clip(out, 0, 255)).astype(np.float32), {"levels": [floor, ceil]}
