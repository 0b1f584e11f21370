"""Texture mosaics from scikit-image's bundled images that neither the seen benchmark
(brick, grass, gravel, moon) nor training (procedural textures) uses. Nothing is downloaded:
only files shipped inside the scikit-image wheel are read.

Each texture is a fixed crop of a bundled image, turned grey and standardised to zero mean and
unit std, so classes differ by texture only; every scene samples it at a random offset, flip and
quarter turn, mirror-tiled over the canvas.
"""

from __future__ import annotations

import functools

import numpy as np

from workers.fewshot.unseen.fields import grains, islands, star_radius
from workers.fewshot.unseen.scene import Drawn

__all__ = ["TEXTURE_BUILDERS", "TEXTURE_SOURCES", "texture"]

# name -> (skimage.data function, crop (y0, y1, x0, x1) or None for the whole image)
TEXTURE_SOURCES: dict[str, tuple[str, tuple[int, int, int, int] | None]] = {
    "starfield": ("hubble_deep_field", None),
    "tissue": ("immunohistochemistry", None),
    "print": ("page", None),
    "handwriting": ("text", None),
    "vessels": ("retina", (350, 1060, 350, 1060)),
    "coins": ("coins", None),
}
LEVEL, CONTRAST = 500.0, 120.0


@functools.cache
def texture(name: str) -> np.ndarray:
    """A bundled image's crop as float32 grey (h, w), zero mean, unit std (read-only)."""
    if name not in TEXTURE_SOURCES:
        raise KeyError(f"unknown texture {name!r}; known: {', '.join(TEXTURE_SOURCES)}")
    # heavy (scikit-image's bundled images): only the texture cases need it
    from skimage import data

    fn, crop = TEXTURE_SOURCES[name]
    img = np.asarray(getattr(data, fn)(), np.float32)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.2125, 0.7154, 0.0721], np.float32)
    if crop:
        y0, y1, x0, x1 = crop
        img = img[y0:y1, x0:x1]
    img = (img - img.mean()) / max(float(img.std()), 1e-6)
    img.setflags(write=False)
    return img


def _tile(name: str, canvas: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The texture mirror-tiled over the canvas from a random offset, flip and quarter turn."""
    t = np.rot90(texture(name), int(rng.integers(4)))[:: rng.choice([-1, 1])]
    th, tw = t.shape
    iy = (np.arange(canvas[0]) + rng.integers(th)) % (2 * th)
    ix = (np.arange(canvas[1]) + rng.integers(tw)) % (2 * tw)
    iy = np.minimum(iy, 2 * th - 1 - iy)
    ix = np.minimum(ix, 2 * tw - 1 - ix)
    return t[iy[:, None], ix[None, :]]


def _stars(canvas: tuple[int, int], n: int, rng: np.random.Generator, k: int) -> np.ndarray:
    """Background class 0 with ``n`` irregular star-convex inclusions of classes 1..k-1."""
    h, w = canvas
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros(canvas, np.int32)
    for i in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.1, 0.2) * min(h, w)
        theta = np.arctan2(yy - cy, xx - cx)
        inside = np.hypot(yy - cy, xx - cx) < r * star_radius(theta, rng, irregularity=0.35)
        out[inside] = 1 + i % (k - 1)
    return out


def mosaic(names: tuple[str, ...], layout: str):
    """A draw function placing the named textures in ``layout`` ("grains" | "stars" | "islands")."""

    def draw(rng: np.random.Generator, canvas: tuple[int, int]) -> Drawn:
        k = len(names)
        if layout == "grains":
            n = max(2 * k, round(canvas[0] * canvas[1] / 150**2))
            regions = grains(canvas, n, rng, warp=10.0)
            truth = rng.permutation(np.arange(n) % k).astype(np.int32)[regions]
        elif layout == "stars":
            truth = _stars(canvas, max(k, round(canvas[0] * canvas[1] / 200**2)), rng, k)
        else:
            truth = islands(canvas, rng, fraction=0.45, beta=3.0)
        fields = np.stack([_tile(t, canvas, rng) for t in names])
        intensity = np.take_along_axis(fields, truth[None], 0)[0] * CONTRAST + LEVEL
        classes = [{"kind": "texture", "texture": t} for t in names]
        return Drawn(intensity.astype(np.float32), truth, list(names), classes)

    return draw


TEXTURE_BUILDERS = {
    "textures_starfield_print": mosaic(("starfield", "print"), "islands"),
    "textures_tissue_vessels_coins": mosaic(("tissue", "vessels", "coins"), "stars"),
    "textures_four": mosaic(("starfield", "tissue", "handwriting", "vessels"), "grains"),
}
