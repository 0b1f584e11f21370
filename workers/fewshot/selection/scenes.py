"""The selection cases' specimens: particle kinds, how they are placed, what they sit on.

Each builder takes (rng, canvas shape, pixel size in nm) and returns a ``Specimen``. Sizes are
in px of the case's own pixel size; shares are of the area where particles may sit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from workers.fewshot.selection.assembly import Lattice, domains, fill
from workers.fewshot.selection.bodies import (
    Convex,
    Solid,
    capsule,
    cube,
    decahedron,
    octahedron,
    plate,
    random_rotation,
    shell,
    sphere,
    truncated_octahedron,
)
from workers.fewshot.selection.canvas import Canvas, Footprint, Kind, centres, grow, scatter
from workers.fewshot.selection.scene import Specimen
from workers.fewshot.selection.supports import (
    crystal_edge,
    film,
    grain_lattice,
    holey,
    lacy,
    random_field,
    wrinkles,
)

__all__ = ["SCENES"]


def _tilted(rng: np.random.Generator, spread_deg: float, psi: float | None = None) -> np.ndarray:
    """A rotation that turns a body lying along x by the in-plane angle ``psi`` (None: random)
    and tilts it out of the plane by |N(0, spread)| (at most 75 deg): a rod on a film."""
    psi = rng.uniform(0, 2 * np.pi) if psi is None else psi
    theta = np.radians(min(abs(rng.normal(0, spread_deg)), 75.0))
    c, s = np.cos(theta), np.sin(theta)
    tilt = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
    cp, sp = np.cos(psi), np.sin(psi)
    return np.array([[cp, -sp, 0], [sp, cp, 0], [0, 0, 1]]) @ tilt


def _crystal(rng: np.random.Generator, r: float) -> Solid:
    """A nanocrystal of equivalent radius ~r px at a random 3D orientation: a cube, an
    octahedron, a truncated octahedron or a decahedron."""
    pick = rng.integers(4)
    if pick == 0:
        body = cube(0.8 * r)
    elif pick == 1:
        body = octahedron(0.72 * r)
    elif pick == 2:
        body = truncated_octahedron(0.62 * r, rng.uniform(0.7, 0.85))
    else:
        body = decahedron(1.1 * r, rng.uniform(0.5, 0.7))
    return body.turned(random_rotation(rng))


def _cap(r: float, keep: float) -> Solid:
    """A sphere of radius r cut flat ``keep`` * r below its centre (a cluster wetting its
    support), flat face down."""
    ball = np.diag([1 / r**2] * 3)
    part = Convex(ball, np.array([[0.0, 0.0, -1.0]]), np.array([keep * r]), np.zeros(3))
    return Solid((part,), r)


def _patch_grid(fp: Footprint) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates (y, x) of a footprint's patch."""
    return np.mgrid[fp.rows, fp.cols].astype(np.float32)


def _two_beam(px: float):
    """Bragg loss of a single crystal near one strong reflection (two-beam dynamical theory):
    the direct beam keeps 1 - A sin^2(pi t / xi) of its electrons, A = 1 / (1 + w^2) for a
    deviation w and xi the effective extinction distance, so wedge-thin edges and facets show
    thickness fringes; returned as a loss per nm on the footprint."""

    def bragg(rng: np.random.Generator, fp: Footprint) -> np.ndarray:
        """The crystal's loss per nm on its patch."""
        w = rng.uniform(0.0, 1.5)
        xi = rng.uniform(10.0, 24.0) / np.sqrt(1 + w * w)
        t = fp.thick * px
        kept = 1 - np.sin(np.pi * t / xi) ** 2 / (1 + w * w)
        loss = -np.log(np.maximum(kept, 0.05)) + 0.01 * t
        return (loss / np.maximum(t, 1e-3)).astype(np.float32)

    return bragg


def _polycrystal_bragg(rng: np.random.Generator, fp: Footprint) -> np.ndarray:
    """Grains of a few nm, each at its own orientation: a mottled loss per nm."""
    noise = random_field(rng, fp.thick.shape, corr=2.5)
    return (0.025 * np.clip(1 + 0.7 * noise, 0, None)).astype(np.float32)


def _columns(spacing: float, contrast: tuple[float, float]):
    """A texture: atomic columns of a square lattice (``spacing`` px) at a random angle."""

    def texture(rng: np.random.Generator, fp: Footprint) -> np.ndarray:
        """The column factor on the footprint's patch (mean ~1)."""
        y, x = _patch_grid(fp)
        a = rng.uniform(0, np.pi / 2)
        k = 2 * np.pi / spacing
        u, v = k * (x * np.cos(a) + y * np.sin(a)), k * (-x * np.sin(a) + y * np.cos(a))
        c = rng.uniform(*contrast)
        return 1 + c * ((np.cos(u) + 1) * (np.cos(v) + 1) / 4 - 0.25) * 2

    return texture


def facets_vs_spheres(rng: np.random.Generator, shape, px: float) -> Specimen:
    """Palladium single crystals (cubes, octahedra, decahedra at random 3D orientation) and
    polycrystalline palladium spheres of the same size range on a wrinkled carbon film."""
    canvas = Canvas(shape, px, ["palladium"])
    kinds = [
        Kind(1, "palladium", lambda g: _crystal(g, g.uniform(18, 36)), 0.15, None,
             _two_beam(px)),
        Kind(2, "palladium", lambda g: sphere(g.uniform(16, 34)), 0.15, None, _polycrystal_bragg),
    ]  # fmt: skip
    scatter(canvas, rng, kinds, np.ones(shape), gap=3)
    carbon = film(rng, shape, rng.uniform(8, 18), 1.2)
    carbon += wrinkles(rng, shape, int(rng.integers(1, 4)), rng.uniform(2, 5), rng.uniform(3, 8))
    return canvas.specimen({"carbon": carbon}, ["carbon film", "faceted crystal", "sphere"])


def _sphere_island(canvas: Canvas, rng: np.random.Generator, domain: tuple) -> int:
    """A hexagonal island of monodisperse gold spheres (ligand gaps of 2-4 px)."""
    r = rng.uniform(5.0, 9.0)
    step = 2 * r + rng.uniform(2.0, 4.0)
    lattice = Lattice(step, step * np.sqrt(3) / 2, rng.uniform(0, np.pi), 0.5)
    return fill(canvas, rng, domain, lattice, lambda g: sphere(r * g.uniform(0.96, 1.04)),
                (2, "gold", 0))  # fmt: skip


def _rod_bundle(canvas: Canvas, rng: np.random.Generator, domain: tuple) -> int:
    """Gold rods lying side by side in rows, each row shifted along the rods at random."""
    r, aspect = rng.uniform(4.5, 7.0), rng.uniform(3.0, 8.0)
    angle = rng.uniform(0, np.pi)
    lattice = Lattice(r * (aspect + 2) + rng.uniform(3, 6), 2 * r + rng.uniform(2, 4), angle, None)

    def rod(g: np.random.Generator) -> Solid:
        """One rod of the bundle, a few degrees off its row."""
        rot = _tilted(g, 4.0, angle + g.normal(0, 0.05))
        return capsule(r * g.uniform(0.95, 1.05), r * aspect * g.uniform(0.92, 1.08)).turned(rot)

    return fill(canvas, rng, domain, lattice, rod, (1, "gold", 0))


def rods_vs_spheres(rng: np.random.Generator, shape, px: float) -> Specimen:
    """Gold nanorods (r 4.5-7 px, aspect 3-8) and spheres (r 5-9 px) dried from solution on
    ultrathin carbon: spheres in hexagonal islands, rods in side-by-side bundles, and strays of
    both between the islands (stray rods tilted out of the film by up to ~60 deg)."""
    canvas = Canvas(shape, px, ["gold"])
    islands = domains(rng, shape, rng.uniform(90, 150), rng.uniform(0.35, 0.5))
    area = {_rod_bundle: 0, _sphere_island: 0}
    for domain in islands:  # largest first, each to the kind with the smaller area so far
        build = min(area, key=lambda f: (area[f], rng.random()))
        area[build] += build(canvas, rng, domain)

    def rod(g: np.random.Generator) -> Solid:
        """A stray rod, tilted by a little or a lot."""
        r = g.uniform(4.5, 7.0)
        return capsule(r, r * g.uniform(3.0, 8.0)).turned(_tilted(g, 30.0))

    kinds = [
        Kind(1, "gold", rod, 0.06),
        Kind(2, "gold", lambda g: sphere(g.uniform(5.0, 9.0)), 0.05),
    ]
    scatter(canvas, rng, kinds, np.ones(shape), gap=3)
    carbon = film(rng, shape, rng.uniform(3, 6), 0.8)
    return canvas.specimen({"carbon": carbon}, ["carbon film", "nanorod", "sphere"])


def gold_palladium_holey(rng: np.random.Generator, shape, px: float) -> Specimen:
    """Gold and palladium nanocrystals of the same shapes, palladium a little larger, on holey
    carbon; the holes are vacuum and belong to the support class."""
    canvas = Canvas(shape, px, ["gold", "palladium"])
    carbon_mask = holey(rng, shape, rng.uniform(140, 240), rng.uniform(0.2, 0.35))
    on_film = ndimage.binary_erosion(carbon_mask, iterations=4) | ~carbon_mask.any()

    def particle(lo: float, hi: float):
        """A maker of spheres or crystals of radius lo..hi px."""

        def make(g: np.random.Generator) -> Solid:
            """One particle: round (40 %) or faceted."""
            r = g.uniform(lo, hi)
            return sphere(r) if g.random() < 0.4 else _crystal(g, r)

        return make

    kinds = [
        Kind(1, "gold", particle(10.0, 19.0), 0.18),
        Kind(2, "palladium", particle(11.0, 22.0), 0.17),
    ]
    scatter(canvas, rng, kinds, on_film.astype(float), gap=3)
    carbon = film(rng, shape, rng.uniform(12, 25), 2.0) * carbon_mask
    names = ["carbon film or vacuum", "gold", "palladium"]
    return canvas.specimen({"carbon": carbon}, names)


def hollow_vs_solid(rng: np.random.Generator, shape, px: float) -> Specimen:
    """Gold-silver nanoboxes and hollow spheres (walls 12-25 % of the radius) and solid boxes
    and spheres (a few with a small off-centre Kirkendall void) on lacy carbon; the vacuum
    between the strands belongs to the support class."""
    canvas = Canvas(shape, px, ["gold_silver"])
    carbon_mask = lacy(rng, shape, rng.uniform(18, 30), rng.uniform(0.4, 0.55))
    near = ndimage.distance_transform_edt(~carbon_mask) < 12

    def particle(hollow: bool):
        """A maker of hollow or solid boxes and spheres."""

        def make(g: np.random.Generator) -> Solid:
            """One particle at a random orientation."""
            r = g.uniform(28, 62)
            boxy = g.random() < 0.5
            outer = cube(0.82 * r) if boxy else sphere(r)
            if hollow:
                inner_r = r * (1 - g.uniform(0.12, 0.25))
                inner = cube(0.82 * inner_r) if boxy else sphere(inner_r)
                body = shell(outer, inner)
            elif g.random() < 0.35:
                v = r * g.uniform(0.15, 0.32)
                way = g.standard_normal(3)  # off centre, but inside the inscribed sphere
                off = way / np.linalg.norm(way) * g.uniform(0, 0.75 * (0.82 * r - v))
                void = Convex(np.diag([1 / v**2] * 3), np.zeros((0, 3)), np.zeros(0), off)
                body = shell(outer, Solid((void,), v))
            else:
                body = outer
            return body.turned(random_rotation(g))

        return make

    kinds = [
        Kind(1, "gold_silver", particle(True), 0.16, None, _polycrystal_bragg),
        Kind(2, "gold_silver", particle(False), 0.16, None, _polycrystal_bragg),
    ]
    scatter(canvas, rng, kinds, near.astype(float), gap=4)
    carbon = film(rng, shape, rng.uniform(25, 45), 3.0) * carbon_mask
    names = ["lacy carbon or vacuum", "hollow", "solid"]
    return canvas.specimen({"carbon": carbon}, names)


def aggregates_vs_isolated(rng: np.random.Generator, shape, px: float) -> Specimen:
    """Silver nanoparticles on a silicon wafer: touching aggregates of 4-18 and isolated
    particles (at least 8 px from any other); the same sizes and shapes in both."""
    canvas = Canvas(shape, px, ["silver"])

    def make(g: np.random.Generator) -> Solid:
        """A particle resting on the wafer: round or faceted."""
        r = g.uniform(16.0, 26.0)
        return sphere(r) if g.random() < 0.6 else _crystal(g, r)

    h, w = shape
    n_aggregates = max(1, round(h * w / 260.0**2))
    for y, x in centres(rng, np.ones(shape), n_aggregates):
        grow(canvas, rng, Kind(2, "silver", make, 0.0), int(rng.integers(4, 19)), (y, x), gap=8)
    scatter(canvas, rng, [Kind(1, "silver", make, 0.16)], np.ones(shape), gap=8)
    wafer = np.full(shape, 200.0, np.float32)
    canvas.top += np.abs(random_field(rng, shape, corr=3.0)) * 0.15
    return canvas.specimen({"silicon": wafer}, ["silicon wafer", "isolated", "aggregated"])


def clusters_vs_rafts(rng: np.random.Generator, shape, px: float) -> Specimen:
    """Platinum clusters of about a nanometre (capped spheres) and one- to three-layer rafts,
    both showing their atomic columns, on the wedge-shaped edge of a polycrystalline alumina
    support (its own lattice, vacuum beyond the edge, in the support class)."""
    canvas = Canvas(shape, px, ["platinum"])
    alumina = crystal_edge(rng, shape, rng.uniform(0.08, 0.15), rng.uniform(5, 9))
    alumina *= grain_lattice(rng, shape, 0.28 / px, rng.uniform(150, 300))
    loading = np.clip(0.25 + random_field(rng, shape, corr=40.0), 0.05, None)
    density = loading * (alumina > 1.0)

    def cluster(g: np.random.Generator) -> Solid:
        """A cluster wetting the support."""
        return _cap(g.uniform(14.0, 22.0), g.uniform(0.1, 0.5))

    def raft(g: np.random.Generator) -> Solid:
        """A one- or two-layer island."""
        layers = int(g.integers(1, 4))
        return plate(g, g.uniform(16.0, 32.0), layers * 0.23 / px, int(g.integers(5, 9)))

    columns = _columns(0.196 / px, (0.3, 0.7))
    kinds = [
        Kind(1, "platinum", cluster, 0.12, columns),
        Kind(2, "platinum", raft, 0.14, columns),
    ]
    scatter(canvas, rng, kinds, density, gap=3)
    return canvas.specimen({"alumina": alumina}, ["alumina or vacuum", "cluster", "raft"])


SCENES = {
    "facets_vs_spheres": facets_vs_spheres,
    "rods_vs_spheres": rods_vs_spheres,
    "gold_palladium_holey": gold_palladium_holey,
    "hollow_vs_solid": hollow_vs_solid,
    "aggregates_vs_isolated": aggregates_vs_isolated,
    "clusters_vs_rafts": clusters_vs_rafts,
}
