"""Handles of segmentation and training jobs: ``refresh()``, ``wait()``, ``cancel()``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Self

from .errors import ChiplabError

if TYPE_CHECKING:
    from .areas.analysis import SegmentationJobs
    from .areas.registry import Training
    from .types import Result

FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class JobHandle(Mapping[str, Any]):
    """A job as the API last described it (read it like a dict), and what to do with it."""

    def __init__(self, area: SegmentationJobs | Training, data: dict[str, Any]):
        self._area = area
        self.data = data

    # --- the answer, as a mapping ---
    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.status} {self.fraction:.0%}>"

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def status(self) -> str:
        return self.data["status"]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def fraction(self) -> float:
        """How much of the work is done, 0 to 1."""
        raise NotImplementedError

    # --- actions ---
    def refresh(self) -> Self:
        self.data = self._area.get(self.id).data
        return self

    def cancel(self) -> Self:
        self.data = self._area.cancel(self.id).data
        return self

    def wait(
        self,
        *,
        progress: Callable[[Self], None] | None = None,
        interval: float = 0.5,
        max_interval: float = 5.0,
        timeout: float | None = None,
        check: bool = True,
    ) -> Self:
        """Poll until the job has finished; ``progress(job)`` after every poll.

        The poll interval grows from ``interval`` to ``max_interval`` while nothing changes.
        ``check``: a failed or cancelled job raises ChiplabError (code ``job_failed`` or
        ``job_cancelled``, the job in ``body``). Past ``timeout`` seconds: code ``timeout``.
        """
        sleep = self._area._http.sleep
        deadline = None if timeout is None else time.monotonic() + timeout
        delay, seen = interval, None
        while True:
            if progress is not None:
                progress(self)
            if self.finished:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise ChiplabError(
                    f"{self.kind} job {self.id} still {self.status} after {timeout:g} s.",
                    code="timeout",
                    body=self.data,
                )
            sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            self.refresh()
            state = (self.status, self.fraction)
            delay = interval if state != seen else min(max_interval, delay * 1.5)
            seen = state
        if check and self.status != "succeeded":
            reason = self.data.get("error") or self.status
            raise ChiplabError(
                f"{self.kind} job {self.id} {self.status}: {reason}",
                code=f"job_{self.status}",
                body=self.data,
            )
        return self

    kind = "Job"


class SegmentationJob(JobHandle):
    """A segmentation job; ``results`` are in the job's answer once it has succeeded."""

    kind = "Segmentation"
    _area: SegmentationJobs

    @property
    def fraction(self) -> float:
        return float((self.data.get("progress") or {}).get("fraction") or 0.0)

    @property
    def results(self) -> list[Result]:
        return list(self.data.get("results") or [])

    def rerun(self) -> SegmentationJob:
        """A new job with the same inputs (reproduces the results exactly)."""
        return self._area.rerun(self.id)


class TrainingJob(JobHandle):
    """A fine-tuning job; ``result_version`` is the registered model version once done."""

    kind = "Training"
    _area: Training

    @property
    def fraction(self) -> float:
        return float(self.data.get("progress") or 0.0)
