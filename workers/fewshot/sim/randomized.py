"""Random scenes of varied families and parameters, for episodic training of encoders."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from workers.fewshot.sim import layouts
from workers.fewshot.sim.cases import image_scene
from workers.fewshot.sim.imaging import ImagingConfig
from workers.fewshot.sim.lattice_scenes import lattice_scene
from workers.fewshot.sim.particles import ParticleKind, particle_scene
from workers.fewshot.sim.render import MOTIFS, Amorphous, Lattice, Phase, Vacuum
from workers.fewshot.sim.scene import Scene, SimImage, as_size

__all__ = ["FAMILIES", "random_imaging", "random_scene"]


def random_imaging(rng: np.random.Generator) -> ImagingConfig:
    """An imaging model drawn over the range seen in practice (dose 3..1000 log-uniform)."""
    return ImagingConfig(
        dose=float(np.exp(rng.uniform(math.log(3.0), math.log(1000.0)))),
        read_noise=rng.uniform(0.0, 2.0),
        blur=rng.uniform(0.4, 1.5),
        jitter=rng.uniform(0, 0.6),
        wobble=rng.uniform(0, 1.5),
        drift=rng.uniform(-0.01, 0.01),
        gradient=rng.uniform(0, 0.2),
        offset=rng.uniform(0.0, 0.05),
    )


def _random_template(rng: np.random.Generator) -> dict:
    """Parameters of one class: a lattice (65 %), an amorphous film (20 %) or vacuum (15 %)."""
    u = rng.uniform()
    if u < 0.65:
        return {
            "kind": "lattice",
            "motif": str(rng.choice(sorted(MOTIFS))),
            "spacing": rng.uniform(6.0, 18.0),
            "angle": rng.uniform(0, 180),
            "sigma": rng.uniform(0.9, 1.8),
            "thickness": rng.uniform(0.4, 1.2),
        }
    if u < 0.85:
        return {
            "kind": "amorphous",
            "density": rng.uniform(0.01, 0.08),
            "sigma": rng.uniform(0.9, 1.8),
            "weight": rng.uniform(0.3, 0.9),
        }
    return {"kind": "vacuum", "level": rng.uniform(0.0, 0.03)}


def _distinct(a: dict, b: dict) -> bool:
    """Whether two class templates are visibly different (so an episode is well posed)."""
    if a["kind"] != b["kind"]:
        return True
    if a["kind"] == "vacuum":
        return False
    if a["kind"] == "amorphous":
        ma, mb = (t["density"] * t["weight"] * t["sigma"] ** 2 for t in (a, b))
        return abs(ma - mb) > 0.3 * max(ma, mb)
    turn = abs((a["angle"] - b["angle"] + 90) % 180 - 90)
    return (
        a["motif"] != b["motif"]
        or abs(a["spacing"] - b["spacing"]) > 0.1 * a["spacing"]
        or turn > 8
        or abs(a["thickness"] - b["thickness"]) > 0.25
    )


def _templates(rng: np.random.Generator, n: int) -> list[dict]:
    """``n`` mutually distinct class templates."""
    out: list[dict] = []
    while len(out) < n:
        t = _random_template(rng)
        if all(_distinct(t, o) for o in out):
            out.append(t)
    return out


def _phase(
    t: dict, origin: tuple[float, float], angle_jitter: float, rng: np.random.Generator
) -> Phase:
    """A renderable phase from a template (lattice angle optionally jittered per region)."""
    if t["kind"] == "vacuum":
        return Vacuum(t["level"])
    if t["kind"] == "amorphous":
        return Amorphous(density=t["density"], sigma=t["sigma"], weight=t["weight"])
    angle = t["angle"] + (rng.uniform(-angle_jitter, angle_jitter) if angle_jitter else 0.0)
    return Lattice(
        t["motif"], t["spacing"], angle, origin=origin, sigma=t["sigma"], thickness=t["thickness"]
    )


def _name(t: dict) -> str:
    """A readable class name from a template."""
    if t["kind"] == "lattice":
        return f"{t['motif']}_a{t['spacing']:.1f}_r{t['angle']:.0f}_t{t['thickness']:.2f}"
    if t["kind"] == "amorphous":
        return f"amorphous_d{t['density']:.3f}"
    return "vacuum"


def _regions_scene(
    rng: np.random.Generator,
    canvas: tuple[int, int],
    regions: np.ndarray,
    region_class: list[int],
    n_classes: int,
    angle_jitter: float = 0.0,
) -> Scene:
    """Assign random distinct templates to classes and render the regions."""
    templates = _templates(rng, n_classes)
    origin = (canvas[0] / 2 + rng.uniform(-8, 8), canvas[1] / 2 + rng.uniform(-8, 8))
    phases = [_phase(templates[c], origin, angle_jitter, rng) for c in region_class]
    names = [_name(t) for t in templates]
    return lattice_scene(regions, phases, region_class, names, rng)


def _interface(rng, canvas):
    """2-3 layers with stepped / wavy interfaces."""
    n = int(rng.integers(2, 4))
    cuts = sorted(rng.uniform(-0.35, 0.35, n - 1))
    regions = layouts.layers(
        canvas,
        cuts,
        angle=rng.uniform(0, 180),
        step_height=rng.choice([0.0, rng.uniform(4, 16)]),
        terrace=rng.uniform(40, 120),
        wave=rng.uniform(0, 12),
        wavelength=rng.uniform(80, 300),
        rng=rng,
    )
    return _regions_scene(rng, canvas, regions, list(range(n)), n)


def _grains(rng, canvas):
    """Voronoi grains of 2-3 classes; grains of one class may differ a little in orientation."""
    n_classes = int(rng.integers(2, 4))
    n = max(n_classes + 1, round(canvas[0] * canvas[1] / rng.uniform(90, 160) ** 2))
    regions = layouts.voronoi(canvas, n, rng, boundary_wave=rng.uniform(0, 6))
    region_class = [int(c) for c in rng.permutation(np.arange(n) % n_classes)]
    return _regions_scene(
        rng, canvas, regions, region_class, n_classes, angle_jitter=float(rng.choice([0.0, 3.0]))
    )


def _islands(rng, canvas):
    """Islands of one class in a matrix of another."""
    regions = layouts.blobs(
        canvas, rng, fraction=rng.uniform(0.25, 0.55), scale=rng.uniform(30, 70)
    )
    return _regions_scene(rng, canvas, regions, [0, 1], 2)


def _lamellae(rng, canvas):
    """Parallel bands alternating between two classes (twins, rotated or strained domains)."""
    n = max(3, int(rng.integers(2, 6) * max(canvas) / 256))
    cuts = list(np.sort(rng.uniform(-0.45, 0.45, n)))
    regions = layouts.layers(
        canvas, cuts, angle=rng.uniform(0, 180), wave=rng.uniform(0, 4), rng=rng
    )
    return _regions_scene(rng, canvas, regions, [i % 2 for i in range(n + 1)], 2)


def _particles(rng, canvas):
    """2-3 random particle populations on carbon (distinct shape or contrast)."""
    n = int(rng.integers(1, 3))
    shapes = rng.choice(["sphere", "polygon", "rod"], n, replace=False)
    zs = rng.uniform(0.4, 1.2, n)
    kinds = []
    for i, (shape, z) in enumerate(zip(shapes, zs, strict=True)):
        r = rng.uniform(12, 30)
        radius = (r, r * 1.4) if shape != "rod" else (r * 0.5, r * 0.7)
        kinds.append(ParticleKind(f"{shape}_z{z:.2f}_{i}", str(shape), radius=radius, z=float(z)))
    return particle_scene(rng, canvas, kinds, coverage=rng.uniform(0.2, 0.4))


def _particles_broad(rng, canvas):
    """1-3 particle populations over a broader range (``random_scene(broad=True)``): radii 5-45 px,
    sparse to crowded, kinds that may share a shape and differ only by size or contrast, and a
    per-particle thickness factor in half the scenes (brightness that is not the class's cue)."""
    n = int(rng.integers(1, 4))
    spread = (0.6, 1.4) if rng.random() < 0.5 else (1.0, 1.0)
    drawn: list[tuple[str, float, float]] = []
    while len(drawn) < n:
        shape = str(rng.choice(["sphere", "polygon", "rod"]))
        r = float(np.exp(rng.uniform(math.log(5.0), math.log(45.0))))
        z = float(rng.uniform(0.25, 1.4))
        # a kind that shares a shape must differ clearly in size or contrast (a posed task)
        if all(s != shape or max(r, q) > 1.6 * min(r, q) or abs(z - y) > 0.4 for s, q, y in drawn):
            drawn.append((shape, r, z))
    kinds = [
        ParticleKind(
            f"{shape}_r{r:.0f}_z{z:.2f}_{i}",
            shape,
            radius=(r, r * 1.3) if shape != "rod" else (r * 0.4, r * 0.6),
            z=z,
            aspect=(1.8, float(rng.uniform(2.5, 6.0))),
            z_spread=spread,
        )
        for i, (shape, r, z) in enumerate(drawn)
    ]
    return particle_scene(rng, canvas, kinds, coverage=rng.uniform(0.08, 0.5))


FAMILIES: dict[str, tuple[str, Callable[[np.random.Generator, tuple[int, int]], Scene]]] = {
    "interface": ("lattices", _interface),
    "grains": ("lattices", _grains),
    "islands": ("lattices", _islands),
    "lamellae": ("lattices", _lamellae),
    "particles": ("particles", _particles),
}


def random_scene(
    rng: np.random.Generator,
    *,
    size: int | tuple[int, int] = (256, 256),
    leave_out: str = "",
    particles: float | None = None,
    broad: bool = False,
) -> SimImage:
    """A random scene: random family, class parameters and imaging model, drawn from ``rng``.

    Every class in ``class_names`` is a distinct visual category, but a class may cover only a
    few pixels (or none after cropping): samplers should check ``np.bincount(truth)``.
    ``leave_out``: a group ("lattices", "particles") whose families are never drawn (an encoder
    trained without them, ``train --leave-out``). ``particles``: the chance of the particle
    family (None: every family equally likely); ``broad``: particles over the broader range
    of ``_particles_broad``. Both are training-recipe options (``TrainConfig``).
    """
    families = sorted(f for f, (group, _) in FAMILIES.items() if group != leave_out)
    if particles is not None and "particles" in families:
        others = [f for f in families if f != "particles"]
        # guarded so the default recipe keeps its random stream
        family = "particles" if rng.random() < particles else str(rng.choice(others))
    else:
        family = str(rng.choice(families))
    group, build = FAMILIES[family]
    if broad and family == "particles":
        build = _particles_broad
    imaging = random_imaging(rng)
    image, truth, scene, record = image_scene(build, rng, as_size(size), imaging)
    pixel_size = 0.0325 if group == "lattices" else 0.5
    return SimImage(
        image,
        truth,
        scene.class_names,
        pixel_size,
        "nm",
        group,
        {"family": family, "classes": scene.classes, "imaging": record},
    )
