"""The imaging model: probe blur, scan distortions, intensity gradient, shot and read noise."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["ImagingConfig", "apply_imaging", "gain_field", "required_margin", "scan_shifts"]


@dataclass(frozen=True)
class ImagingConfig:
    """Parameters of the simulated detector and scan.

    dose: expected counts per pixel for an ideal intensity of 1 (``None`` or ``inf``: noise-free).
    read_noise: std of additive Gaussian detector noise, in counts.
    blur: std (px) of the Gaussian probe blur.
    jitter: std (px) of the random horizontal shift of each scan line.
    wobble: amplitude (px) of a slow sinusoidal line shift (scan instability).
    drift: horizontal shear (px per row) from specimen drift during the frame.
    gradient: peak relative amplitude of a linear multiplicative intensity gradient.
    offset: constant detector offset added before noise (ideal-intensity units).
    """

    dose: float | None = 200.0
    read_noise: float = 1.0
    blur: float = 0.8
    jitter: float = 0.3
    wobble: float = 0.8
    drift: float = 0.01
    gradient: float = 0.1
    offset: float = 0.02

    @classmethod
    def clean(cls) -> ImagingConfig:
        """No noise, no blur, no scan distortion, no gradient: the ideal scene as drawn."""
        return cls(
            dose=None,
            read_noise=0.0,
            blur=0.0,
            jitter=0.0,
            wobble=0.0,
            drift=0.0,
            gradient=0.0,
            offset=0.0,
        )

    def with_dose(self, dose: float | None) -> ImagingConfig:
        """A copy with another dose (``None`` keeps this config's dose)."""
        return self if dose is None else dataclasses.replace(self, dose=float(dose))

    def to_dict(self) -> dict:
        """JSON-friendly parameters."""
        return dataclasses.asdict(self)


def scan_shifts(height: int, cfg: ImagingConfig, rng: np.random.Generator) -> np.ndarray:
    """Horizontal shift (px) of each scan line: jitter + slow wobble + drift shear, (H,) float64."""
    rows = np.arange(height, dtype=np.float64)
    shifts = rng.normal(0.0, cfg.jitter, height) if cfg.jitter > 0 else np.zeros(height)
    if cfg.wobble > 0:
        period = height / rng.uniform(1.5, 4.0)
        shifts += cfg.wobble * np.sin(2 * np.pi * rows / period + rng.uniform(0, 2 * np.pi))
    shifts += cfg.drift * (rows - height / 2)
    return shifts


def required_margin(height: int, cfg: ImagingConfig) -> int:
    """Canvas border (px) covering the largest scan-line shift of an image of ``height`` rows."""
    return int(np.ceil(4 * cfg.jitter + cfg.wobble + abs(cfg.drift) * height / 2)) + 2


def gain_field(shape: tuple[int, int], amplitude: float, angle: float) -> np.ndarray:
    """Linear multiplicative gain 1 +/- amplitude across the image along ``angle`` (rad), (H, W)."""
    h, w = shape
    y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) - 0.5)[:, None]
    x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5)[None, :]
    return 1.0 + 2.0 * amplitude * (np.cos(angle) * x + np.sin(angle) * y)


def apply_imaging(
    intensity: np.ndarray,
    truth: np.ndarray,
    cfg: ImagingConfig,
    rng: np.random.Generator,
    *,
    margin: int = 0,
    noise_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Image an ideal scene: (H+2m, W+2m) canvas -> (H, W) counts float32, truth int32, record.

    The same scan-line shifts resample the intensity (linear) and the truth (nearest), so the
    truth stays pixel-aligned with what is drawn. ``margin`` is the canvas border that absorbs
    the shifts. ``rng`` draws the distortions, ``noise_rng`` (default: ``rng``) the noise.
    """
    noise_rng = rng if noise_rng is None else noise_rng
    H, W = intensity.shape[0] - 2 * margin, intensity.shape[1] - 2 * margin
    img = intensity.astype(np.float32, copy=False)
    if cfg.blur > 0:
        img = ndimage.gaussian_filter(img, cfg.blur, mode="reflect")
    shifts = scan_shifts(H, cfg, rng)
    if np.any(shifts != 0):
        yy = np.broadcast_to(np.arange(H, dtype=np.float32)[:, None] + margin, (H, W))
        xx = np.arange(W, dtype=np.float32)[None, :] + margin + shifts[:, None].astype(np.float32)
        img = ndimage.map_coordinates(img, [yy, xx], order=1, mode="reflect")
        lab = ndimage.map_coordinates(truth, [yy, np.rint(xx)], order=0, mode="reflect")
    else:
        crop = (slice(margin, margin + H), slice(margin, margin + W))
        img, lab = img[crop], truth[crop]
    angle = float(rng.uniform(0, 2 * np.pi))
    if cfg.gradient > 0:
        img = img * gain_field((H, W), cfg.gradient, angle)
    img = np.maximum(img + np.float32(cfg.offset), 0.0)
    if cfg.dose is not None and np.isfinite(cfg.dose):
        img = noise_rng.poisson(img.astype(np.float64) * cfg.dose).astype(np.float32)
        if cfg.read_noise > 0:
            img += noise_rng.normal(0.0, cfg.read_noise, img.shape).astype(np.float32)
    record = cfg.to_dict() | {"gradient_angle": angle, "max_shift_px": float(np.abs(shifts).max())}
    return np.ascontiguousarray(img, np.float32), np.ascontiguousarray(lab, np.int32), record
