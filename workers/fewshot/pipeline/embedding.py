"""Embedding once per image: normalised frames -> the encoder over every chip."""

from __future__ import annotations

import numpy as np

from workers.fewshot.chipping import ChipGrid, normalise
from workers.fewshot.encoders import Encoder
from workers.fewshot.pipeline.options import Embedded
from workers.fewshot.pipeline.runtime import deterministic


def normalised_frames(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C) or (T, H, W) pixels -> (T, H, W) float32 as the encoders see them
    (``chipping.normalise``: percentiles pooled over a stack's frames)."""
    norm = normalise(image)
    return norm[None] if norm.ndim == 2 else norm


def embed(
    image: np.ndarray,
    *,
    encoder: Encoder,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    seed: int = 0,
    keep_frames: bool = True,
) -> Embedded:
    """Embed every chip of an image or frame stack: (H, W) | (H, W, 3) | (T, H, W) -> Embedded.

    A stack is normalised with percentiles pooled over its frames (frames stay comparable);
    every frame is embedded whole, batched. ``keep_frames`` keeps the normalised pixels, which
    boundary refinement, the pixel vote and the shifted examples need.
    """
    out = embed_frames(
        normalised_frames(image), encoder=encoder, chip_size=chip_size, offset=offset, seed=seed
    )
    return out if keep_frames else Embedded(None, out.grid, out.embeddings)


def embed_frames(
    frames: np.ndarray,
    *,
    encoder: Encoder,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    seed: int = 0,
) -> Embedded:
    """``embed`` for frames already normalised by ``normalised_frames``: (T, H, W) -> Embedded."""
    grid = ChipGrid.for_shape(frames.shape[1:], chip_size, offset)
    with deterministic(seed):
        out = [np.asarray(encoder.embed(frame, grid), dtype=np.float32) for frame in frames]
    return Embedded(frames, grid, np.stack(out))
