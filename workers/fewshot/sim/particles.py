"""Low-magnification nanoparticles (spheres, faceted polygons, rods) on an amorphous support."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workers.fewshot.sim.render import Amorphous
from workers.fewshot.sim.scene import Scene

__all__ = ["SUPPORT_CARBON", "ParticleKind", "particle_scene"]

# Amorphous carbon at low magnification: a faint fine speckle with slow mottling.
SUPPORT_CARBON = Amorphous(
    density=0.25, sigma=1.0, weight=0.08, background=0.06, mottle=0.15, mottle_scale=20.0
)


@dataclass(frozen=True)
class ParticleKind:
    """One particle population: its shape, size and material contrast.

    shape: "sphere" (dome profile), "polygon" (flat faceted plate with ``sides`` edges) or
    "rod" (capsule, cylinder profile); radius: (min, max) px (rods: half-width); aspect: (min, max)
    length / width for rods; z: material contrast (peak intensity of a full-thickness particle);
    flat: thickness of a polygon relative to ``z`` (2/3 matches the mean of a sphere);
    z_spread: (min, max) factor on ``z`` drawn per particle (thickness or tilt: brightness that
    varies independently of the class); (1, 1) draws nothing.
    """

    name: str
    shape: str = "sphere"
    radius: tuple[float, float] = (18.0, 30.0)
    z: float = 1.0
    sides: tuple[int, ...] = (4, 6)
    aspect: tuple[float, float] = (2.2, 3.2)
    flat: float = 2.0 / 3.0
    z_spread: tuple[float, float] = (1.0, 1.0)

    def mean_area(self) -> float:
        """Typical projected area (px^2) of one particle."""
        r = float(np.mean(self.radius))
        if self.shape == "rod":
            return math.pi * r**2 + 2 * r * (float(np.mean(self.aspect)) - 1) * 2 * r
        return math.pi * r**2

    def describe(self) -> dict:
        """JSON-friendly generating parameters."""
        mean = {"sphere": 2 / 3, "polygon": self.flat, "rod": math.pi / 4}[self.shape] * self.z
        mean *= float(np.mean(self.z_spread))  # uniform draw: its mean
        return {
            "kind": "particle",
            "shape": self.shape,
            "radius_px": list(self.radius),
            "z": self.z,
            "sides": list(self.sides),
            "aspect": list(self.aspect),
            "expected_mean_excess": mean,
            "expected_mean": mean + SUPPORT_CARBON.expected_mean(),
            "z_spread": list(self.z_spread),
        }


def particle_scene(
    rng: np.random.Generator,
    canvas: tuple[int, int],
    kinds: list[ParticleKind],
    *,
    coverage: float = 0.3,
    support: Amorphous = SUPPORT_CARBON,
    support_name: str = "carbon",
) -> Scene:
    """Scatter non-overlapping particles of each kind (equal numbers) on the support.

    Class 0 is the support, class i+1 is ``kinds[i]``. Returns an ideal Scene of shape ``canvas``.
    """
    h, w = canvas
    intensity = support.field(canvas, rng)
    truth = np.zeros(canvas, np.int32)
    n_target = max(len(kinds), int(coverage * h * w / np.mean([k.mean_area() for k in kinds])))
    placed = np.zeros((0, 3))  # (y, x, bounding radius)
    for i in range(n_target):
        kind_id = i % len(kinds)
        kind = kinds[kind_id]
        for _ in range(60):
            r = rng.uniform(*kind.radius)
            length = 2 * r * rng.uniform(*kind.aspect) if kind.shape == "rod" else 2 * r
            bound = max(r, length / 2)
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            gap = np.hypot(placed[:, 0] - cy, placed[:, 1] - cx) - placed[:, 2]
            if placed.size == 0 or gap.min() > bound + 3:
                break
        else:
            continue
        placed = np.vstack([placed, (cy, cx, bound)])
        _draw(intensity, truth, kind, kind_id + 1, (cy, cx), r, length, rng)
    classes = [support.describe() | {"kind": "support"}] + [k.describe() for k in kinds]
    return Scene(intensity, truth, [support_name] + [k.name for k in kinds], classes)


def _draw(
    intensity: np.ndarray,
    truth: np.ndarray,
    kind: ParticleKind,
    label: int,
    centre: tuple[float, float],
    r: float,
    length: float,
    rng: np.random.Generator,
) -> None:
    """Add one particle to ``intensity`` and stamp its mask into ``truth`` (in place)."""
    h, w = truth.shape
    cy, cx = centre
    ext = math.ceil(max(r, length / 2)) + 2
    y0, y1 = max(0, int(cy) - ext), min(h, int(cy) + ext + 1)
    x0, x1 = max(0, int(cx) - ext), min(w, int(cx) + ext + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    xx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
    phi = rng.uniform(0, 2 * math.pi)
    if kind.shape == "sphere":
        d = np.sqrt(yy**2 + xx**2)
        inside = d < r
        t = np.sqrt(np.clip(1 - (d / r) ** 2, 0, None))
    elif kind.shape == "rod":
        # Capsule: distance to the central segment of half-length (length/2 - r).
        half = max(length / 2 - r, 0.0)
        along = np.cos(phi) * xx + np.sin(phi) * yy
        across = -np.sin(phi) * xx + np.cos(phi) * yy
        d = np.sqrt(across**2 + np.clip(np.abs(along) - half, 0, None) ** 2)
        inside = d < r
        t = np.sqrt(np.clip(1 - (d / r) ** 2, 0, None))
    elif kind.shape == "polygon":
        n = int(rng.choice(kind.sides))
        # Radius is the circumradius; the signed distance is the max over edge half-planes.
        apothem = r * math.cos(math.pi / n)
        angles = phi + 2 * math.pi * np.arange(n) / n
        sd = np.max([np.cos(a) * xx + np.sin(a) * yy for a in angles], axis=0) - apothem
        inside = sd < 0
        t = kind.flat * np.clip(0.5 - sd, 0, 1)  # one-pixel soft edge
    else:
        raise ValueError(f"unknown particle shape {kind.shape!r}")
    z = kind.z
    if kind.z_spread != (1.0, 1.0):  # drawn only then: the other cases keep their streams
        z *= rng.uniform(*kind.z_spread)
    intensity[y0:y1, x0:x1] += np.float32(z) * t.astype(np.float32)
    truth[y0:y1, x0:x1][inside] = label
