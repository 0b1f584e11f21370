"""Training-free, physics-aware chip descriptor from the local Fourier spectrum."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from workers.fewshot.encoders.base import Encoder, context_margin, register_encoder
from workers.fewshot.encoders.spectral import (
    N_STATS,
    R_MAX,
    R_MIN,
    intensity_stats,
    polar_log_spectrum,
)

__all__ = [
    "FourierConfig",
    "FourierEncoder",
    "fourier_dim",
    "fourier_features",
    "fourier_groups",
]


@dataclass(frozen=True)
class FourierConfig:
    """Options of the fourier encoder."""

    n_radial: int = 12
    n_angular: int = 36
    n_harmonics: int = 4
    #: relative weights of the feature groups in the Euclidean metric
    w_radial: float = 1.0
    w_angular: float = 1.0
    w_lattice: float = 1.0
    w_intensity: float = 1.0
    #: describe a window twice the chip size centred on each chip (finer spectra, less noise,
    #: blurrier boundaries) instead of the chip alone
    context: bool = False


def fourier_features(
    chips: torch.Tensor,
    cfg: FourierConfig,
    *,
    polar: torch.Tensor | None = None,
    stats: torch.Tensor | None = None,
    intensity: bool = True,
) -> torch.Tensor:
    """Describe chips: (N, 1, s, s) -> (N, D), D = R + A + 2 + 3 * n_harmonics + 9.

    ``polar`` (N, R, A) and ``stats`` (N, 9) may be passed when already computed; with
    ``intensity=False`` the intensity group is left out (D = R + A + 2 + 3 * n_harmonics).

    Groups (each scaled to a comparable magnitude, then weighted):
    radial profile of the log power (lattice spacings / texture scale); angular profile of the
    power above the radial mean (orientation); dominant spacing as a fraction of Nyquist and its
    prominence; circular harmonics of the angular profile (m-fold symmetry strength |c_m| and
    orientation Re/Im c_m); intensity statistics (mean, std, quantiles, gradient energies).
    """
    if polar is None:
        polar = polar_log_spectrum(chips, n_radial=cfg.n_radial, n_angular=cfg.n_angular)
    radial = polar.mean(dim=2)  # (N, R)
    excess = polar - radial[:, :, None]
    angular = excess.amax(dim=1)
    angular = angular - angular.mean(dim=1, keepdim=True)  # (N, A)

    # dominant spacing: radial peak above a straight-line (power-law-like) background
    rho = torch.linspace(R_MIN, R_MAX, cfg.n_radial, device=chips.device)
    t = torch.log(rho) - torch.log(rho).mean()
    slope = (radial * t).sum(1, keepdim=True) / t.square().sum()
    detrended = radial - radial.mean(1, keepdim=True) - slope * t
    prominence, peak = detrended.max(dim=1)
    lattice = torch.stack([rho[peak], prominence], dim=1)

    m = torch.arange(1, cfg.n_harmonics + 1, device=chips.device, dtype=torch.float32)
    phase = (
        2
        * math.pi
        * m[:, None]
        * torch.arange(cfg.n_angular, device=chips.device)[None]
        / cfg.n_angular
    )
    re = (angular[:, None, :] * torch.cos(phase)).mean(-1)
    im = (angular[:, None, :] * torch.sin(phase)).mean(-1)
    harmonics = torch.cat([re, im, torch.sqrt(re.square() + im.square())], dim=1)

    def group(x: torch.Tensor, weight: float, scale: float) -> torch.Tensor:
        return x * (weight / (scale * math.sqrt(x.shape[1])))

    groups = [
        group(radial, cfg.w_radial, 2.0),
        group(angular, cfg.w_angular, 1.0),
        group(torch.cat([lattice, harmonics], 1), cfg.w_lattice, 0.5),
    ]
    if intensity:
        if stats is None:
            stats = intensity_stats(chips)
        stats = torch.cat([stats[:, :7] * 4.0, stats[:, 7:] / 2.0], dim=1)
        groups.append(group(stats, cfg.w_intensity, 1.0))
    return torch.cat(groups, dim=1)


def fourier_groups(
    cfg: FourierConfig, *, start: int = 0, prefix: str = "", intensity: bool = True
) -> list[tuple[str, slice]]:
    """Named slices of :func:`fourier_features` (radial, angular, lattice, [intensity]), offset
    by ``start``, names prefixed with ``prefix``."""
    sizes = [
        ("radial", cfg.n_radial),
        ("angular", cfg.n_angular),
        ("lattice", 2 + 3 * cfg.n_harmonics),
    ]
    if intensity:
        sizes.append(("intensity", N_STATS))
    out, at = [], start
    for name, n in sizes:
        out.append((prefix + name, slice(at, at + n)))
        at += n
    return out


def fourier_dim(cfg: FourierConfig, *, intensity: bool = True) -> int:
    """Length D of :func:`fourier_features`."""
    return cfg.n_radial + cfg.n_angular + 2 + 3 * cfg.n_harmonics + (N_STATS if intensity else 0)


class FourierEncoder(Encoder):
    """Hand-crafted spectral + intensity descriptor; no weights, fast on CPU."""

    name = "fourier"

    def __init__(self, *, device: torch.device, config: FourierConfig) -> None:
        super().__init__(device=device)
        self.cfg = config
        self.dim = fourier_dim(config)

    def config(self) -> dict[str, Any]:
        """Builder options."""
        return asdict(self.cfg)

    @property
    def groups(self) -> list[tuple[str, slice]]:
        """radial, angular, lattice and intensity slices of the descriptor."""
        return fourier_groups(self.cfg)

    def margin(self, chip_size: int) -> int:
        """Half a chip of context per side when ``context`` is set."""
        return context_margin(chip_size) if self.cfg.context else 0

    def embed_chips(self, chips: torch.Tensor) -> torch.Tensor:
        """(N, 1, w, w) -> (N, D): the descriptor of each window (chip or chip + context)."""
        return fourier_features(chips.to(self.device), self.cfg)


@register_encoder("fourier")
def build_fourier(*, device: torch.device, weights: None = None, **options: Any) -> FourierEncoder:
    """Build the training-free Fourier encoder; options are :class:`FourierConfig` fields."""
    if weights is not None:
        raise ValueError("the fourier encoder has no weights")
    return FourierEncoder(device=device, config=FourierConfig(**options))
