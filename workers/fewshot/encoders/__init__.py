"""Chip encoders by name: "default" (trained here), "fourier" (no training), "resnet" (user).

enc = build_encoder("default", device="cpu")
emb = enc.embed(normalise(image), ChipGrid.for_shape(image.shape, 32))   # (rows, cols, D)
"""

from workers.fewshot.encoders import default, fourier, resnet  # noqa: F401  (register builders)
from workers.fewshot.encoders.base import (
    Encoder,
    build_encoder,
    centre_chips,
    context_margin,
    extract_chips,
    list_encoders,
    register_encoder,
    resize_chips,
    resolve_device,
)
from workers.fewshot.encoders.io import ChecksumError, load_encoder, save_encoder

__all__ = [
    "ChecksumError",
    "Encoder",
    "build_encoder",
    "centre_chips",
    "context_margin",
    "extract_chips",
    "list_encoders",
    "load_encoder",
    "register_encoder",
    "resize_chips",
    "resolve_device",
    "save_encoder",
]
