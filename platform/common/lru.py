"""One least-recently-used cache for the platform's in-process caches (a worker's decoded
frames, embeddings and spectra; the loaded encoders)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class Lru:
    """A thread-safe LRU cache whose values' total ``weigh(value)`` stays within ``capacity``
    (an int, or a callable read at each put: a setting tests may change). A value heavier than
    the whole capacity is not kept."""

    def __init__(
        self, capacity: int | Callable[[], int], *, weigh: Callable[[Any], int] = lambda v: 1
    ) -> None:
        self._capacity = capacity
        self._weigh = weigh
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._capacity() if callable(self._capacity) else self._capacity

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        capacity = self.capacity
        if self._weigh(value) > capacity:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while sum(self._weigh(v) for v in self._items.values()) > capacity:
                self._items.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
