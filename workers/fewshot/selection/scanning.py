"""Scanned images: annular dark-field STEM and secondary-electron SEM, and their scan faults.

A scanned image is the specimen signal blurred by the probe and read at the positions the beam
really visited: rows pile up or spread as the stage drifts (slow scan) and shift sideways as it
drifts and as the mains field jitters each line (fast scan). The truth is read at the same
positions, so it stays on the particles. Detectors count electrons (Poisson), with a gain,
dark level, read noise and a slow per-line offset (a row-correlated noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage, signal

from workers.fewshot.selection.materials import haadf_per_nm

__all__ = ["Scan", "acquire", "haadf_signal", "probe_blur", "scan_positions"]


@dataclass(frozen=True)
class Scan:
    """A scanned acquisition; ranges are drawn once per image.

    probe_px: probe core (Gaussian sigma, px); halo: share of the current in a wide halo of
    halo_px; jitter_px: amplitude of the line jitter, period ``jitter_rows`` rows; wobble_px:
    random sideways error of each line; drift_px: largest stage drift over the frame (px);
    counts: mean detected electrons per unit signal (per nm of gold in HAADF, per unit yield
    in SEM); background: counts per px with no specimen; gain: output counts per electron;
    read_noise, dark (counts); line_noise: rms of the per-line offset (counts); lag_px:
    amplifier lag along the fast scan (0: none).
    """

    probe_px: float
    counts: tuple[float, float]
    halo: float = 0.08
    halo_px: float = 5.0
    jitter_px: tuple[float, float] = (0.2, 0.8)
    jitter_rows: tuple[float, float] = (14.0, 40.0)
    wobble_px: float = 0.15
    drift_px: float = 4.0
    background: float = 0.0
    gain: float = 1.0
    read_noise: float = 0.5
    dark: float = 10.0
    line_noise: float = 0.5
    lag_px: float = 0.0


def haadf_signal(thickness: dict[str, np.ndarray]) -> np.ndarray:
    """High-angle annular dark-field signal, nm of gold equivalent (H, W) float32."""
    total = sum(haadf_per_nm(name, t) for name, t in thickness.items())
    return np.asarray(total, np.float32)


def probe_blur(image: np.ndarray, scan: Scan) -> np.ndarray:
    """``image`` seen through the probe: a Gaussian core plus a wide halo (float32)."""
    qy = fft.fftfreq(image.shape[0])[:, None]
    qx = fft.rfftfreq(image.shape[1])[None, :]
    q2 = qy**2 + qx**2
    otf = (1 - scan.halo) * np.exp(-2 * np.pi**2 * scan.probe_px**2 * q2) + scan.halo * np.exp(
        -2 * np.pi**2 * scan.halo_px**2 * q2
    )
    out = fft.irfft2(fft.rfft2(image, workers=1) * otf, s=image.shape, workers=1)
    return out.astype(np.float32)


def scan_positions(
    rng: np.random.Generator, shape: tuple[int, int], margin: int, scan: Scan
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Where the beam was for each output pixel, in canvas coordinates: (ys, xs) (H, W) and
    the drawn faults."""
    h, w = shape
    rows = np.arange(h, dtype=np.float64)[:, None]
    cols = np.arange(w, dtype=np.float64)[None, :]
    time = (rows + cols / w) / h  # share of the frame time spent when the pixel is read
    angle = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(0, scan.drift_px) * np.array([np.sin(angle), np.cos(angle)])
    period = rng.uniform(*scan.jitter_rows)
    amp = rng.uniform(*scan.jitter_px)
    phase = rng.uniform(0, 2 * np.pi)
    wobble = ndimage.gaussian_filter1d(rng.normal(0, scan.wobble_px * 2, h), 1.0)
    side = amp * np.sin(2 * np.pi * rows[:, 0] / period + phase) + wobble
    ys = rows + margin + drift[0] * time
    xs = cols + margin + drift[1] * time + side[:, None]
    faults = {"drift_px": drift.tolist(), "jitter_px": amp, "jitter_rows": period}
    return ys, xs, faults


def _line_offsets(rng: np.random.Generator, rows: int, rms: float) -> np.ndarray:
    """A slow AR(1) offset per scan line (rows,), rms ``rms``."""
    rho = 0.97
    steps = rng.normal(0, rms * np.sqrt(1 - rho**2), rows)
    return signal.lfilter([1.0], [1.0, -rho], steps)


def acquire(
    rng: np.random.Generator,
    field: np.ndarray,
    truth: np.ndarray,
    shape: tuple[int, int],
    margin: int,
    scan: Scan,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Scan ``field`` (canvas, already in signal units) -> (counts (H, W) float32, truth
    (H, W) int32 read at the same positions, drawn settings)."""
    ys, xs, faults = scan_positions(rng, shape, margin, scan)
    blurred = probe_blur(field, scan)
    mean = ndimage.map_coordinates(blurred, [ys, xs], order=1, mode="nearest")
    seen = ndimage.map_coordinates(truth, [ys, xs], order=0, mode="nearest").astype(np.int32)
    counts = float(rng.uniform(*scan.counts))
    electrons = rng.poisson(np.maximum(mean * counts + scan.background, 0)).astype(np.float64)
    if scan.lag_px > 0:
        a = np.exp(-1.0 / scan.lag_px)
        electrons = signal.lfilter([1 - a], [1.0, -a], electrons, axis=1)
    out = scan.gain * electrons + scan.dark + rng.normal(0, scan.read_noise, shape)
    out += _line_offsets(rng, shape[0], scan.line_noise)[:, None]
    return out.astype(np.float32), seen, {**faults, "counts": counts}
