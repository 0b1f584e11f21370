"""Embeddings of chips off an image's grid (the shifted examples, ``pipeline.shifted``), kept
with the image's grid embeddings: a re-run after a support-set edit embeds only the copies of
examples it has not embedded before. At 256 px chips the copies' 512 px context windows were
most of a re-run's extra cost (docs/benchmarks.md, "Speed")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workers.fewshot.memo import ChipMemo

__all__ = ["OffGrid"]


class OffGrid(ChipMemo):
    """Embeddings (D,) of chips by top-left pixel (y, x) on frame 0, each made by the encoder
    that embedded the image's grid (``Embedded``); at most ``limit`` positions, the least
    recently used go first. Not thread-safe (one job at a time, as the worker runs them)."""

    def embed(
        self, origins: np.ndarray, make: Callable[[np.ndarray], np.ndarray], dim: int
    ) -> np.ndarray:
        """(N, 2) origins -> (N, dim): those held, and ``make(missing)`` -> (M, dim) for the rest
        (each new position once)."""
        keys = [(int(y), int(x)) for y, x in np.asarray(origins, np.int64).reshape(-1, 2)]
        rows = self.many(
            keys, lambda missing: np.asarray(make(np.asarray(missing, np.int64)), np.float32)
        )
        return np.stack(rows) if rows else np.zeros((0, dim), np.float32)
