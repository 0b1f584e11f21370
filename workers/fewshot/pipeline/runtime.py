"""How the core runs torch: deterministic kernels, thread counts restored after, a stage timer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# torch imports its compiler stack (~1.2 s) on the first use_deterministic_algorithms() call:
# pay that once when the engine is imported (worker start-up), not inside the first segmentation.
torch.use_deterministic_algorithms(
    torch.are_deterministic_algorithms_enabled(),
    warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
)


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch and enable deterministic torch kernels for the duration (restored after)."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block, and restore the process's setting after
    (a worker runs other jobs afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def single_thread():
    """Run small tensor ops on one thread: classifying a few thousand chips is dominated by
    thread hand-offs otherwise (10x slower on a busy machine)."""
    return torch_threads(1)


class Timer:
    """Wall seconds per stage (``timings``) and the process's CPU seconds, all threads
    (``cpu``: on a shared machine they say more about the work than wall time does)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._t = time.perf_counter()
        self._cpu = time.process_time()

    def lap(self, stage: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._t
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu - self._cpu
        self._t, self._cpu = now, cpu

    def rounded(self) -> dict[str, float]:
        out = {k: round(v, 4) for k, v in self.timings.items()}
        out["total"] = round(sum(self.timings.values()), 4)
        return out
