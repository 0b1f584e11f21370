"""Imaging a projected crystal (``crystals.Projected``): HRTEM or atomic-resolution HAADF STEM.

HRTEM: the atoms per pixel make a phase grating, sigma times the projected potential (each
atom's ``atom_potential``) with a little amplitude loss (``atom_absorption``); the exit wave
goes through the bright-field lens and camera of ``tem``. HAADF: each atom scatters ~Z^1.7 to
high angles (``atom_haadf``, in nm of gold); the signal is scanned with the probe and scan
faults of ``scanning``. Each returns (imaging function, canvas margin) as ``cases`` uses them.
"""

from __future__ import annotations

import numpy as np

from workers.fewshot.selection.crystals import Projected
from workers.fewshot.selection.materials import (
    atom_absorption,
    atom_haadf,
    atom_potential,
    phase_per_nm,
)
from workers.fewshot.selection.scanning import Scan, acquire
from workers.fewshot.selection.tem import BrightField, image_wave

__all__ = ["exit_wave", "haadf_signal", "lattice_bright_field", "lattice_dark_field"]


def exit_wave(spec: Projected, px: float, kv: float) -> np.ndarray:
    """The wave leaving the specimen, exp(-loss / 2 + i sigma V_proj) (H, W) complex64."""
    per_nm2 = 1.0 / (px * px)  # atoms per pixel -> atoms per nm^2
    phase = sum(atom_potential(z) * n for z, n in spec.atoms.items()) * phase_per_nm(kv)
    loss = sum(atom_absorption(z) * n for z, n in spec.atoms.items())
    return np.exp(per_nm2 * (-loss / 2 + 1j * phase)).astype(np.complex64)


def haadf_signal(spec: Projected, px: float) -> np.ndarray:
    """High-angle signal (H, W) float32 in nm of gold equivalent."""
    total = sum(atom_haadf(z) * n for z, n in spec.atoms.items()) / (px * px)
    return np.asarray(total, np.float32)


def lattice_bright_field(bf: BrightField):
    """HRTEM through ``bf``'s lens and camera, then the margin cropped; its margin."""

    def image(rng: np.random.Generator, spec: Projected, px: float, shape, margin: int):
        """(counts, truth, drawn settings) of the requested shape."""
        counts, drawn = image_wave(rng, exit_wave(spec, px, bf.kv), px, bf)
        window = (slice(margin, margin + shape[0]), slice(margin, margin + shape[1]))
        notes = {**spec.notes, **drawn, "imaging": bf.to_dict()}
        return counts[window], spec.truth[window], notes

    return image, 32


def lattice_dark_field(scan: Scan):
    """HAADF STEM: the high-angle signal scanned with ``scan``'s probe and faults; its margin."""

    def image(rng: np.random.Generator, spec: Projected, px: float, shape, margin: int):
        """(counts, truth, drawn settings) of the requested shape."""
        counts, truth, drawn = acquire(rng, haadf_signal(spec, px), spec.truth, shape, margin, scan)
        return counts, truth, {**spec.notes, **drawn, "imaging": scan.to_dict()}

    return image, 24 + int(np.ceil(scan.drift_px))
