"""What each material does to the beam, from tabulated physics (not fitted to any image set).

Per material: atoms per nm^3 and the mean Z^1.7 per atom (HAADF: Rutherford-like scattering to
high angles ~ Z^1.7 per atom, saturating with thickness as the beam is spent), the mean inner
potential (the phase a 200 kV electron picks up per nm), a mass-thickness scattering
coefficient (electrons scattered outside a bright-field objective aperture ~ n Z^1.1), and the
secondary and backscattered electron yields that an SEM sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MATERIALS",
    "Material",
    "atom_absorption",
    "atom_haadf",
    "atom_potential",
    "haadf_per_nm",
    "phase_per_nm",
    "wavelength_nm",
]


@dataclass(frozen=True)
class Material:
    """atoms_nm3: number density; z17: mean Z^1.7 per atom; z: mean Z (by atom); potential_v:
    mean inner potential; se: secondary-electron yield at normal incidence; bse: backscatter
    coefficient."""

    atoms_nm3: float
    z17: float
    z: float
    potential_v: float
    se: float
    bse: float

    @property
    def absorption_per_nm(self) -> float:
        """Mass-thickness contrast: share of a bright-field beam lost per nm (a ~10 mrad
        aperture at 200 kV; gold ~1 / 25 nm, amorphous carbon ~1 / 250 nm)."""
        return self.atoms_nm3 * self.z**1.1 / 1.8e5

    @property
    def saturation_nm(self) -> float:
        """Thickness over which the high-angle signal saturates (shorter for heavy atoms)."""
        return 80.0 * 79.0 / self.z


def _mix(parts: dict[float, int]) -> tuple[float, float]:
    """Mean Z and mean Z^1.7 per atom of a compound {Z: atoms per formula unit}."""
    n = sum(parts.values())
    return (
        sum(z * k for z, k in parts.items()) / n,
        sum(z**1.7 * k for z, k in parts.items()) / n,
    )


_AL2O3 = _mix({13: 2, 8: 3})
_AUAG = _mix({79: 1, 47: 2})

MATERIALS: dict[str, Material] = {
    "carbon": Material(100.0, 6**1.7, 6, 9.0, 0.25, 0.06),
    "gold": Material(59.0, 79**1.7, 79, 30.0, 1.0, 0.50),
    "palladium": Material(68.0, 46**1.7, 46, 22.0, 0.85, 0.38),
    "silver": Material(58.6, 47**1.7, 47, 21.0, 1.05, 0.40),
    "platinum": Material(66.0, 78**1.7, 78, 30.0, 0.9, 0.50),
    "gold_silver": Material(59.0, _AUAG[1], _AUAG[0], 24.0, 1.0, 0.44),
    "alumina": Material(117.0, _AL2O3[1], _AL2O3[0], 15.0, 0.5, 0.14),
    "silicon": Material(50.0, 14**1.7, 14, 12.0, 0.6, 0.17),
}


def wavelength_nm(kv: float) -> float:
    """Relativistic electron wavelength (nm) at ``kv`` kV."""
    v = kv * 1e3
    return 1.226426 / np.sqrt(v * (1 + 0.9784756e-6 * v))


def phase_per_nm(kv: float) -> float:
    """Interaction constant sigma (rad per V per nm) at ``kv`` kV."""
    rest = 510.99895  # electron rest energy, keV
    return 2 * np.pi / (wavelength_nm(kv) * kv * 1e3) * (rest + kv) / (2 * rest + kv)


def haadf_per_nm(name: str, thickness: np.ndarray) -> np.ndarray:
    """High-angle signal of ``thickness`` nm of material ``name``, in nm of gold equivalent."""
    m = MATERIALS[name]
    gold = MATERIALS["gold"]
    sat = m.saturation_nm
    return (m.atoms_nm3 * m.z17) / (gold.atoms_nm3 * gold.z17) * sat * -np.expm1(-thickness / sat)


def atom_potential(z: int) -> float:
    """Projected potential of one atom integrated over the plane (V nm^3), ~ Z^0.6 (the
    forward electron scattering factor grows slowly with Z), anchored so that amorphous carbon
    (100 atoms per nm^3) has its mean inner potential of ~9 V; copper comes out at ~20 V."""
    return 0.09 * (z / 6.0) ** 0.6


def atom_absorption(z: int) -> float:
    """Share of a bright-field beam that one atom per nm^2 scatters outside the aperture (nm^2):
    the mass-thickness law of ``Material.absorption_per_nm``, per atom."""
    return z**1.1 / 1.8e5


def atom_haadf(z: int) -> float:
    """High-angle signal of one atom per nm^2, in nm of gold equivalent (Z^1.7, unsaturated)."""
    gold = MATERIALS["gold"]
    return z**1.7 / (gold.atoms_nm3 * gold.z17)
