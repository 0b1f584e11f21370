"""The one task decorator: acks late, requeue on worker loss, bounded retries, time limits.

A task that works on a row (a job, an image) names it with ``tracks``: each delivery is then
counted on the row inside its lock (``common.jobs.delivery_begin``), so a message whose task
kills its worker (out of memory) is not requeued forever but fails with the reason after
``CHIPLAB_JOB_MAX_ATTEMPTS`` lost deliveries, and a duplicate of a message that a live process
is running is dropped. Pool processes run under a memory cap (``CHIPLAB_WORKER_MAX_MEMORY_MB``):
an oversized allocation raises MemoryError, which the job records, instead of inviting the
kernel's OOM killer.
"""

import functools
import logging
import os
import resource

from celery.signals import worker_init, worker_process_init
from django.conf import settings
from django.utils.module_loading import import_string

from common import runner
from common.jobs import Delivery, Tracked, delivery_begin, delivery_end
from common.runner import TRANSIENT_ERRORS, failure_reason, memory_cap_mb
from workers import recovery  # noqa: F401  (at worker start: requeue work lost by the last one)
from workers.celery_app import TASK_QUEUES, app
from workers.heap import keep_freed_memory

log = logging.getLogger(__name__)

# What a hard time limit adds to the soft one (the task's cleanup time).
HARD_LIMIT_MARGIN = 30


def _sweep(tracks: Tracked, pk) -> None:
    """Delete what the lost deliveries of a row's task staged, now that it failed."""
    if not tracks.sweep:
        return
    try:
        import_string(tracks.sweep)(pk)
    except Exception:  # the row's failure stands; what is left is only space
        log.exception("could not delete what %s %s staged", tracks.model, pk)


def chiplab_task(
    *,
    queue: str = "default",
    time_limit: int = 3600,
    max_retries: int = 3,
    tracks: Tracked | None = None,
):
    """Register a task with the project's delivery guarantees, routed to ``queue``.

    With ``tracks``, the task's first argument is the id of a row of that kind and deliveries
    are counted on it; without, a delivery lost with its worker is sent again as a retry, which
    ``max_retries`` bounds (a requeued message would carry no count).
    """
    if time_limit + HARD_LIMIT_MARGIN > settings.CHIPLAB_MAX_TASK_SECONDS:
        raise ValueError(
            f"time_limit {time_limit}s exceeds CHIPLAB_MAX_TASK_SECONDS, from which the "
            "broker's visibility timeout is derived: the task would be delivered twice."
        )

    def decorator(fn):
        body = fn
        if tracks is not None:

            @functools.wraps(fn)
            def body(self, pk, *args, **kwargs):
                outcome = delivery_begin(
                    tracks,
                    pk,
                    retries=self.request.retries,
                    max_lost=settings.CHIPLAB_JOB_MAX_ATTEMPTS,
                )
                if outcome is not Delivery.RUN:
                    log.warning("%s %s: delivery not run (%s)", self.name, pk, outcome.value)
                    if outcome is Delivery.FAILED:
                        _sweep(tracks, pk)
                    return None
                try:
                    return fn(self, pk, *args, **kwargs)
                finally:
                    try:
                        delivery_end(tracks, pk, retries=self.request.retries)
                    except Exception:  # the database may be what failed; the marker expires
                        log.warning("could not clear the worker of %s %s", self.name, pk)

        task = app.task(
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            retry_on_worker_lost=tracks is None,
            autoretry_for=TRANSIENT_ERRORS,
            retry_backoff=True,
            retry_backoff_max=60,
            max_retries=max_retries,
            soft_time_limit=time_limit,
            time_limit=time_limit + HARD_LIMIT_MARGIN,
        )(body)
        TASK_QUEUES[task.name] = {"queue": queue}
        return task

    return decorator


def run_or_record_failure(task, *, run, fail, subject: str, unavailable: str) -> None:
    """Run ``run()`` (a ``common.runner.job_run``); what it works on must end failed with a
    reason, never pending forever.

    Transient errors propagate (the decorator retries them) and are recorded with
    ``unavailable`` on the last attempt; any other error that escaped the runner (its start,
    its failure's own record) is recorded at once, classified as the runner does.
    """
    try:
        run()
    except TRANSIENT_ERRORS:
        if task.request.retries >= task.max_retries:
            fail(reason=unavailable)
        raise
    except Exception as err:
        log.exception("%s failed", subject)
        fail(reason=failure_reason(err))


# --- memory cap of pool processes ------------------------------------------------------------
@worker_init.connect
def _note_concurrency(sender=None, **_kwargs) -> None:
    # what common.runner.memory_cap_mb shares the machine's memory among
    runner.worker_concurrency = int(getattr(sender, "concurrency", None) or 1)


@worker_process_init.connect
def _cap_memory(**_kwargs) -> None:
    """Limit the pool process's data (heap and private mappings, not reserved address space,
    so CUDA still starts): an allocation past it raises MemoryError in the task."""
    if settings.CHIPLAB_WORKER_MAX_MEMORY_MB < 0:
        return
    cap = memory_cap_mb() * 1024**2
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    log.info("pool process %s: data limited to %d MiB", os.getpid(), cap // 1024**2)


@worker_process_init.connect
def _keep_freed_memory(**_kwargs) -> None:
    # a map's arrays reuse the last one's memory rather than page-faulting it in again
    if keep_freed_memory():
        log.info("pool process %s: freed memory kept (workers.heap)", os.getpid())
