"""The stage timer of a job's worker: seconds per stage and the embeddings cache's hits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    timings: dict[str, float] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=lambda: {"memory": 0, "storage": 0, "miss": 0})
    #: maps taken from the ones made ahead of the click (``ahead``)
    ahead: int = 0

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - since
        return now

    def lapper(self):
        """``lap(stage)``: adds the time since the previous lap (or since now) to ``stage``."""
        last = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal last
            last = self.add(stage, last)

        return lap
