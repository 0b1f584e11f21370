"""Adapter for a user-supplied torchvision-style ResNet-18/34/50 state dict (plain torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workers.fewshot.encoders.base import Encoder, register_encoder, resize_chips

__all__ = ["ARCHS", "ResNet", "ResNetConfig", "ResNetEncoder", "StateDictError", "resnet"]

# ImageNet statistics: what torchvision-trained weights expect after grey -> RGB replication
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class StateDictError(ValueError):
    """A state dict does not fit the requested ResNet architecture."""


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity/projection shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, c_in, h, w) -> (N, planes, h/stride, w/stride)."""
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class Bottleneck(nn.Module):
    """1x1-3x3-1x1 bottleneck, stride on the 3x3 (torchvision's ResNet v1.5, ResNet-50)."""

    expansion = 4

    def __init__(
        self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, c_in, h, w) -> (N, 4 planes, h/stride, w/stride)."""
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


ARCHS: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """ResNet with torchvision's parameter names, so its state dicts load unchanged."""

    def __init__(self, arch: str = "resnet18", num_classes: int = 1000) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of {sorted(ARCHS)}")
        block, counts = ARCHS[arch]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or c_in != planes * block.expansion):
                    down = nn.Sequential(
                        nn.Conv2d(c_in, planes * block.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                blocks.append(block(c_in, planes, stride if j == 0 else 1, down))
                c_in = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        self.out_channels = {
            "layer1": 64 * block.expansion,
            "layer2": 128 * block.expansion,
            "layer3": 256 * block.expansion,
            "layer4": 512 * block.expansion,
        }

    def features(self, x: torch.Tensor, *, upto: str = "layer4") -> torch.Tensor:
        """Globally pooled features: (N, 3, h, w) -> (N, C of ``upto``)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            if name == upto:
                break
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classifier logits: (N, 3, h, w) -> (N, num_classes)."""
        return self.fc(self.features(x))


def resnet(arch: str = "resnet18", *, num_classes: int = 1000) -> ResNet:
    """Randomly initialised ResNet (torchvision layout)."""
    return ResNet(arch, num_classes)


def validate_state_dict(
    model: ResNet, state: dict[str, torch.Tensor], arch: str
) -> dict[str, torch.Tensor]:
    """Check keys and shapes (``fc`` ignored); return backbone tensors or raise StateDictError."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    given = {k: v for k, v in state.items() if not k.startswith("fc.")}
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(given) - optional)
    unexpected = sorted(set(given) - set(expected))
    wrong = sorted(
        f"{k}: got {tuple(given[k].shape)}, expected {tuple(expected[k].shape)}"
        for k in set(expected) & set(given)
        if not torch.is_tensor(given[k]) or given[k].shape != expected[k].shape
    )
    if missing or unexpected or wrong:
        parts = [f"state dict does not fit {arch}:"]
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", wrong),
        ):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
        raise StateDictError("; ".join(parts))
    return {k: v for k, v in given.items() if k in expected}


@dataclass(frozen=True)
class ResNetConfig:
    """Options of the resnet adapter."""

    arch: str = "resnet18"
    input_size: int = 64
    layer: str = "layer4"


class ResNetEncoder(Encoder):
    """Grey chips -> 3 channels, ImageNet normalisation, resize, pooled ResNet features."""

    name = "resnet"

    def __init__(self, *, device: torch.device, config: ResNetConfig, model: ResNet) -> None:
        super().__init__(device=device)
        self.cfg = config
        self.model = model.to(device).eval()
        self.dim = model.out_channels[config.layer]
        self._mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)

    def config(self) -> dict[str, Any]:
        """Builder options."""
        return asdict(self.cfg)

    def embed_chips(self, chips: torch.Tensor) -> torch.Tensor:
        """(N, 1, s, s) -> (N, D)."""
        x = resize_chips(chips.to(self.device), self.cfg.input_size).expand(-1, 3, -1, -1)
        return self.model.features((x - self._mean) / self._std, upto=self.cfg.layer)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Backbone weights (torchvision names)."""
        return {
            k: v.detach().cpu()
            for k, v in self.model.state_dict().items()
            if not k.startswith("fc.")
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Validate then load backbone weights."""
        clean = validate_state_dict(self.model, state, self.cfg.arch)
        self.model.load_state_dict(clean, strict=False)
        self.model.to(self.device).eval()


@register_encoder("resnet")
def build_resnet(
    *,
    device: torch.device,
    weights: str | Path | dict[str, torch.Tensor] | None,
    arch: str = "resnet18",
    input_size: int = 64,
    layer: str = "layer4",
) -> ResNetEncoder:
    """Build a ResNet encoder from a local state-dict file (never downloaded) or a loaded dict.

    ``weights=None`` gives random weights (only useful for tests and ``load_encoder``).
    """
    if layer not in ("layer1", "layer2", "layer3", "layer4"):
        raise ValueError(f"layer must be layer1..layer4, got {layer!r}")
    cfg = ResNetConfig(arch=arch, input_size=int(input_size), layer=layer)
    enc = ResNetEncoder(device=device, config=cfg, model=ResNet(arch))
    if weights is not None:
        if isinstance(weights, dict):
            state = weights
        else:
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"ResNet weights file not found: {path}")
            state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise StateDictError(f"expected a state dict, got {type(state).__name__}")
        enc.load_state_dict(state)
    return enc
