"""The default encoder: a small CNN fused with learned Fourier/intensity features (train.py)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from workers.fewshot.encoders.base import (
    Encoder,
    centre_chips,
    context_margin,
    register_encoder,
    resize_chips,
)
from workers.fewshot.encoders.fourier import (
    FourierConfig,
    fourier_dim,
    fourier_features,
    fourier_groups,
)
from workers.fewshot.encoders.io import load_encoder
from workers.fewshot.encoders.spectral import (
    N_STATS,
    intensity_stats,
    polar_log_spectrum,
    pool2,
)
from workers.fewshot.encoders.texture import TextureConfig, lbp_histograms, texture_dim

__all__ = ["BUNDLED_WEIGHTS", "TEXTURE", "ChipNet", "ChipNetConfig", "DefaultEncoder"]

#: the texture group every default encoder appends unless told otherwise
TEXTURE = TextureConfig()

#: committed weights of the default encoder (config.json + weights.pt, sha256-checked on load)
BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "default"


@dataclass(frozen=True)
class ChipNetConfig:
    """Architecture of :class:`ChipNet`."""

    input_size: int = 32
    widths: tuple[int, ...] = (8, 16, 32, 64)
    n_radial: int = 12
    n_angular: int = 36
    spectral_hidden: int = 128
    embed_dim: int = 64
    #: append the (fixed) fourier descriptor, scaled by a learned factor, to the embedding
    fourier_skip: bool = True
    #: read a window twice the chip size around each chip (see ``ChipNet``)
    context: bool = False

    def margin(self, chip_size: int) -> int:
        """Context px per side the network reads around a chip (``Encoder.margin``)."""
        return context_margin(chip_size) if self.context else 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChipNetConfig:
        """Inverse of ``asdict`` (JSON turns tuples into lists)."""
        d = dict(d)
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**d)


class MaxPool2(nn.Module):
    """``nn.MaxPool2d(2)`` via :func:`pool2` (max_pool2d was a third of the encoder's time)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pool2(x, torch.maximum)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ChipNet(nn.Module):
    """Three-branch chip embedder: (N, 1, s, s) in ~[0, 1] -> (N, dim).

    - pixels: chips resized to ``input_size``, a 4-stage CNN, global mean + max pooling (shape,
      texture; not rotation-invariant on purpose: lattice orientation is a class cue);
    - spectrum: the polar log power spectrum (R x A) at full resolution, flattened so the
      absolute orientation survives, through an MLP (spacing, orientation, symmetry);
    - intensity statistics (mean, std, quantiles, gradient energies) through a linear layer.
    The branches are concatenated and projected; with ``fourier_skip`` the fourier encoder's
    descriptor, times a learned weight, is appended (D = embed_dim + fourier dim).

    With ``context`` the input is a window of about twice the chip size centred on the chip
    (``Encoder.margin``): pixels and statistics still come from the chip itself, while the
    spectrum branch reads the whole Hann-windowed window, whose finer frequency sampling and
    ~4x more lattice periods resolve small orientation and spacing differences and low-dose
    lattices that a chip alone cannot; the window's fourier descriptor (spectral groups, without
    intensity statistics) is appended as well.
    ``log_scale`` is the learned inverse softmax temperature used in training
    (logits = -exp(log_scale) * squared distance).
    """

    def __init__(self, cfg: ChipNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c = 1
        for i, w in enumerate(cfg.widths):
            layers.append(_conv_block(c, w))
            if i < len(cfg.widths) - 1:
                layers.append(MaxPool2())
            c = w
        self.cnn = nn.Sequential(*layers)
        n_spec = cfg.n_radial * cfg.n_angular
        self.spectral = nn.Sequential(
            nn.BatchNorm1d(n_spec),
            nn.Linear(n_spec, cfg.spectral_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.spectral_hidden, cfg.spectral_hidden // 2),
            nn.ReLU(inplace=True),
        )
        self.stats = nn.Sequential(
            nn.BatchNorm1d(N_STATS), nn.Linear(N_STATS, 32), nn.ReLU(inplace=True)
        )
        fused = 2 * c + cfg.spectral_hidden // 2 + 32
        self.head = nn.Sequential(
            nn.Linear(fused, 2 * cfg.embed_dim),
            nn.ReLU(inplace=True),
            nn.Linear(2 * cfg.embed_dim, cfg.embed_dim),
        )
        self.log_scale = nn.Parameter(torch.tensor(0.0))
        self.fourier_cfg = FourierConfig(n_radial=cfg.n_radial, n_angular=cfg.n_angular)
        skip = cfg.fourier_skip
        self.fourier_weight = nn.Parameter(torch.tensor(1.0)) if skip else None
        self.context_weight = nn.Parameter(torch.tensor(1.0)) if skip and cfg.context else None
        self.dim = cfg.embed_dim
        if skip:
            self.dim += fourier_dim(self.fourier_cfg)
        if self.context_weight is not None:
            self.dim += fourier_dim(self.fourier_cfg, intensity=False)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, 1, w, w) -> (N, dim); w = chip size, or chip + context with ``cfg.context``."""
        chips = centre_chips(windows) if self.cfg.context else windows
        x = resize_chips(chips, self.cfg.input_size) - 0.5
        f = self._pixel_branch()(x)
        pix = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        polar = polar_log_spectrum(
            windows, n_radial=self.cfg.n_radial, n_angular=self.cfg.n_angular
        )
        raw_stats = intensity_stats(chips)
        spec = self.spectral(polar.flatten(1))
        stats = self.stats(raw_stats)
        emb = self.head(torch.cat([pix, spec, stats], dim=1))
        if self.fourier_weight is None:
            return emb
        # The hand-made descriptor keeps exact orientation / spacing cues in the metric; the
        # learned part is trained to complement it.
        if self.context_weight is None:
            fourier = fourier_features(chips, self.fourier_cfg, polar=polar, stats=raw_stats)
            return torch.cat([emb, self.fourier_weight * fourier], dim=1)
        own = fourier_features(chips, self.fourier_cfg, stats=raw_stats)
        # the window's spectral groups only: its intensity statistics would mostly repeat the
        # chip's and cost as much as the rest of the window descriptor
        wide = fourier_features(windows, self.fourier_cfg, polar=polar, intensity=False)
        return torch.cat([emb, self.fourier_weight * own, self.context_weight * wide], dim=1)

    def _pixel_branch(self) -> nn.Module:
        """``cnn``, or for inference (eval mode, no autograd) its copy with every batch norm
        folded into its convolution, in channels-last layout: the same function to float
        rounding (embeddings within ~1e-5), ~35 % less CPU over 32 px chips (three passes
        over the feature maps fewer, and oneDNN's faster NHWC kernels). The copy is rebuilt
        whenever a weight or statistic of ``cnn`` changed (fine-tuning, ``load_state_dict``)."""
        if torch.is_grad_enabled() or any(m.training for m in self.cnn.modules()):
            return self.cnn
        tensors = [*self.cnn.parameters(), *self.cnn.buffers()]
        key = tuple((t.data_ptr(), t._version) for t in tensors)
        cached = self.__dict__.get("_folded")
        if cached is None or cached[0] != key:
            cached = (key, _folded_cnn(self.cnn))
            self.__dict__["_folded"] = cached  # a plain attribute: not a submodule
        return cached[1]


def _folded_cnn(cnn: nn.Sequential) -> nn.Module:
    """Inference copy of ChipNet's CNN: conv + batch norm blocks folded, channels-last, each
    ReLU after the max pool that follows it (the same values: max commutes with the ReLU; a
    quarter of the elements)."""
    layers: list[nn.Module] = []
    for block in cnn:
        if isinstance(block, nn.Sequential):
            conv, norm = block[0], block[1]
            layers += [fuse_conv_bn_eval(conv, norm), nn.ReLU(inplace=True)]
        else:  # a pool: before the block's ReLU
            layers.insert(len(layers) - 1, block)
    folded = nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)
    for t in folded.parameters():
        t.requires_grad_(False)
    return _ChannelsLast(folded)


class _ChannelsLast(nn.Module):
    """Runs ``inner`` on a channels-last copy of its input."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.contiguous(memory_format=torch.channels_last))


class DefaultEncoder(Encoder):
    """Wraps a :class:`ChipNet` in eval mode as an :class:`Encoder`.

    ``texture`` appends the chip's local binary pattern histograms (``encoders.texture``: not
    learned, invariant to brightness and contrast) after the network's embedding, as the group
    ``chip_texture``; None leaves the embedding as the network makes it (training episodes use
    the network alone). Measured on the seen cases whose brightness varies independently of the
    class (k = 3, see CONTRACT.md).
    """

    name = "default"

    def __init__(
        self, *, device: torch.device, net: ChipNet, texture: TextureConfig | None = TEXTURE
    ) -> None:
        super().__init__(device=device)
        self.net = net.to(device).eval()
        self.texture = texture
        self.dim = net.dim + (texture_dim(texture) if texture is not None else 0)

    @property
    def default_temperature(self) -> float:  # type: ignore[override]
        """Temperature the network was trained with: 1 / exp(log_scale)."""
        return float(math.exp(-self.net.log_scale.item()))

    def config(self) -> dict[str, Any]:
        """Builder options (architecture; ``texture``: the texture group's options or None)."""
        texture = asdict(self.texture) if self.texture is not None else None
        return asdict(self.net.cfg) | {"texture": texture}

    @property
    def groups(self) -> list[tuple[str, slice]]:
        """``learned`` (the fused CNN / spectral-MLP / statistics projection, not separable),
        then the chip's descriptor groups ``chip_*`` and the window's ``window_*``."""
        net = self.net
        out = [("learned", slice(0, net.cfg.embed_dim))]
        if net.fourier_weight is not None:
            out += fourier_groups(net.fourier_cfg, start=net.cfg.embed_dim, prefix="chip_")
            if net.context_weight is not None:
                out += fourier_groups(
                    net.fourier_cfg, start=out[-1][1].stop, prefix="window_", intensity=False
                )
        if self.texture is not None:
            out.append(("chip_texture", slice(net.dim, self.dim)))
        return out

    def margin(self, chip_size: int) -> int:
        """Half a chip of context per side when the network was built with ``context``."""
        return self.net.cfg.margin(chip_size)

    def embed_chips(self, chips: torch.Tensor) -> torch.Tensor:
        """(N, 1, w, w) -> (N, D); windows of ``chip + 2 * margin`` px."""
        if self.net.training:  # eval() on every batch walks all modules: 5 % of 32 px chips
            self.net.eval()
        emb = self.net(chips.to(self.device))
        if self.texture is None:
            return emb
        own = centre_chips(chips) if self.net.cfg.context else chips
        texture = lbp_histograms(own.to(self.device), self.texture).to(emb.dtype)
        return torch.cat([emb, texture], dim=1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Network weights."""
        return {k: v.detach().cpu() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load network weights (strict)."""
        self.net.load_state_dict(state, strict=True)
        self.net.to(self.device).eval()


@register_encoder("default")
def build_default(
    *,
    device: torch.device,
    weights: str | Path | None = "bundled",
    texture: dict[str, Any] | str | None = "default",
    **arch: Any,
) -> DefaultEncoder:
    """Build the default encoder.

    ``weights="bundled"`` loads the committed, checksum-verified weights (architecture from
    their config); a path loads a directory written by ``save_encoder``; ``None`` gives a
    randomly initialised network with architecture ``ChipNetConfig(**arch)`` (for training).
    ``texture``: "default" (``TextureConfig()``), options of a ``TextureConfig`` (a saved
    config's) or None (the network's embedding alone).
    """
    tex = _texture_config(texture)
    if weights is None:
        net = ChipNet(ChipNetConfig.from_dict(arch))
        return DefaultEncoder(device=device, net=net, texture=tex)
    path = BUNDLED_WEIGHTS if weights == "bundled" else Path(weights)
    enc = load_encoder(path, device=device)
    if not isinstance(enc, DefaultEncoder):
        raise ValueError(f"{path} holds a {enc.name!r} encoder, not 'default'")
    if texture != "default":  # else the saved config's (weights written before it: the default)
        enc = DefaultEncoder(device=enc.device, net=enc.net, texture=tex)
    return enc


def _texture_config(texture: dict[str, Any] | str | None) -> TextureConfig | None:
    if texture == "default":
        return TEXTURE
    if texture is None:
        return None
    if isinstance(texture, TextureConfig):
        return texture
    d = dict(texture)
    if "radii" in d:
        d["radii"] = tuple(d["radii"])
    return replace(TextureConfig(), **d)
