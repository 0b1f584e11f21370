"""Stationary textures made by processes: cells, fibres, lamellae, spinodal phases, speckle,
convection-like patterns.

Each generator fills the whole canvas (H, W) with one texture as float32; the texture cases
(``texture_scenes``) cut them into regions. Nothing here reads an image from disk.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, ndimage, spatial

from workers.fewshot.selection.supports import random_field
from workers.fewshot.selection.tiling import cells, seeds

__all__ = ["fibres", "foam", "lamellae", "pattern", "speckle", "spinodal"]


def _q(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequencies (cycles / px) of a full FFT: qy (H, 1), qx (1, W)."""
    return fft.fftfreq(shape[0])[:, None], fft.fftfreq(shape[1])[None, :]


def foam(rng: np.random.Generator, shape, cell_px: float, wall_px: float) -> np.ndarray:
    """A closed-cell foam cut flat: cells ~``cell_px`` across whose walls (the bisector between
    the nearest two cell centres) show bright, ``wall_px`` thick; each cell's floor at its own
    depth (its own grey)."""
    h, w = shape
    centres = seeds(rng, shape, cell_px)
    yy, xx = np.mgrid[0:h, 0:w]
    dist, index = spatial.cKDTree(centres).query(np.stack([yy.ravel(), xx.ravel()], 1), k=2)
    apart = np.linalg.norm(centres[index[:, 1]] - centres[index[:, 0]], axis=1)
    to_wall = ((dist[:, 1] ** 2 - dist[:, 0] ** 2) / (2 * apart)).reshape(shape)
    wall = np.exp(-0.5 * (to_wall / wall_px) ** 2)
    floor = rng.uniform(0.0, 0.35, len(centres))[index[:, 0]].reshape(shape)
    return (wall + floor * (1 - wall)).astype(np.float32)


def fibres(rng: np.random.Generator, shape, width_px: float, cover: float, bend: float):
    """A non-woven mat: persistent random walks (``bend`` rad rms turn per px) of fibres about
    ``width_px`` thick, as many as cover about ``cover`` of the canvas; each fibre at its own
    depth (brightness), bright along its axis and falling off across it (a cylinder seen from
    above), the nearest fibre seen where they cross."""
    h, w = shape
    length = int(1.5 * max(h, w))
    n = max(3, int(cover * h * w / (length * 2 * width_px)))
    owner = np.zeros(shape, np.int32)
    for fibre in range(1, n + 1):
        turn = np.cumsum(rng.normal(0, bend, length)) + rng.uniform(0, 2 * np.pi)
        start = rng.uniform((0, 0), (h, w))
        ys = start[0] + np.cumsum(np.sin(turn)) - length / 2 * np.sin(turn[0])
        xs = start[1] + np.cumsum(np.cos(turn)) - length / 2 * np.cos(turn[0])
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        owner[ys[ok].astype(int), xs[ok].astype(int)] = fibre
    dist, (iy, ix) = ndimage.distance_transform_edt(owner == 0, return_indices=True)
    nearest = owner[iy, ix]
    radius = width_px * rng.uniform(0.6, 1.4, n + 1)[nearest]
    depth = rng.uniform(0.45, 1.0, n + 1)[nearest]
    return (depth * np.sqrt(np.clip(1 - (dist / radius) ** 2, 0, 1))).astype(np.float32)


def lamellae(rng: np.random.Generator, shape, period_px: float, colony_px: float, share: float):
    """A lamellar eutectic: colonies ~``colony_px`` across, each of parallel plates of two
    phases ``period_px`` apart at the colony's own angle, bent by a slowly varying phase (plates
    end and fork where it winds); the bright phase takes ``share`` of the volume."""
    colony = cells(rng, shape, colony_px, bend_px=colony_px / 8)
    n = int(colony.max()) + 1
    angle = rng.uniform(0, np.pi, n)[colony]
    offset = rng.uniform(0, 2 * np.pi, n)[colony]
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    across = xx * np.cos(angle) + yy * np.sin(angle)
    phase = 2 * np.pi * across / period_px + offset + 2.5 * random_field(rng, shape, 3 * period_px)
    level = np.cos(np.pi * share)
    return (0.5 + 0.5 * np.tanh(3.0 * (np.cos(phase) - level))).astype(np.float32)


def spinodal(rng: np.random.Generator, shape, wavelength_px: float) -> np.ndarray:
    """A bicontinuous two-phase structure left by spinodal decomposition: a random field whose
    spectrum is a ring at 1 / ``wavelength_px`` (the fastest-growing wavelength), split at zero
    with soft interfaces."""
    qy, qx = _q(shape)
    q = np.sqrt(qy**2 + qx**2) * wavelength_px
    ring = q**2 * np.exp(-2.0 * (q**2 - 1))  # Cahn's early-stage structure factor, peak at 1
    f = fft.ifft2(fft.fft2(rng.standard_normal(shape), workers=1) * ring, workers=1).real
    f /= max(f.std(), 1e-12)
    return (0.5 + 0.5 * np.tanh(2.5 * f)).astype(np.float32)


def speckle(rng: np.random.Generator, shape, grain_px: float, aspect: float, angle: float):
    """Fully developed speckle: the intensity |E|^2 of a random complex field seen through a
    pupil of radius 1 / (pi ``grain_px``), stretched ``aspect`` : 1 across ``angle`` (an
    elongated pupil gives streaked speckle); exponential statistics, grains ~``grain_px``."""
    qy, qx = _q(shape)
    u = qx * np.cos(angle) + qy * np.sin(angle)
    v = -qx * np.sin(angle) + qy * np.cos(angle)
    radius = 1 / (np.pi * grain_px)
    pupil = (u * aspect) ** 2 + v**2 <= radius**2
    noise = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    e = fft.ifft2(fft.fft2(noise, workers=1) * pupil, workers=1)
    return (np.abs(e) ** 2).astype(np.float32)


def pattern(
    rng: np.random.Generator, g: np.ndarray, wavelength_px: float, eps: float, steps: int
) -> np.ndarray:
    """A Swift-Hohenberg pattern (convection rolls, Turing patterns): du/dt = eps u - (1 +
    lap / q0^2)^2 u + g u^2 - u^3 from small noise, q0 = 2 pi / ``wavelength_px``; ``g`` (H, W)
    picks the planform where it is: ~0 stripes, g > 0 hexagons of bright spots, g < 0 of dark
    ones. Semi-implicit spectral steps (dt = 1), ``steps`` of them."""
    shape = g.shape
    qy = fft.fftfreq(shape[0])[:, None]
    qx = fft.rfftfreq(shape[1])[None, :]
    k2 = (qy**2 + qx**2) * wavelength_px**2  # (k / q0)^2
    step = 1 / (1 - (eps - (1 - k2) ** 2))
    u = 0.05 * rng.standard_normal(shape)
    for _ in range(steps):
        spec = fft.rfft2(u + u * u * (g - u), workers=1) * step
        u = fft.irfft2(spec, s=shape, workers=1)
    return u.astype(np.float32)
