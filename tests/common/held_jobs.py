"""Hold jobs back from the workers: tests replace ``common.jobs.enqueue``, the one seam."""

from __future__ import annotations

import contextlib

import common.jobs


class HeldJobs:
    """Stands in for ``common.jobs.enqueue``: keeps the jobs of ``tasks`` (dotted paths; all
    tasks when none are named), sends every other job as usual; ``release()`` sends the kept ones.
    """

    def __init__(self, send, tasks: tuple[str, ...] = ()):
        self._send, self.tasks, self.held = send, set(tasks), []

    def __call__(self, task: str, *args: str) -> None:
        if self.tasks and task not in self.tasks:
            self._send(task, *args)
        else:
            self.held.append((task, args))

    def args(self, task: str) -> list[tuple[str, ...]]:
        """The arguments of the held jobs of ``task``, in the order they were enqueued."""
        return [args for name, args in self.held if name == task]

    def release(self) -> int:
        """Send the held jobs (oldest first) and forget them; how many were sent."""
        jobs, self.held = self.held, []
        for task, args in jobs:
            self._send(task, *args)
        return len(jobs)


@contextlib.contextmanager
def held_jobs(*tasks: str):
    """While inside, jobs of ``tasks`` (all when none are named) are held, not sent."""
    send = common.jobs.enqueue
    held = HeldJobs(send, tasks)
    common.jobs.enqueue = held
    try:
        yield held
    finally:
        common.jobs.enqueue = send
