"""The test session's Celery worker, lent to one test at a time.

One worker process serves the whole session (starting one takes seconds), but it consumes the
job queues only while a test that asked for it runs: it starts on an idle queue of its own,
each such test makes it consume ``default``, ``gpu`` and ``training`` (remote control
``add_consumer``), and at the test's end it stops consuming, drops the jobs it had taken but
not started (revoked: a retry waiting for its countdown, a message it had prefetched), waits
for the ones running, and the queues are emptied. So a job left behind by one test (a webhook
retry, a job of a test that did not wait for its result, a job sent by a test without the
worker) never runs in another test, nor against a database being flushed.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.waits import wait_for
from workers.celery_app import QUEUES, app
from workers.local_worker import start_worker

IDLE_QUEUE = "chiplab-test-idle"
# How long a test's running jobs may take to finish after the test (a segmentation of a
# large image, a training epoch); then the lease fails the test rather than hang.
FINISH_TIMEOUT = 180.0
CONTROL_TIMEOUT = 10.0


class LentWorker:
    """A worker process that consumes the job queues only while lent (see the module)."""

    def __init__(self, proc, hostname: str, log_path: Path):
        self.proc, self.hostname, self.log_path = proc, hostname, log_path

    @classmethod
    def start(cls, *, env: dict, log_path: Path, name: str) -> LentWorker:
        proc = start_worker(env=env, log_path=log_path, name=name, queues=(IDLE_QUEUE,))
        return cls(proc, f"{name}@{socket.gethostname()}", log_path)

    def _control(self, command: str, queue: str) -> None:
        replies = getattr(app.control, command)(
            queue, destination=[self.hostname], reply=True, timeout=CONTROL_TIMEOUT
        )
        if not replies:
            raise RuntimeError(f"the worker did not answer {command}({queue!r})")

    def _inspect(self):
        return app.control.inspect(destination=[self.hostname], timeout=CONTROL_TIMEOUT)

    def lend(self) -> int:
        """Empty the queues (jobs of earlier tests), then consume them; how many jobs were
        dropped."""
        dropped = purge_queues()
        for queue in QUEUES:
            self._control("add_consumer", queue)
        return dropped

    def scheduled(self) -> set[str]:
        """Ids of the jobs the worker holds until their countdown ends."""
        return _scheduled_ids(self._inspect().scheduled())

    def revoked(self) -> set[str]:
        """Ids of the jobs the worker was told to drop."""
        return {i for ids in (self._inspect().revoked() or {}).values() for i in ids}

    def take_back(self) -> None:
        """Stop consuming, drop the jobs taken but not started, wait for the running ones,
        empty the queues; AssertionError when running jobs do not finish in time."""
        for queue in QUEUES:
            self._control("cancel_consumer", queue)
        wait_for(self._settled, timeout=FINISH_TIMEOUT, interval=0.1, what="the test's jobs to end")
        purge_queues()

    def _settled(self) -> bool:
        """Revoke the jobs taken but not started; whether none is left and none runs."""
        inspect = self._inspect()
        taken = _task_ids(inspect.reserved()) | _scheduled_ids(inspect.scheduled())
        # a revoked job waiting for its countdown stays listed until then: not again
        waiting = taken - self.revoked()
        if waiting:
            app.control.revoke(sorted(waiting), destination=[self.hostname])
        return not waiting and not _task_ids(inspect.active())


def _entries(replies: dict | None) -> list[dict]:
    return [entry for entries in (replies or {}).values() for entry in entries]


def _task_ids(replies: dict | None) -> set[str]:
    return {entry["id"] for entry in _entries(replies)}


def _scheduled_ids(replies: dict | None) -> set[str]:
    return {entry["request"]["id"] for entry in _entries(replies)}


def purge_queues() -> int:
    """Delete every message waiting in the job queues; how many there were."""
    with app.connection_for_write() as conn:
        return sum(conn.default_channel.queue_purge(queue) or 0 for queue in QUEUES)
