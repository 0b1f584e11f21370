"""Nanoparticles on a thin support, in dark field (bright on dark) or bright field (dark on
bright), with thickness profiles: sphere-like domes, flat plates, core-shell, agglomerates of
small primaries and irregular star-convex grains.

The scene is a projected-thickness map per material; dark field adds Z-weighted thickness,
bright field transmits exp(-sum mu t). Sizes are 6-60 px radii (training: 16-40).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workers.fewshot.unseen.fields import pink_field, star_radius
from workers.fewshot.unseen.scene import Drawn

__all__ = ["PARTICLE_BUILDERS", "Population"]


@dataclass(frozen=True)
class Population:
    """A particle population (one class).

    shape: "ellipse" | "star" | "agglomerate"; profile: "dome" (sphere-like) | "plate" (flat,
    rounded rim) | "core_shell"; radius: (min, max) px; aspect: (min, max) of ellipse axes;
    z: contrast per unit thickness (dark field) or absorption (bright field); shell: core
    radius fraction (core_shell) or primaries' radius range scale (agglomerate).
    """

    name: str
    shape: str = "ellipse"
    profile: str = "dome"
    radius: tuple[float, float] = (20.0, 40.0)
    aspect: tuple[float, float] = (1.0, 1.6)
    z: float = 1.0
    core: float = 0.55
    core_z: float = 2.2


def _thickness(rho: np.ndarray, profile: str) -> np.ndarray:
    """Thickness (relative to the particle's size) at normalised radius rho (1 at the outline)."""
    inside = np.clip(1.0 - rho**2, 0.0, None)
    if profile == "plate":
        return np.clip((1.0 - rho) / 0.12, 0.0, 1.0) * 0.7  # flat with a rounded rim
    return np.sqrt(inside)


def _one(pop: Population, rng: np.random.Generator, yy, xx, cy, cx, r):
    """(mask, thickness, heavy) of one particle of ``pop`` centred at (cy, cx), size r px."""
    dy, dx = yy - cy, xx - cx
    if pop.shape == "agglomerate":
        # primaries of 0.2-0.35 r, each touching a random earlier one, all within r of the centre
        prims = [(cy, cx, r * rng.uniform(0.25, 0.35))]
        for _ in range(40):
            if len(prims) >= 9:
                break
            py, px, pr = prims[int(rng.integers(len(prims)))]
            rp, ang = r * rng.uniform(0.2, 0.35), rng.uniform(0, 2 * math.pi)
            ny, nx = py + 0.85 * (pr + rp) * math.sin(ang), px + 0.85 * (pr + rp) * math.cos(ang)
            if math.hypot(ny - cy, nx - cx) + rp <= r:
                prims.append((ny, nx, rp))
        t = np.zeros(yy.shape, np.float64)
        for py, px, rp in prims:
            t = np.maximum(t, rp * _thickness(np.hypot(yy - py, xx - px) / rp, "dome"))
        return t > 0, t, np.zeros(yy.shape, np.float32)
    phi = rng.uniform(0, math.pi)
    u = dx * math.cos(phi) + dy * math.sin(phi)
    v = -dx * math.sin(phi) + dy * math.cos(phi)
    aspect = rng.uniform(*pop.aspect)
    rho = np.hypot(u / (r * math.sqrt(aspect)), v * math.sqrt(aspect) / r)
    if pop.shape == "star":
        rho = rho / star_radius(np.arctan2(v, u), rng, irregularity=0.3)
    t = r * _thickness(rho, pop.profile)
    heavy = np.zeros(yy.shape, np.float32)
    if pop.profile == "core_shell":
        heavy = r * pop.core * _thickness(rho / pop.core, "dome")
    return rho < 1.0, t, heavy


def particle_field(
    rng: np.random.Generator,
    canvas: tuple[int, int],
    pops: list[Population],
    *,
    coverage: float = 0.3,
    bright_field: bool = False,
    support: float = 0.15,
) -> Drawn:
    """Place particles of ``pops`` (class i + 1; class 0 = support) without overlap of their
    discs, then render: dark field I = support + sum z t (heavy cores z_core), bright field
    I = exp(-mu (support + sum z t)) with t in units of 40 px."""
    h, w = canvas
    truth = np.zeros(canvas, np.int32)
    signal = np.zeros(canvas, np.float32)
    placed: list[tuple[float, float, float]] = []
    target = coverage * h * w
    area = 0.0
    for _ in range(4000):
        if area >= target:
            break
        k = int(rng.integers(len(pops)))
        pop = pops[k]
        r = float(np.exp(rng.uniform(math.log(pop.radius[0]), math.log(pop.radius[1]))))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        reach = r * math.sqrt(max(pop.aspect)) * (1.35 if pop.shape == "star" else 1.0)
        if any(math.hypot(cy - y, cx - x) < reach + rr + 4 for y, x, rr in placed):
            continue
        y0, y1 = max(0, int(cy - reach - 3)), min(h, int(cy + reach + 4))
        x0, x1 = max(0, int(cx - reach - 3)), min(w, int(cx + reach + 4))
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        mask, t, heavy = _one(pop, rng, yy, xx, cy, cx, r)
        signal[y0:y1, x0:x1] += (pop.z * t + (pop.core_z - pop.z) * heavy).astype(np.float32) / 40
        truth[y0:y1, x0:x1][mask] = k + 1
        placed.append((cy, cx, reach))
        area += float(mask.sum())
    film = support * (1 + 0.25 * pink_field(canvas, rng, 3.0)) + 0.03 * pink_field(canvas, rng, 0.5)
    film = np.clip(film, 0, None)
    intensity = np.exp(-1.6 * (film + signal)) if bright_field else film + signal
    names = ["support", *[p.name for p in pops]]
    classes = [{"kind": "support"}] + [
        {"kind": "particle", "shape": p.shape, "profile": p.profile, "radius": list(p.radius)}
        for p in pops
    ]
    return Drawn(intensity.astype(np.float32), truth, names, classes)


def plates_vs_domes_bf(rng, canvas) -> Drawn:
    """Bright field: flat elliptical plates vs sphere-like particles of one material and size."""
    pops = [
        Population("plate", "ellipse", "plate", (22, 45), (1.0, 1.8), z=0.9),
        Population("dome", "ellipse", "dome", (22, 45), (1.0, 1.3), z=0.9),
    ]
    return particle_field(rng, canvas, pops, coverage=0.35, bright_field=True)


def core_shell_df(rng, canvas) -> Drawn:
    """Dark field: core-shell particles (heavy core, light shell) vs uniform light particles."""
    pops = [
        Population("core_shell", "ellipse", "core_shell", (24, 48), (1.0, 1.25), z=0.7),
        Population("uniform", "ellipse", "dome", (24, 48), (1.0, 1.25), z=0.9),
    ]
    return particle_field(rng, canvas, pops, coverage=0.35)


def agglomerates_low_dose(rng, canvas) -> Drawn:
    """Dark field at low dose with drift: agglomerates of small primaries vs irregular grains."""
    pops = [
        Population("agglomerate", "agglomerate", "dome", (30, 55), z=1.0),
        Population("irregular", "star", "dome", (22, 42), (1.0, 1.4), z=1.0),
    ]
    return particle_field(rng, canvas, pops, coverage=0.3)


def two_materials_bf(rng, canvas) -> Drawn:
    """Bright field: irregular star-convex particles of a light and a heavy material."""
    pops = [
        Population("light", "star", "dome", (18, 40), (1.0, 1.5), z=0.45),
        Population("heavy", "star", "dome", (18, 40), (1.0, 1.5), z=1.3),
    ]
    return particle_field(rng, canvas, pops, coverage=0.3, bright_field=True, support=0.25)


def sparse_saturated_df(rng, canvas) -> Drawn:
    """Dark field: few particles of very different sizes (6-60 px) on carbon, the thick ones
    driving the detector into saturation (particle vs support only)."""
    pops = [Population("particle", "star", "dome", (6, 60), (1.0, 1.8), z=2.5)]
    return particle_field(rng, canvas, pops, coverage=0.12, support=0.1)


PARTICLE_BUILDERS = {
    "plates_vs_domes_bf": plates_vs_domes_bf,
    "core_shell_df": core_shell_df,
    "agglomerates_low_dose": agglomerates_low_dose,
    "two_materials_bf": two_materials_bf,
    "sparse_saturated_df": sparse_saturated_df,
}
