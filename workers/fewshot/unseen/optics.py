"""Imaging model of the unseen families: a different probe, scan and detector than training's.

Order of operations on an ideal intensity (on a canvas with ``margin`` px of slack per side):
contamination (class-independent hydrocarbon blobs) -> probe (Lorentzian tails x a soft
aperture cut-off, applied as a transfer function) -> Fresnel fringe (bright-field defocus) ->
scan (non-linear sample drift in y and x, per-line 1/f jitter, exponential flyback settling at
each line start; the truth is resampled by the same map) -> detector (Poisson counts, 1/f noise
along the scan time series, Gaussian read noise, saturating gain, 16-bit ADC).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from workers.fewshot.unseen.fields import pink_field, pink_series

__all__ = ["Optics", "acquire", "margin_for"]


@dataclass(frozen=True)
class Optics:
    """Probe, scan and detector parameters.

    dose: mean counts per px at intensity 1; probe: Lorentzian half-width (px) of the probe
    tails; cutoff: aperture cut-off (cycles/px); fringe: Fresnel-fringe strength (bright field,
    0 = in focus); drift: total (dy, dx) px over the frame, accelerating (quadratic in time);
    jitter: std (px) of 1/f line-to-line shifts; flyback: px of line-start distortion, decaying
    over ``settle`` px; scan_noise: std of 1/f noise along the scan, in units of sqrt(dose);
    read_noise: counts; saturation: counts where the gain bends (None: linear); dark: counts
    offset; contamination: number of hydrocarbon blobs; contamination_level: their strength.
    """

    dose: float = 80.0
    probe: float = 0.7
    cutoff: float = 0.35
    fringe: float = 0.0
    drift: tuple[float, float] = (3.0, 4.0)
    jitter: float = 0.35
    flyback: float = 2.5
    settle: float = 25.0
    scan_noise: float = 0.6
    read_noise: float = 2.0
    saturation: float | None = None
    dark: float = 20.0
    contamination: int = 0
    contamination_level: float = 0.3

    def to_dict(self) -> dict:
        """JSON-friendly parameters."""
        return dataclasses.asdict(self)


def margin_for(optics: Optics) -> int:
    """Slack (px) per side the scene needs so distorted scan coordinates stay inside it."""
    return math.ceil(max(map(abs, optics.drift)) + optics.flyback + 5 * optics.jitter) + 4


def _probe(intensity: np.ndarray, optics: Optics) -> np.ndarray:
    """Blur by the probe: OTF exp(-2 pi gamma |k|) (a 2-D Lorentzian-like PSF) x a soft aperture."""
    h, w = intensity.shape
    k = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    otf = np.exp(-2 * math.pi * optics.probe * k)
    otf = otf * np.clip((optics.cutoff * 1.15 - k) / (0.3 * optics.cutoff), 0.0, 1.0)
    return np.fft.irfft2(np.fft.rfft2(intensity) * otf, s=intensity.shape).astype(np.float32)


def _contaminate(intensity: np.ndarray, optics: Optics, rng: np.random.Generator) -> np.ndarray:
    """Hydrocarbon blobs: a diffuse layer that adds signal and washes out the specimen contrast."""
    if not optics.contamination:
        return intensity
    h, w = intensity.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cover = np.zeros((h, w), np.float32)
    for _ in range(optics.contamination):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.06, 0.18) * min(h, w)
        cover += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    cover = optics.contamination_level * np.clip(cover, 0, 1.5)
    cover *= 1 + 0.2 * pink_field((h, w), rng, 2.0)
    mean = float(intensity.mean())
    return intensity * (1 - 0.5 * cover) + mean * cover


def acquire(
    intensity: np.ndarray, truth: np.ndarray, optics: Optics, rng: np.random.Generator, margin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Image an ideal (H + 2m, W + 2m) scene -> (image (H, W) float32 counts, truth (H, W))."""
    contam_rng, scan_rng, noise_rng = rng.spawn(3)
    ideal = _contaminate(intensity.astype(np.float32), optics, contam_rng)
    ideal = _probe(ideal, optics)
    if optics.fringe:
        # defocus in bright field: a bright/dark fringe at every thickness edge
        ideal = ideal + optics.fringe * (ideal - ndimage.gaussian_filter(ideal, 2.0))
    ideal = np.clip(ideal, 0.0, None)

    h, w = truth.shape[0] - 2 * margin, truth.shape[1] - 2 * margin
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    t = (rows * w + cols) / (h * w)  # scan time 0..1
    curve = scan_rng.uniform(0.3, 1.0)  # how much the drift accelerates during the frame
    drift_t = (1 - curve) * t + curve * t**2
    y = rows + margin + optics.drift[0] * (drift_t - 0.5)
    x = cols + margin + optics.drift[1] * (drift_t - 0.5)
    x += optics.jitter * pink_series(h, scan_rng, 1.0)[:, None]
    x += optics.flyback * np.exp(-cols / optics.settle)
    coords = np.stack([y, x])
    scanned = ndimage.map_coordinates(ideal, coords, order=3, mode="reflect")
    truth_out = ndimage.map_coordinates(truth, coords, order=0, mode="nearest").astype(np.int32)

    counts = noise_rng.poisson(np.clip(scanned, 0, None) * optics.dose).astype(np.float64)
    series = pink_series(h * w, noise_rng, 1.0).reshape(h, w)
    counts += optics.scan_noise * math.sqrt(optics.dose) * series
    counts += noise_rng.normal(0.0, optics.read_noise, (h, w))
    if optics.saturation:
        counts = optics.saturation * np.tanh(np.clip(counts, 0, None) / optics.saturation)
    image = np.clip(np.round(counts + optics.dark), 0, 65535)
    return image.astype(np.float32), truth_out
