"""Serialise any encoder as a directory: config.json (name, options, sha256) + weights.pt."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from workers.fewshot.encoders.base import Encoder, build_encoder

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "ChecksumError",
    "load_encoder",
    "save_encoder",
    "sha256_file",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.pt"
FORMAT_VERSION = 1


class ChecksumError(ValueError):
    """The weights file does not match the sha256 recorded in config.json."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_encoder(
    encoder: Encoder, path: str | Path, *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``encoder`` to directory ``path`` (created); returns the config.json path.

    ``metadata`` (JSON values: training config, command, metrics...) is stored alongside.
    The builder option ``weights`` (where weights came from) is not stored: the tensors are.
    """
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_NAME
    torch.save(encoder.state_dict(), weights)
    config = {k: v for k, v in encoder.config().items() if k != "weights"}
    doc = {
        "format_version": FORMAT_VERSION,
        "encoder": encoder.name,
        "config": config,
        "dim": encoder.dim,
        "weights": WEIGHTS_NAME,
        "sha256": sha256_file(weights),
        "metadata": metadata or {},
    }
    cfg_path = out / CONFIG_NAME
    cfg_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return cfg_path


def load_encoder(path: str | Path, *, device: str | torch.device | None = "cpu") -> Encoder:
    """Load an encoder written by :func:`save_encoder`; ChecksumError if the weights changed."""
    p = Path(path)
    cfg_path = p / CONFIG_NAME if p.is_dir() else p
    if not cfg_path.is_file():
        raise FileNotFoundError(f"no encoder config at {cfg_path}")
    doc = json.loads(cfg_path.read_text())
    weights = cfg_path.parent / doc["weights"]
    digest = sha256_file(weights)
    if digest != doc["sha256"]:
        raise ChecksumError(
            f"{weights}: sha256 {digest} does not match {doc['sha256']} recorded in {cfg_path}"
        )
    # every builder takes weights=None as "architecture only": the saved tensors are loaded next
    encoder = build_encoder(doc["encoder"], device=device, weights=None, **doc["config"])
    encoder.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    encoder.metadata = doc.get("metadata", {})
    return encoder
