"""Particles as 3D solids and their projections along the beam (the z axis).

A solid is a union of convex parts, less voids inside it. A convex part is the intersection of
at most one quadric (ellipsoid or cylinder: x^T Q x <= 1) and half-spaces (n . x <= d), so the
chord of a beam line through it is found exactly: the projected thickness is the chord's
length, the upper surface its far end. Lengths are in pixels; a solid is centred on the origin
of its own frame, and ``turned`` rotates it in 3D (random tilt, not only in-plane rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Convex",
    "Solid",
    "capsule",
    "cube",
    "decahedron",
    "ellipsoid",
    "octahedron",
    "plate",
    "random_rotation",
    "shell",
    "sphere",
    "trace",
    "truncated_octahedron",
]


@dataclass(frozen=True)
class Convex:
    """A convex body: quadric (3, 3) or None, normals (m, 3), offsets (m,), shift (3,)."""

    quadric: np.ndarray | None
    normals: np.ndarray
    offsets: np.ndarray
    shift: np.ndarray

    def turned(self, rot: np.ndarray) -> Convex:
        """The body rotated by ``rot`` (3, 3) about the solid's origin."""
        q = None if self.quadric is None else rot @ self.quadric @ rot.T
        return Convex(q, self.normals @ rot.T, self.offsets, rot @ self.shift)

    def chord(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entry and exit z of the beam lines at (x, y) (same shapes); lo > hi: missed."""
        x = x - self.shift[0]
        y = y - self.shift[1]
        lo = np.full(x.shape, -np.inf)
        hi = np.full(x.shape, np.inf)
        if self.quadric is not None:
            q = self.quadric
            a = max(q[2, 2], 1e-12)  # a cylinder along the beam: the planes bound it
            b = q[2, 0] * x + q[2, 1] * y
            c = q[0, 0] * x * x + 2 * q[0, 1] * x * y + q[1, 1] * y * y - 1
            disc = b * b - a * c
            root = np.sqrt(np.maximum(disc, 0))
            lo = np.where(disc >= 0, (-b - root) / a, np.inf)
            hi = np.where(disc >= 0, (-b + root) / a, -np.inf)
        for n, d in zip(self.normals, self.offsets, strict=True):
            rhs = d - n[0] * x - n[1] * y
            if n[2] > 1e-9:
                hi = np.minimum(hi, rhs / n[2])
            elif n[2] < -1e-9:
                lo = np.maximum(lo, rhs / n[2])
            else:
                hi = np.where(rhs < 0, -np.inf, hi)
        return lo + self.shift[2], hi + self.shift[2]


@dataclass(frozen=True)
class Solid:
    """Convex parts whose union is convex along every beam line, less voids; reach: radius of
    a sphere about the origin that holds it (px)."""

    parts: tuple[Convex, ...]
    reach: float
    voids: tuple[Convex, ...] = ()

    def turned(self, rot: np.ndarray) -> Solid:
        """The solid rotated by ``rot`` (3, 3)."""
        return Solid(
            tuple(p.turned(rot) for p in self.parts),
            self.reach,
            tuple(v.turned(rot) for v in self.voids),
        )


def trace(solid: Solid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Projected thickness, entry z and exit z of the beam lines at (x, y), in px (off the
    solid: 0, +inf, -inf)."""
    lo = np.full(x.shape, np.inf)
    hi = np.full(x.shape, -np.inf)
    for part in solid.parts:
        a, b = part.chord(x, y)
        hit = a < b
        lo = np.where(hit, np.minimum(lo, a), lo)
        hi = np.where(hit, np.maximum(hi, b), hi)
    thick = np.maximum(hi - lo, 0.0)
    for void in solid.voids:
        a, b = void.chord(x, y)
        thick -= np.maximum(b - a, 0.0)
    return np.maximum(thick, 0.0), lo, hi


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation drawn uniformly over SO(3) (a normalised Gaussian quaternion) -> (3, 3)."""
    w, x, y, z = (q := rng.standard_normal(4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _planes(normals, offsets, quadric=None, shift=(0.0, 0.0, 0.0)) -> Convex:
    """A convex body from half-spaces n . x <= d (normals made unit; offsets are distances)."""
    n = np.asarray(normals, float).reshape(-1, 3)
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    return Convex(quadric, n, np.asarray(offsets, float).reshape(-1), np.asarray(shift, float))


def ellipsoid(a: float, b: float, c: float) -> Solid:
    """An ellipsoid with semi-axes a, b, c (px) along its x, y, z."""
    q = np.diag([1 / a**2, 1 / b**2, 1 / c**2])
    return Solid((_planes(np.zeros((0, 3)), [], q),), max(a, b, c))


def sphere(r: float) -> Solid:
    """A sphere of radius r (px)."""
    return ellipsoid(r, r, r)


def cube(h: float, stretch: tuple[float, float, float] = (1, 1, 1)) -> Solid:
    """A cube (a box with ``stretch``) of half-edge h (px)."""
    s = np.asarray(stretch, float)
    eye = np.eye(3)
    reach = h * float(np.linalg.norm(s))
    return Solid((_planes(np.vstack([eye, -eye]), np.tile(h * s, 2)),), reach)


def _signs() -> np.ndarray:
    """The eight (+-1, +-1, +-1) directions (8, 3), the {111} normals before normalising."""
    return np.array([[i, j, k] for i in (1, -1) for j in (1, -1) for k in (1, -1)], float)


def octahedron(h: float) -> Solid:
    """A regular octahedron whose faces lie h (px) from its centre ({111} facets)."""
    return Solid((_planes(_signs(), np.full(8, h)),), h * np.sqrt(3))


def truncated_octahedron(h: float, cut: float = 0.8) -> Solid:
    """An octahedron (faces h from the centre) with its six corners cut by {100} planes at
    ``cut`` * h * sqrt(3) (cut in (1/sqrt(3), 1): 1 keeps the corners)."""
    eye = np.eye(3)
    d100 = cut * h * np.sqrt(3)
    normals = np.vstack([_signs(), eye, -eye])
    return Solid((_planes(normals, [*np.full(8, h), *np.full(6, d100)]),), h * np.sqrt(3))


def decahedron(r: float, height: float = 0.62, notch: float = 0.92) -> Solid:
    """A Marks-like decahedron: a pentagonal bipyramid (equator corners r from the axis, apexes
    height * r above and below) with its five equatorial edges cut by {100} planes at
    ``notch`` of their distance from the axis (px)."""
    mid = r * np.cos(np.pi / 5)  # distance of an equatorial edge from the axis
    top = height * r
    norm = np.hypot(top, mid)
    faces, offsets = [], []
    for phi in 2 * np.pi * np.arange(5) / 5 + np.pi / 5:
        for sign in (1, -1):
            faces.append([np.cos(phi) * top / norm, np.sin(phi) * top / norm, sign * mid / norm])
            offsets.append(mid * top / norm)
        faces.append([np.cos(phi), np.sin(phi), 0.0])
        offsets.append(notch * mid)
    return Solid((_planes(faces, offsets),), r * max(1.0, height))


def capsule(r: float, length: float) -> Solid:
    """A rod along x: a cylinder of radius r and ``length`` between its caps' centres, closed
    by two half spheres (px)."""
    half = length / 2
    cyl = _planes([[1, 0, 0], [-1, 0, 0]], [half, half], np.diag([0.0, 1 / r**2, 1 / r**2]))
    ball = np.diag([1 / r**2] * 3)
    caps = tuple(_planes(np.zeros((0, 3)), [], ball, (s * half, 0, 0)) for s in (1, -1))
    return Solid((cyl, *caps), half + r)


def plate(rng: np.random.Generator, r: float, thick: float, sides: int = 7) -> Solid:
    """A flat island lying in the x-y plane: an irregular convex polygon of ``sides`` edges
    about r (px) from its centre, ``thick`` (px) high (a raft; not turned out of plane)."""
    # evenly spread facet normals (jittered): every gap under 180 deg keeps the polygon closed
    angles = (np.arange(sides) + rng.uniform(-0.3, 0.3, sides)) * 2 * np.pi / sides
    angles += rng.uniform(0, 2 * np.pi)
    reach = r * rng.uniform(0.75, 1.1, sides)
    normals = [[np.cos(a), np.sin(a), 0.0] for a in angles] + [[0, 0, 1], [0, 0, -1]]
    return Solid((_planes(normals, [*reach, thick / 2, thick / 2]),), 2.2 * r + thick)


def shell(outer: Solid, inner: Solid) -> Solid:
    """``outer`` with ``inner`` (held inside it) hollowed out."""
    return Solid(outer.parts, outer.reach, outer.voids + inner.parts)
