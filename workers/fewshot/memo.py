"""What a fit computes per support chip and can keep for the next fit on the same image: a
chip's own result depends only on the chip (its position on the image's grid) and the
arguments in its key, not on the rest of the support set. A re-run after a support-set edit
then computes only the new examples' (the shifted copies' embeddings, ``pipeline.shifted``,
keyed ("off-grid", y, x); the support windows' power spectra, ``frequencies``; their Gabor
features at the support's peaks, ``spectral_peaks``). At 214-256 px chips those were most of a
re-run's fit. One store per image, with one bound (the shifted copies had a store of their own
until the twenty-fifth session)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence

import numpy as np

__all__ = ["ChipMemo"]


class ChipMemo:
    """Arrays by key, kept with one image's grid embeddings (``pipeline.Embedded``): at most
    ``limit`` entries and ``max_bytes`` bytes, the least recently used go first. Not
    thread-safe: fill it from the thread that fits (one job at a time, as workers run them)."""

    def __init__(self, limit: int = 2048, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.limit, self.max_bytes = limit, max_bytes
        self._rows: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Hashable]:
        """The keys held, least recently used first."""
        return iter(list(self._rows))

    @property
    def nbytes(self) -> int:
        """Memory held (for byte-bounded caches)."""
        return self._bytes

    def many(
        self, keys: Sequence[Hashable], make: Callable[[list], Sequence[np.ndarray]]
    ) -> list[np.ndarray]:
        """The arrays of ``keys``: those held, and ``make(missing keys)`` for the rest (each
        new key once, in first-seen order)."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._rows]
        if missing:
            made = make(missing)
            for key, row in zip(missing, made, strict=True):
                # a copy: a kept row must not hold its whole batch's array in memory
                self._rows[key] = np.array(row, copy=True)
                self._bytes += self._rows[key].nbytes
        for k in keys:
            self._rows.move_to_end(k)
        out = [self._rows[k] for k in keys]
        while self._rows and (len(self._rows) > self.limit or self._bytes > self.max_bytes):
            self._bytes -= self._rows.popitem(last=False)[1].nbytes
        return out
