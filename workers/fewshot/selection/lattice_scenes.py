"""The lattice cases' specimens: crystals down a zone axis, as atoms per pixel by element.

Each builder takes (rng, canvas shape, pixel size in nm) and returns a ``crystals.Projected``:
twin lamellae in gold, an InGaAs film on GaAs in cross-section, ordered and disordered domains
of Cu3Au, and a polycrystal of copper and cuprite grains. Sizes are physical (nm) and turned
into pixels by the pixel size.
"""

from __future__ import annotations

import numpy as np

from workers.fewshot.selection.crystals import (
    CELLS,
    Cell,
    Frame,
    Projected,
    amorphous,
    columns_in,
    frame,
    splat,
)
from workers.fewshot.selection.supports import random_field
from workers.fewshot.selection.tiling import balanced_classes, cells

__all__ = ["LATTICE_SCENES"]

_COLUMN_NM = 0.025  # rms spread of an atom column: thermal vibration and the column's potential


def _wedge(rng: np.random.Generator, shape, mean_nm: float, spread: float) -> np.ndarray:
    """A foil thickness (H, W) nm: ``mean_nm`` +- ``spread`` / 2 of it across the canvas along
    a random direction, with a gentle undulation."""
    h, w = shape
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((yy - h / 2) * np.sin(angle) + (xx - w / 2) * np.cos(angle)) / max(h, w)
    wave = 0.05 * random_field(rng, shape, corr=max(h, w) / 4)
    return (mean_nm * (1 + spread * ramp + wave)).astype(np.float32)


def _at(pos: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """The canvas pixel (rows, cols) of each position (n, 2), clipped to the canvas."""
    r = np.clip(np.round(pos[:, 0]).astype(int), 0, shape[0] - 1)
    c = np.clip(np.round(pos[:, 1]).astype(int), 0, shape[1] - 1)
    return r, c


def _place(spec: Projected, pos: np.ndarray, counts: dict[int, np.ndarray], px: float) -> None:
    """Columns at ``pos`` (n, 2) px holding ``counts`` atoms of each element, added to
    ``spec`` (each column spread by its thermal vibration)."""
    for z, n in counts.items():
        keep = n > 0
        if keep.any():
            spec.add(z, splat(spec.truth.shape, pos[keep], n[keep].astype(float), _COLUMN_NM / px))


def _crystal_counts(cell: Cell, site: np.ndarray, thick: np.ndarray) -> dict[int, np.ndarray]:
    """Atoms of each element in each column (whole atoms), ``thick`` nm long per column."""
    elements = sorted({z for occ in cell.occupancy for z in occ})
    per_nm = {z: np.array([occ.get(z, 0.0) for occ in cell.occupancy])[site] for z in elements}
    return {z: np.round(v * thick) for z, v in per_nm.items()}


def _carbon(rng: np.random.Generator, spec: Projected, px: float, nm: tuple[float, float]):
    """An amorphous carbon film (support or contamination) of ``nm`` (drawn range) over all."""
    film = np.full(spec.truth.shape, rng.uniform(*nm), np.float32)
    film *= 1 + 0.2 * random_field(rng, spec.truth.shape, corr=0.5 / px)
    spec.add(6, amorphous(rng, film, 100.0, px, 0.035 / px))


def _bounds(rng: np.random.Generator, lo: float, hi: float, step: float, width) -> np.ndarray:
    """Boundaries from ``lo`` to ``hi`` ``width`` (drawn range) apart, each on a plane (a
    multiple of ``step``)."""
    out, at = [], lo + rng.uniform(0, width[1])
    while at < hi:
        out.append(np.round(at / step) * step)
        at += rng.uniform(*width)
    return np.unique(out)


def twins(rng: np.random.Generator, shape, px: float) -> Projected:
    """Gold down [110] with twin lamellae 1.2-4.5 nm thick: each lamella is the mirror image of
    the last across a coherent {111} boundary (a plane of shared columns), alternately matrix
    and twin orientation; a wedge-shaped foil under a thin carbon film."""
    cell = CELLS["gold_110"]
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fr = frame(cell, px, rng.uniform(0, 2 * np.pi), (h / 2, w / 2))
    trace = 0.5 * (fr.a + fr.b)  # a {111} plane seen edge-on
    normal = np.array([trace[1], -trace[0]]) / np.linalg.norm(trace)
    step = abs(fr.a @ normal)  # the {111} spacing
    s = (yy - fr.origin[0]) * normal[0] + (xx - fr.origin[1]) * normal[1]
    bounds = _bounds(rng, float(s.min()), float(s.max()), step, (1.2 / px, 4.5 / px))
    band = np.searchsorted(bounds, s)
    frames = [fr]
    for b in bounds:  # mirror the last lamella across a plane of its own columns
        f = frames[-1]
        m = np.round((b - (f.origin - fr.origin) @ normal) / (f.a @ normal))
        frames.append(f.mirrored(f.origin + m * f.a, trace))
    first = int(rng.integers(2))
    truth = ((band + first) % 2).astype(np.int32)
    thick = _wedge(rng, shape, rng.uniform(2.5, 6.0), 0.6)
    spec = Projected({}, truth, ["matrix", "twin"], {"lamellae": len(bounds) + 1})
    for j, f in enumerate(frames):
        pos, site = columns_in(cell, f, band == j)
        counts = _crystal_counts(cell, site, thick[_at(pos, shape)])
        _place(spec, pos + rng.normal(0, 0.006 / px, pos.shape), counts, px)
    _carbon(rng, spec, px, (1.5, 4.0))
    return spec


def _steps(rng: np.random.Generator, span: tuple[float, float], base: float, layer: float, px):
    """A grown interface: its height (px) over the in-plane coordinate (px) in ``span``, as a
    function: ``base`` plus one-monolayer (``layer``) steps ~4-10 nm apart, each up or down."""
    grid = np.arange(np.floor(span[0]) - 1, np.ceil(span[1]) + 2)
    rate = px / rng.uniform(4.0, 10.0)
    level = np.cumsum((rng.random(grid.size) < rate) * rng.choice([-1, 1], grid.size))
    level = base + layer * (level - level[grid.size // 2])
    return lambda a: np.interp(a, grid, level)


def _misfit(pos: np.ndarray, origin, up, side, surface, other: float, fade: float):
    """Columns (n, 2) moved toward the other crystal's in-plane positions (``other`` pitch px)
    by half the offset at the interface (height ``surface``(in-plane coordinate)), fading over
    ``fade`` px: coherent between misfit dislocations, where the offset jumps."""
    rel = pos - origin
    across, height = rel @ side, rel @ up
    offset = np.round(across / (other / 2)) * (other / 2) - across
    depth = np.abs(height - surface(across))
    return pos + np.outer(offset / 2 * np.exp(-depth / fade), side)


def _cross_section(rng: np.random.Generator, shape, fr: Frame, px: float):
    """Where substrate, film and cap are (truth (H, W)), the interface height as a function of
    the in-plane coordinate, its base height, and the height above the film's surface (H, W);
    heights in px along the growth direction ``fr.b`` from the canvas centre."""
    h, w = shape
    up, side = fr.b / np.linalg.norm(fr.b), fr.a / np.linalg.norm(fr.a)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grow = (yy - h / 2) * up[0] + (xx - w / 2) * up[1]
    across = (yy - h / 2) * side[0] + (xx - w / 2) * side[1]
    inner = grow[h // 16 : h - h // 16, w // 16 : w - w // 16]  # about the image window
    q1 = rng.uniform(0.25, 0.38)
    cell_h = np.linalg.norm(fr.b)
    base = np.round(np.quantile(inner, q1) / cell_h) * cell_h  # on a substrate cell
    surface = _steps(rng, (float(across.min()), float(across.max())), base, cell_h / 2, px)
    top = np.quantile(inner, q1 + rng.uniform(0.3, 0.42))
    rough = top + rng.uniform(0.3, 0.8) / px * random_field(rng, shape, corr=1.5 / px)
    below = grow < surface(across)
    truth = np.where(below, 0, np.where(grow < rough, 1, 2)).astype(np.int32)
    return truth, surface, base, grow - rough


def epitaxy(rng: np.random.Generator, shape, px: float) -> Projected:
    """An In_x Ga_1-x As film (x 0.2-0.45, misfit 1.4-3.2 %) on GaAs seen down [110] in a FIB
    cross-section: dumbbell columns, monolayer steps at the interface, indium segregation
    (Muraki: x_n = x (1 - R^n) in the n-th monolayer), coherent strain relieved by misfit
    dislocations, a rough film surface under native oxide and a Pt-C protective deposit."""
    cell = CELLS["gaas_110"]
    x_in = rng.uniform(0.2, 0.45)
    misfit = x_in * (0.6058 - 0.5653) / 0.5653  # Vegard's law
    centre = np.array(shape, float) / 2
    fr = frame(cell, px, rng.uniform(0, 2 * np.pi), centre)
    truth, surface, base, above = _cross_section(rng, shape, fr, px)
    spec = Projected({}, truth, ["GaAs substrate", "InGaAs film", "amorphous cap"])
    spec.notes = {"indium": x_in, "misfit": misfit}
    up, side = fr.b / np.linalg.norm(fr.b), fr.a / np.linalg.norm(fr.a)
    pitch, layer = np.linalg.norm(fr.a), np.linalg.norm(fr.b) / 2
    # a dislocation array's field decays as exp(-2 pi z / D), D = (pitch / 2) / misfit
    fade = pitch / 2 / misfit / (2 * np.pi)
    film = Frame(centre + base * up, fr.a * (1 + misfit), fr.b * (1 + misfit))
    thick = _wedge(rng, shape, rng.uniform(25.0, 60.0), 0.5)
    for crystal, f, other in ((0, fr, pitch * (1 + misfit)), (1, film, pitch)):
        pos, site = columns_in(cell, f, truth == crystal)
        pos = _misfit(pos, centre, up, side, surface, other, fade)
        counts = _crystal_counts(cell, site, thick[_at(pos, shape)])
        if crystal == 1:  # indium on the cation columns, segregated upwards
            layers = ((pos - centre) @ up - surface((pos - centre) @ side)) / layer
            share = x_in * (1 - rng.uniform(0.7, 0.85) ** np.maximum(layers + 1, 1))
            counts[49] = rng.binomial(counts[31].astype(int), share).astype(float)
            counts[31] = counts[31] - counts[49]
        _place(spec, pos + rng.normal(0, 0.006 / px, pos.shape), counts, px)
    _cap(rng, spec, above, thick, px)
    return spec


def _cap(rng: np.random.Generator, spec: Projected, above: np.ndarray, thick, px: float):
    """Amorphous matter where ``above`` > 0 (px over the film surface): 1-2.5 nm of native
    oxide (Ga, As, O), then carbon with clustered platinum (an electron-beam Pt-C deposit)."""
    oxide = above < rng.uniform(1.0, 2.5) / px
    cap = above > 0
    t_ox = np.where(cap & oxide, thick, 0)
    t_pt = np.where(cap & ~oxide, thick, 0)
    for z, per_nm3 in ((31, 15.0), (33, 10.0), (8, 35.0)):
        spec.add(z, amorphous(rng, t_ox, per_nm3, px, 0.03 / px))
    spec.add(6, amorphous(rng, t_pt, 80.0, px, 0.03 / px))
    clusters = np.exp(1.2 * random_field(rng, spec.truth.shape, corr=0.4 / px))
    spec.add(78, amorphous(rng, t_pt * clusters, rng.uniform(3.0, 8.0), px, 0.03 / px))


def order_domains(rng: np.random.Generator, shape, px: float) -> Projected:
    """Cu3Au down [001], one crystal orientation throughout: ordered L1_2 domains (order
    parameter 0.45-0.9, gold on one of the four column sublattices; antiphase domains take
    another) next to disordered regions (every column a random 25 % gold); composition drawn
    atom by atom along each column."""
    cell = CELLS["cu3au_001"]
    h, w = shape
    fr = frame(cell, px, rng.uniform(0, np.pi / 2), (h / 2, w / 2))
    regions = cells(rng, shape, rng.uniform(140, 200), bend_px=10.0)
    truth = balanced_classes(rng, regions, 2)[regions].astype(np.int32)
    domains = cells(rng, shape, rng.uniform(60, 110), bend_px=6.0)
    n = int(domains.max()) + 1
    gold_site, order = rng.integers(0, 4, n)[domains], rng.uniform(0.45, 0.9, n)[domains]
    pos, site = columns_in(cell, fr, np.ones(shape, bool))
    at = _at(pos, shape)
    s = np.where(truth[at] == 1, order[at], 0.0)
    p_gold = np.where(site == gold_site[at], 0.25 + 0.75 * s, 0.25 - 0.25 * s)
    thick = _wedge(rng, shape, rng.uniform(12.0, 30.0), 0.5)
    atoms = np.round(thick[at] / 0.3749).astype(int)
    gold = rng.binomial(atoms, p_gold).astype(float)
    spec = Projected({}, truth, ["disordered", "ordered"], {"antiphase_domains": n})
    _place(spec, pos + rng.normal(0, 0.008 / px, pos.shape), {79: gold, 29: atoms - gold}, px)
    _carbon(rng, spec, px, (1.0, 3.0))
    return spec


# off-axis grains show one set of planes: (element, atoms / nm^3) and spacings (nm)
_OFF_AXIS = {
    0: (((29, 84.7),), (0.2087, 0.1808)),
    1: (((29, 51.4), (8, 25.7)), (0.2465, 0.2135)),
}


def copper_oxide(rng: np.random.Generator, shape, px: float) -> Projected:
    """A partly oxidised copper film: grains of copper (fcc, down [110]) and cuprite (Cu2O,
    down [001]) 3.5-5.5 nm across, each at its own in-plane angle and thickness; a quarter of
    them off any zone axis, showing one set of lattice planes; on an amorphous carbon support."""
    labels = cells(rng, shape, rng.uniform(3.5, 5.5) / px)
    phase = balanced_classes(rng, labels, 2)
    spec = Projected({}, phase[labels].astype(np.int32), ["copper", "cuprite"])
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    for grain in range(int(labels.max()) + 1):
        mask = labels == grain
        t = rng.uniform(3.0, 8.0)
        if rng.random() < 0.25:
            elements, spacings = _OFF_AXIS[int(phase[grain])]
            angle, d = rng.uniform(0, np.pi), rng.choice(spacings) / px
            wave = np.cos(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / d)
            planes = t * mask * (1 + rng.uniform(0.3, 0.7) * wave)
            for z, per_nm3 in elements:
                spec.add(z, amorphous(rng, planes, per_nm3, px, _COLUMN_NM / px))
            continue
        cell = CELLS["copper_110" if phase[grain] == 0 else "cuprite_001"]
        fr = frame(cell, px, rng.uniform(0, 2 * np.pi), rng.uniform((0, 0), shape))
        pos, site = columns_in(cell, fr, mask)
        _place(spec, pos + rng.normal(0, 0.006 / px, pos.shape),
               _crystal_counts(cell, site, np.full(len(site), t)), px)  # fmt: skip
    _carbon(rng, spec, px, (3.0, 8.0))
    return spec


LATTICE_SCENES = {
    "twins": twins,
    "epitaxy": epitaxy,
    "order_domains": order_domains,
    "copper_oxide": copper_oxide,
}
