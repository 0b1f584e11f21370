"""Bright-field TEM: an exit wave through a defocused objective lens onto a scintillator camera.

The specimen is a phase and amplitude object: the wave picks up sigma * V0 * t of phase and
loses the electrons that mass-thickness scatters outside the objective aperture. The lens
multiplies its spectrum by exp(-i chi(q)), chi = pi lambda df q^2 + pi/2 Cs lambda^3 q^4,
damped by the focal-spread and beam-convergence envelopes, so edges carry Fresnel fringes and
thick particles show their own interference. The camera counts electrons (Poisson), spreads
each through the scintillator's point spread (Gaussian core, exponential-MTF tail: the shot
noise is correlated, as on a real CCD), adds read noise and an offset. The beam falls off
across the field and the stage drifts during the exposure (a motion blur).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft

from workers.fewshot.selection.materials import MATERIALS, phase_per_nm, wavelength_nm
from workers.fewshot.selection.scene import Specimen

__all__ = ["BrightField", "image_wave", "specimen_wave"]


@dataclass(frozen=True)
class BrightField:
    """A bright-field TEM acquisition; ranges are drawn once per image.

    defocus_nm (negative: under focus), cs_mm, focal_spread_nm, convergence_mrad: the lens;
    dose: electrons per px; gain: counts per electron; read_noise (counts rms); offset
    (counts); psf_px: scintillator core (Gaussian sigma, px); psf_tail: share of light in the
    wide tail; falloff: relative drop of the beam at the far corner; drift_px: blur length.
    """

    defocus_nm: tuple[float, float]
    dose: tuple[float, float]
    kv: float = 200.0
    cs_mm: float = 1.2
    focal_spread_nm: float = 4.0
    convergence_mrad: float = 0.2
    gain: float = 6.0
    read_noise: float = 9.0
    offset: float = 200.0
    psf_px: float = 0.7
    psf_tail: float = 0.12
    falloff: float = 0.25
    drift_px: tuple[float, float] = (0.0, 1.5)


def _frequencies(shape: tuple[int, int], pixel_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequencies (1/nm) of a full complex FFT: qy (H, 1), qx (1, W)."""
    return (
        fft.fftfreq(shape[0], d=pixel_nm)[:, None],
        fft.fftfreq(shape[1], d=pixel_nm)[None, :],
    )


def _lens(shape, pixel_nm: float, bf: BrightField, defocus: float) -> np.ndarray:
    """The coherent transfer function exp(-i chi) x envelopes on the FFT grid (complex64)."""
    lam = wavelength_nm(bf.kv)
    qy, qx = _frequencies(shape, pixel_nm)
    q2 = qy**2 + qx**2
    cs = bf.cs_mm * 1e6
    chi = np.pi * lam * defocus * q2 + 0.5 * np.pi * cs * lam**3 * q2**2
    temporal = np.exp(-0.5 * (np.pi * lam * bf.focal_spread_nm * q2) ** 2)
    alpha = bf.convergence_mrad * 1e-3
    spatial = np.exp(-((np.pi * alpha * np.sqrt(q2) * (defocus + cs * lam**2 * q2)) ** 2))
    return (np.exp(-1j * chi) * temporal * spatial).astype(np.complex64)


def specimen_wave(spec: Specimen, pixel_nm: float, kv: float) -> np.ndarray:
    """exp(-(mu t + Bragg loss) / 2 + i sigma V0 t), summed over the materials (complex64);
    thickness maps are in nm per pixel already, so ``pixel_nm`` does not enter (the signature
    is the crystals' ``lattice_imaging.crystal_wave``'s)."""
    sigma = phase_per_nm(kv)
    phase = np.zeros(spec.truth.shape, np.float32)
    loss = np.zeros(spec.truth.shape, np.float32)
    for name, t in spec.thickness.items():
        m = MATERIALS[name]
        phase += np.float32(sigma * m.potential_v) * t
        loss += np.float32(m.absorption_per_nm / 2) * t
    if spec.bragg is not None:
        loss += spec.bragg / 2
    return np.exp(-loss + 1j * phase).astype(np.complex64)


def _illumination(rng: np.random.Generator, shape, falloff: float) -> np.ndarray:
    """A broad Gaussian beam centred somewhere near the field -> (H, W), 1 at its centre."""
    h, w = shape
    cy, cx = rng.uniform(-0.3, 1.3) * h, rng.uniform(-0.3, 1.3) * w
    yy, xx = np.ogrid[0:h, 0:w]
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (h * h + w * w)
    return np.exp(-falloff * 2 * r2).astype(np.float32)


def _camera(rng: np.random.Generator, electrons: np.ndarray, bf: BrightField, blur: tuple):
    """Counts: Poisson electrons, scintillator spread and stage-drift blur, read noise."""
    shape = electrons.shape
    counted = rng.poisson(np.maximum(electrons, 0)).astype(np.float32)
    qy = fft.fftfreq(shape[0])[:, None]
    qx = fft.rfftfreq(shape[1])[None, :]
    q = np.sqrt(qy**2 + qx**2)
    mtf = (1 - bf.psf_tail) * np.exp(-2 * (np.pi * bf.psf_px * q) ** 2) + bf.psf_tail * np.exp(
        -2 * np.pi * 4.0 * q
    )
    length, angle = blur
    mtf = mtf * np.sinc(length * (qy * np.sin(angle) + qx * np.cos(angle)))
    spread = fft.irfft2(fft.rfft2(counted, workers=1) * mtf, s=shape, workers=1)
    noise = rng.normal(0, bf.read_noise, shape)
    return (bf.gain * spread + bf.offset + noise).astype(np.float32)


def image_wave(
    rng: np.random.Generator, exit_wave: np.ndarray, pixel_nm: float, bf: BrightField
) -> tuple[np.ndarray, dict]:
    """An exit wave (H, W) complex through the lens onto the camera -> (counts (H, W) float32,
    drawn settings)."""
    defocus = float(rng.uniform(*bf.defocus_nm))
    dose = float(rng.uniform(*bf.dose))
    wave = fft.fft2(exit_wave, workers=1)
    image = np.abs(fft.ifft2(wave * _lens(wave.shape, pixel_nm, bf, defocus), workers=1)) ** 2
    electrons = dose * image * _illumination(rng, image.shape, bf.falloff)
    blur = (float(rng.uniform(*bf.drift_px)), float(rng.uniform(0, np.pi)))
    counts = _camera(rng, electrons, bf, blur)
    return counts, {"defocus_nm": defocus, "dose": dose, "drift_px": blur[0]}
