"""Texture mosaics with truth, cut from images that ship inside scikit-image (no download).

Every texture is standardised to the same mean and standard deviation, so the classes differ in
texture only, not in brightness. The "_gain" cases then give every region its own contrast gain
and brightness offset, drawn independently of its class (thickness, tilt, detector settings
in a micrograph): brightness and contrast mislead there, texture does not.
``skimage.data.brick/grass/gravel/moon`` are bundled files; images that ``skimage.data``
fetches with pooch (e.g. ``rough_wall``) are deliberately not used.
"""

from __future__ import annotations

import functools

import numpy as np

from workers.fewshot.sim import layouts
from workers.fewshot.sim.imaging import ImagingConfig
from workers.fewshot.sim.scene import CaseSpec, Scene

__all__ = ["TEXTURES", "TEXTURE_CASES", "load_texture"]

TEXTURES = ("brick", "grass", "gravel", "moon")
TEXTURE_IMAGING = ImagingConfig(
    dose=None, read_noise=0.0, blur=0.0, jitter=0.0, wobble=0.0, drift=0.0, gradient=0.0, offset=0.0
)
#: counts-like imaging of the noisy mosaic: ~25 counts per pixel at the mean level
NOISY_TEXTURE_IMAGING = ImagingConfig(
    dose=0.25,
    read_noise=1.0,
    blur=1.0,
    jitter=0.5,
    wobble=1.5,
    drift=0.02,
    gradient=0.2,
    offset=0.0,
)
LEVEL, CONTRAST = 100.0, 30.0


@functools.cache
def load_texture(name: str) -> np.ndarray:
    """A bundled scikit-image texture as float32 (512, 512) with zero mean and unit std."""
    if name not in TEXTURES:
        raise KeyError(f"unknown texture {name!r}; bundled ones: {', '.join(TEXTURES)}")
    from skimage import data  # imported lazily: only texture cases need scikit-image

    img = getattr(data, name)().astype(np.float32)
    img = (img - img.mean()) / max(float(img.std()), 1e-6)
    img.setflags(write=False)
    return img


def _sample(texture: np.ndarray, canvas: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Tile a texture over the canvas by mirroring, from a random offset and flip, (H, W)."""
    h, w = canvas
    t = texture[:: rng.choice([-1, 1]), :: rng.choice([-1, 1])]
    th, tw = t.shape
    oy, ox = rng.integers(0, th), rng.integers(0, tw)
    # Mirror tiling: period 2*size; index folds back so tiles meet seamlessly.
    iy = (np.arange(h) + oy) % (2 * th)
    ix = (np.arange(w) + ox) % (2 * tw)
    iy = np.where(iy < th, iy, 2 * th - 1 - iy)
    ix = np.where(ix < tw, ix, 2 * tw - 1 - ix)
    return t[iy[:, None], ix[None, :]]


def _mosaic(
    names: tuple[str, ...],
    layout: str,
    *,
    gain: tuple[float, float] | None = None,
    shift: float = 0.0,
    cell: float = 140.0,
):
    """A scene builder placing the named textures in ``layout`` ("layers" or "voronoi").

    gain: (min, max) log-uniform contrast factor per region and ``shift`` the std (in units of
    the texture contrast) of a brightness offset per region, both independent of the class
    (None: every region alike); cell: typical voronoi cell side (px).
    """

    def build(rng: np.random.Generator, canvas: tuple[int, int]) -> Scene:
        k = len(names)
        if layout == "layers":
            cuts = sorted(rng.uniform(-0.4, 0.4, k - 1)) if k > 2 else [rng.uniform(-0.15, 0.15)]
            regions = layouts.layers(
                canvas,
                list(cuts),
                angle=rng.uniform(0, 180),
                wave=rng.uniform(10, 30),
                wavelength=rng.uniform(150, 300),
                rng=rng,
            )
            region_class = list(range(k))
        else:
            n = max(2 * k, round(canvas[0] * canvas[1] / cell**2))
            regions = layouts.voronoi(canvas, n, rng, boundary_wave=8.0)
            region_class = [int(c) for c in rng.permutation(np.arange(n) % k)]
        fields = [_sample(load_texture(t), canvas, rng) for t in names]
        lut = np.asarray(region_class, np.int32)
        truth = lut[regions]
        intensity = np.choose(truth, fields).astype(np.float32)
        if gain is not None:
            n_regions = int(regions.max()) + 1
            g = np.exp(rng.uniform(np.log(gain[0]), np.log(gain[1]), n_regions))
            b = rng.normal(0.0, shift, n_regions)
            intensity = intensity * g[regions].astype(np.float32) + b[regions].astype(np.float32)
        intensity = intensity * CONTRAST + LEVEL
        classes = [
            {"kind": "texture", "texture": t, "expected_mean": LEVEL, "expected_std": CONTRAST}
            for t in names
        ]
        return Scene(intensity, truth, list(names), classes)

    return build


def _texture_case(
    name: str,
    names: tuple[str, ...],
    layout: str,
    difficulty: str,
    *,
    imaging: ImagingConfig = TEXTURE_IMAGING,
    note: str = "",
    **mosaic,
) -> CaseSpec:
    return CaseSpec(
        name,
        "textures",
        f"{', '.join(names)} mosaic ({layout}){note}",
        _mosaic(names, layout, **mosaic),
        imaging,
        1.0,
        difficulty,
        ("texture",),
        "px",
    )


TEXTURE_CASES: dict[str, CaseSpec] = {
    c.name: c
    for c in [
        _texture_case("textures_brick_grass", ("brick", "grass"), "layers", "easy"),
        _texture_case("textures_three", ("brick", "grass", "gravel"), "voronoi", "medium"),
        _texture_case("textures_four", ("brick", "grass", "gravel", "moon"), "voronoi", "hard"),
        _texture_case(
            "textures_three_gain",
            ("brick", "grass", "gravel"),
            "voronoi",
            "hard",
            note=", contrast x0.5-2 and brightness per region",
            gain=(0.5, 2.0),
            shift=0.8,
            cell=110.0,
        ),
        _texture_case(
            "textures_four_gain_noisy",
            ("brick", "grass", "gravel", "moon"),
            "voronoi",
            "hard",
            imaging=NOISY_TEXTURE_IMAGING,
            note=", contrast and brightness per region, shot noise, blur, drift",
            gain=(0.6, 1.7),
            shift=0.6,
            cell=110.0,
        ),
    ]
}
