"""The texture cases: mosaics of regions, each filled with one stationary texture.

Regions are cells of ``tiling`` (boundaries bent a little), shared out so that every class
gets a similar area. Each class's texture is made on the whole canvas by a process of its own
(``textures``) and shown where its regions are. The camera (``texture_camera``) blurs, matches
the classes' mean and contrast where a case asks for it (so brightness cannot tell them apart),
shades and adds noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from workers.fewshot.selection.textures import fibres, foam, lamellae, pattern, speckle, spinodal
from workers.fewshot.selection.tiling import balanced_classes, cells

__all__ = ["TEXTURE_SCENES", "Mosaic", "texture_camera"]


@dataclass
class Mosaic:
    """A texture mosaic on the canvas: values (H, W) float32, truth (H, W) int32, the class
    names, whether the classes' mean and std are matched as seen, drawn settings."""

    image: np.ndarray
    truth: np.ndarray
    class_names: list[str]
    matched: bool
    notes: dict = field(default_factory=dict)


def _layout(rng: np.random.Generator, shape, n_classes: int, spacing: float) -> np.ndarray:
    """Regions ~``spacing`` px across with slightly wavy boundaries -> (H, W) int32 class."""
    labels = cells(rng, shape, spacing, bend_px=spacing / 12, bend_corr=spacing / 3)
    return balanced_classes(rng, labels, n_classes)[labels]


def _mosaic(truth: np.ndarray, fields: list[np.ndarray]) -> np.ndarray:
    """Each class's field where its regions are."""
    out = np.zeros(truth.shape, np.float32)
    for c, f in enumerate(fields):
        out[truth == c] = f[truth == c]
    return out


def microstructures(rng: np.random.Generator, shape, px: float) -> Mosaic:
    """Four microstructures at about the same length scale, matched in mean and contrast: a
    closed-cell foam, a non-woven fibre mat, a lamellar eutectic in colonies and a bicontinuous
    spinodal structure."""
    truth = _layout(rng, shape, 4, rng.uniform(150, 210))
    drawn = {
        "cell_px": rng.uniform(22, 40),
        "fibre_px": rng.uniform(2.5, 4.5),
        "lamella_px": rng.uniform(7, 11),
        "spinodal_px": rng.uniform(10, 18),
    }
    fields = [
        foam(rng, shape, drawn["cell_px"], rng.uniform(1.2, 2.2)),
        fibres(rng, shape, drawn["fibre_px"], rng.uniform(0.5, 0.8), rng.uniform(0.02, 0.05)),
        lamellae(rng, shape, drawn["lamella_px"], rng.uniform(90, 160), rng.uniform(0.3, 0.45)),
        spinodal(rng, shape, drawn["spinodal_px"]),
    ]
    names = ["foam", "fibre mat", "lamellar eutectic", "spinodal"]
    return Mosaic(_mosaic(truth, fields), truth, names, True, drawn)


def speckle_grains(rng: np.random.Generator, shape, px: float) -> Mosaic:
    """Fully developed speckle of three kinds, matched in mean and contrast: fine grains, coarse
    grains (about twice as large) and streaked grains (an elongated pupil)."""
    truth = _layout(rng, shape, 3, rng.uniform(140, 200))
    grain = rng.uniform(1.6, 2.4)
    drawn = {
        "grain_px": grain,
        "coarse": rng.uniform(1.8, 2.3),
        "aspect": rng.uniform(2.5, 4.0),
        "streak_angle": rng.uniform(0, np.pi),
    }
    fields = [
        speckle(rng, shape, grain, 1.0, 0.0),
        speckle(rng, shape, grain * drawn["coarse"], 1.0, 0.0),
        speckle(rng, shape, grain * rng.uniform(1.0, 1.3), drawn["aspect"], drawn["streak_angle"]),
    ]
    names = ["fine speckle", "coarse speckle", "streaked speckle"]
    return Mosaic(_mosaic(truth, fields), truth, names, True, drawn)


def convection(rng: np.random.Generator, shape, px: float) -> Mosaic:
    """One Swift-Hohenberg pattern whose quadratic coefficient changes between regions: bright
    hexagonal spots, stripes (rolls) and dark hexagonal spots (holes), all of one wavelength;
    the pattern runs on across region boundaries as it would."""
    truth = _layout(rng, shape, 3, rng.uniform(150, 220))
    wavelength = rng.uniform(8, 12)
    strength = rng.uniform(0.6, 1.0)
    eps = rng.uniform(0.15, 0.35)
    g = np.array([strength, 0.0, -strength], np.float32)[truth]
    g = ndimage.gaussian_filter(g, wavelength / 2)
    u = pattern(rng, g, wavelength, eps, 160)
    drawn = {"wavelength_px": wavelength, "g": strength, "eps": eps}
    return Mosaic(u, truth, ["spots", "stripes", "holes"], False, drawn)


TEXTURE_SCENES = {
    "microstructures": microstructures,
    "speckle_grains": speckle_grains,
    "convection": convection,
}


def texture_camera(blur_px: float, noise: tuple[float, float], shading: float):
    """A camera for mosaics: blur, then (matched mosaics) each class set to one mean and std
    inside the window, grey levels (mean 128, std 32), a linear shading across the field of up
    to ``shading`` relative, Gaussian noise of ``noise`` (drawn range) grey levels; its margin."""

    def image(rng: np.random.Generator, spec: Mosaic, px: float, shape, margin: int):
        """(grey levels, truth, drawn settings) of the requested shape."""
        window = (slice(margin, margin + shape[0]), slice(margin, margin + shape[1]))
        seen = ndimage.gaussian_filter(spec.image, blur_px)[window].astype(np.float64)
        truth = spec.truth[window]
        whole = [np.ones(truth.shape, bool)]
        groups = [truth == c for c in range(len(spec.class_names))] if spec.matched else whole
        for part in groups:
            if np.any(seen[part]):
                seen[part] = (seen[part] - seen[part].mean()) / max(seen[part].std(), 1e-9)
        grey = 128 + 32 * seen
        tilt = rng.uniform(-shading, shading, 2)
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
        grey *= 1 + tilt[0] * (yy / shape[0] - 0.5) + tilt[1] * (xx / shape[1] - 0.5)
        sigma = float(rng.uniform(*noise))
        grey += rng.normal(0, sigma, shape)
        notes = {**spec.notes, "noise": sigma, "shading": tilt.tolist(), "blur_px": blur_px}
        return grey.astype(np.float32), truth, notes

    return image, 16
