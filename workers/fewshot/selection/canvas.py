"""Drawing solids on a specimen canvas and placing them: scattered, or grown into aggregates.

Each particle is traced on its own patch with 2 x 2 sub-pixel lines (its thickness the mean of
the four chords, its truth where at least half of them hit it). Particles do not overlap
unless asked: a candidate is kept only where its footprint, widened by a gap, meets no other
particle (in an aggregate it may touch its own group).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from workers.fewshot.selection.bodies import Solid, trace
from workers.fewshot.selection.scene import Specimen

__all__ = ["Canvas", "Footprint", "Kind", "grow", "scatter"]

_SUB = (-0.25, 0.25)


@dataclass
class Footprint:
    """A solid traced on a patch: slices of the canvas, thickness (px, mean over sub-pixel
    lines), top above the solid's lowest point (px), cover (share of sub-pixel lines hit)."""

    rows: slice
    cols: slice
    thick: np.ndarray
    top: np.ndarray
    cover: np.ndarray


@dataclass(frozen=True)
class Kind:
    """A particle kind: truth class, material, ``make(rng) -> Solid`` (already turned), share of
    the allowed area to cover, ``texture(rng, fp) -> factor`` on its thickness and ``bragg(rng,
    fp) -> loss per nm`` to diffraction (None: none)."""

    cls: int
    material: str
    make: Callable[[np.random.Generator], Solid]
    share: float
    texture: Callable[[np.random.Generator, Footprint], np.ndarray] | None = None
    bragg: Callable[[np.random.Generator, Footprint], np.ndarray | float] | None = None


class Canvas:
    """The specimen's maps while particles are drawn (shape (H, W), pixel size in nm)."""

    def __init__(self, shape: tuple[int, int], pixel_nm: float, materials: list[str]):
        """Empty maps; ``materials`` are those the particles may be made of."""
        self.shape = shape
        self.pixel_nm = pixel_nm
        self.thickness = {m: np.zeros(shape, np.float32) for m in materials}
        self.top = np.zeros(shape, np.float32)
        self.truth = np.zeros(shape, np.int32)
        self.owner = np.zeros(shape, np.int32)
        self.bragg = np.zeros(shape, np.float32)
        self._best = np.zeros(shape, np.float32)
        self.groups = 0

    def footprint(self, solid: Solid, cy: float, cx: float, pad: int = 0) -> Footprint | None:
        """``solid`` traced about (cy, cx) on a patch ``pad`` px wider than its reach (None:
        off the canvas)."""
        reach = solid.reach + pad + 1
        y0, x0 = max(int(cy - reach), 0), max(int(cx - reach), 0)
        y1 = min(int(np.ceil(cy + reach)) + 1, self.shape[0])
        x1 = min(int(np.ceil(cx + reach)) + 1, self.shape[1])
        if y1 <= y0 or x1 <= x0:
            return None
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
        thick = np.zeros(yy.shape)
        hits = np.zeros(yy.shape)
        lo = np.full(yy.shape, np.inf)
        hi = np.full(yy.shape, -np.inf)
        for dy in _SUB:
            for dx in _SUB:
                t, a, b = trace(solid, xx + dx - cx, yy + dy - cy)
                thick += t / 4
                hits += (t > 0) / 4
                lo, hi = np.minimum(lo, a), np.maximum(hi, b)
        base = lo.min() if np.isfinite(lo).any() else 0.0
        top = np.where(hits > 0, hi - base, 0.0)
        return Footprint(slice(y0, y1), slice(x0, x1), thick, top, hits)

    def fits(self, fp: Footprint, gap: int, group: int = 0, touch: int = 0) -> bool:
        """Whether ``fp`` widened by ``gap`` px meets no particle of another group and at most
        ``touch`` px of its own ``group`` (0: no group)."""
        body = fp.cover > 0
        if not body.any():
            return False
        wide = ndimage.binary_dilation(body, iterations=gap) if gap > 0 else body
        owner = self.owner[fp.rows, fp.cols]
        others = (owner != 0) & (owner != group) if group else owner != 0
        if (others & wide).any():
            return False
        return not group or int(((owner == group) & body).sum()) <= touch

    def add(
        self, fp: Footprint, material: str, cls: int, group: int, factor=None, bragg=None
    ) -> int:
        """Draw ``fp`` in ``material`` as class ``cls`` (thickness times ``factor``, Bragg loss
        ``bragg`` per nm); the pixels it takes in the truth."""
        t = (fp.thick * self.pixel_nm * (1.0 if factor is None else factor)).astype(np.float32)
        self.thickness[material][fp.rows, fp.cols] += t
        if bragg is not None:
            self.bragg[fp.rows, fp.cols] += (t * bragg).astype(np.float32)
        best = self._best[fp.rows, fp.cols]
        take = (fp.cover >= 0.5) & (t >= best)
        self._best[fp.rows, fp.cols] = np.where(take, t, best)
        self.truth[fp.rows, fp.cols] = np.where(take, cls, self.truth[fp.rows, fp.cols])
        self.owner[fp.rows, fp.cols] = np.where(fp.cover > 0, group, self.owner[fp.rows, fp.cols])
        self.top[fp.rows, fp.cols] = np.maximum(self.top[fp.rows, fp.cols], fp.top)
        return int(take.sum())

    def new_group(self) -> int:
        """A fresh group id (one per particle, or per aggregate)."""
        self.groups += 1
        return self.groups

    def specimen(self, support: dict[str, np.ndarray], class_names: list[str]) -> Specimen:
        """The finished specimen: the particles' thickness plus the ``support`` maps (nm)."""
        thickness = dict(self.thickness)
        for name, t in support.items():
            thickness[name] = thickness.get(name, 0) + t.astype(np.float32)
        return Specimen(thickness, self.top, self.truth, class_names, self.bragg)


def centres(rng: np.random.Generator, density: np.ndarray, n: int) -> np.ndarray:
    """``n`` points (y, x) drawn with probability proportional to ``density`` (H, W) -> (n, 2)."""
    cum = np.cumsum(density.ravel().astype(np.float64))
    flat = np.searchsorted(cum, rng.random(n) * cum[-1]).clip(0, density.size - 1)
    y, x = np.divmod(flat, density.shape[1])
    return np.stack([y, x], 1) + rng.uniform(-0.5, 0.5, (n, 2))


def _touches(canvas: Canvas, fp: Footprint, group: int) -> bool:
    """Whether ``fp`` widened by 1 px meets a particle of ``group``."""
    near = ndimage.binary_dilation(fp.cover > 0)
    return bool(((canvas.owner[fp.rows, fp.cols] == group) & near).any())


def _draw(canvas: Canvas, rng, kind: Kind, fp: Footprint, group: int) -> int:
    """Draw ``fp`` as a particle of ``kind`` with its texture, if any."""
    factor = kind.texture(rng, fp) if kind.texture is not None else None
    bragg = kind.bragg(rng, fp) if kind.bragg is not None else None
    return canvas.add(fp, kind.material, kind.cls, group, factor, bragg)


def scatter(
    canvas: Canvas,
    rng: np.random.Generator,
    kinds: list[Kind],
    density: np.ndarray | dict[int, np.ndarray],
    gap: int,
) -> dict[int, int]:
    """Place particles of ``kinds`` at centres drawn from ``density`` (one map, or one per
    class) until each covers its share of its allowed area (density > 0), the kind furthest
    from its share first; a kind that fails to fit 60 times in a row stops. Returns {class:
    pixels taken}."""
    maps = density if isinstance(density, dict) else {k.cls: density for k in kinds}
    goal = {k.cls: k.share * float((maps[k.cls] > 0).sum()) for k in kinds}
    taken = {k.cls: 0 for k in kinds}
    fails = {k.cls: 0 for k in kinds}
    budget = {k.cls: int(goal[k.cls] / 20) + 200 for k in kinds}
    points = {k.cls: iter(centres(rng, maps[k.cls], budget[k.cls])) for k in kinds}
    while True:
        open_ = [k for k in kinds if fails[k.cls] < 60 and taken[k.cls] < goal[k.cls]]
        if not open_:
            return taken
        kind = min(open_, key=lambda k: taken[k.cls] / goal[k.cls])
        point = next(points[kind.cls], None)
        if point is None:
            fails[kind.cls] = 60
            continue
        fp = canvas.footprint(kind.make(rng), point[0], point[1], pad=gap)
        if fp is None or not canvas.fits(fp, gap):
            fails[kind.cls] += 1
            continue
        fails[kind.cls] = 0
        taken[kind.cls] += _draw(canvas, rng, kind, fp, canvas.new_group())


def grow(
    canvas: Canvas,
    rng: np.random.Generator,
    kind: Kind,
    n: int,
    seed: tuple[float, float],
    gap: int,
) -> int:
    """An aggregate of up to ``n`` touching particles grown from ``seed`` (y, x): each newcomer
    comes in along a random line towards a random member and stops at contact; the aggregate
    keeps ``gap`` px from other groups. Returns the number of particles drawn."""
    group = canvas.new_group()
    members: list[tuple[float, float, float]] = []
    for _ in range(6 * n):
        if len(members) == n:
            break
        solid = kind.make(rng)
        if not members:
            cy, cx = seed
            fp = canvas.footprint(solid, cy, cx, pad=gap)
            if fp is not None and canvas.fits(fp, gap, group):
                _draw(canvas, rng, kind, fp, group)
                members.append((cy, cx, solid.reach))
            continue
        my, mx, mr = members[rng.integers(len(members))]
        angle = rng.uniform(0, 2 * np.pi)
        last = None
        for dist in np.arange(mr + solid.reach + 2, 0.3 * mr, -1.0):
            cy, cx = my + dist * np.sin(angle), mx + dist * np.cos(angle)
            fp = canvas.footprint(solid, cy, cx, pad=gap)
            if fp is None or not canvas.fits(fp, gap, group, touch=int(solid.reach)):
                break
            last = (cy, cx, fp)
        if last is not None and _touches(canvas, last[2], group):
            _draw(canvas, rng, kind, last[2], group)
            members.append((last[0], last[1], solid.reach))
    return len(members)
