"""Embeddings of chips off an image's grid (the shifted examples, ``pipeline.shifted``), kept
with the image's grid embeddings: a re-run after a support-set edit embeds only the copies of
examples it has not embedded before. At 256 px chips the copies' 512 px context windows were
most of a re-run's extra cost (docs/benchmarks.md, "Speed")."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

__all__ = ["OffGrid"]


class OffGrid:
    """Embeddings (D,) of chips by top-left pixel (y, x) on frame 0, each made by the encoder
    that embedded the image's grid (``Embedded``); at most ``limit`` positions, the least
    recently used go first. Not thread-safe (one job at a time, as the worker runs them)."""

    def __init__(self, limit: int = 2048) -> None:
        self.limit = limit
        self._rows: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def nbytes(self) -> int:
        """Memory held (for byte-bounded caches)."""
        return sum(row.nbytes for row in self._rows.values())

    def embed(
        self, origins: np.ndarray, make: Callable[[np.ndarray], np.ndarray], dim: int
    ) -> np.ndarray:
        """(N, 2) origins -> (N, dim): those held, and ``make(missing)`` -> (M, dim) for the rest
        (each new position once)."""
        keys = [(int(y), int(x)) for y, x in np.asarray(origins, np.int64).reshape(-1, 2)]
        missing = [k for k in dict.fromkeys(keys) if k not in self._rows]
        if missing:
            made = np.asarray(make(np.asarray(missing, np.int64)), np.float32)
            # a copy per row: a kept row must not hold its whole batch's array in memory
            self._rows.update(zip(missing, [row.copy() for row in made], strict=True))
        for k in keys:
            self._rows.move_to_end(k)
        out = np.stack([self._rows[k] for k in keys]) if keys else np.zeros((0, dim), np.float32)
        while len(self._rows) > self.limit:
            self._rows.popitem(last=False)
        return out
