"""Imaging a projected crystal (``crystals.Projected``): HRTEM or atomic-resolution HAADF STEM.

HRTEM: the atoms per pixel make a phase grating, sigma times the projected potential (each
atom's ``atom_potential``) with a little amplitude loss (``atom_absorption``); the exit wave
goes through the bright-field lens and camera of ``tem``. HAADF: each atom scatters ~Z^1.7 to
high angles (``atom_haadf``, in nm of gold); the signal is scanned with the probe and scan
faults of ``scanning`` (``cases`` joins each to its instrument, as for the particles).
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

__all__ = ["crystal_haadf", "crystal_wave"]


def crystal_wave(spec: Projected, px: float, kv: float) -> np.ndarray:
    """The wave leaving the specimen, exp(-loss / 2 + i sigma V_proj) (H, W) complex64."""
    per_nm2 = 1.0 / (px * px)  # atoms per pixel -> atoms per nm^2
    phase = sum(atom_potential(z) * n for z, n in spec.atoms.items()) * phase_per_nm(kv)
    loss = sum(atom_absorption(z) * n for z, n in spec.atoms.items())
    return np.exp(per_nm2 * (-loss / 2 + 1j * phase)).astype(np.complex64)


def crystal_haadf(spec: Projected, px: float) -> np.ndarray:
    """High-angle signal (H, W) float32 in nm of gold equivalent."""
    total = sum(atom_haadf(z) * n for z, n in spec.atoms.items()) / (px * px)
    return np.asarray(total, np.float32)
