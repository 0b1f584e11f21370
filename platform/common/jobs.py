"""Asynchronous jobs (segmentation, training): status, timing, error; the row is the truth."""

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from django.apps import apps
from django.db import models, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """Fields every job shares; concrete jobs add what they run on and what they produce."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Deliveries of the job's task (see :func:`delivery_begin`): how many started, and which
    # process runs it now, so that a redelivered job whose worker died is told from a duplicate.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created"]

    @property
    def is_finished(self) -> bool:
        """Succeeded, failed or cancelled: nothing will change it any more."""
        return self.status in FINISHED


def enqueue_on_commit(task: str, *args) -> None:
    """Send the Celery task at dotted path ``task`` with ``args`` (ids, sent as strings) once
    the current transaction commits (at once outside one): the worker must find the rows.

    Apps name tasks by path and never import ``workers.tasks``; the task's decorator routes it
    to its queue. Tests hold jobs back by replacing :func:`enqueue`, the one seam.
    """
    sent = tuple(str(a) for a in args)
    transaction.on_commit(lambda: enqueue(task, *sent))


def enqueue(task: str, *args: str) -> None:
    """Send the Celery task at dotted path ``task`` now (see :func:`enqueue_on_commit`).

    A broker that is down (restarting, unreachable) does not lose the job whose row was just
    committed: the message is kept in the database (:class:`common.models.PendingTask`) and
    sent when the broker is back, by the workers (``workers.recovery``) or by this process's
    next successful send.
    """
    global _pending_here
    try:
        import_string(task).delay(*args)
    except _send_errors() as err:
        # workers.tasks imports this module, maybe before the app registry is ready: the model late
        from common.models import PendingTask

        log.warning("broker down, %s%s kept to be sent later: %r", task, args, err)
        PendingTask.objects.create(task=task, args=list(args), error=repr(err)[:1000])
        _pending_here = True
        return
    if _pending_here:
        _pending_here = False
        pending_tasks_send()


#: this process kept a message while the broker was down (its next good send flushes them)
_pending_here = False


def _send_errors() -> tuple[type[BaseException], ...]:
    # common.errors imports DRF's views (and through its settings common.throttling): late
    from common.errors import broker_errors

    return (*broker_errors(), ConnectionError, TimeoutError)


def pending_tasks_send(*, limit: int = 500) -> int:
    """Send the messages kept while the broker was down, oldest first; how many were sent.

    Rows are locked (``skip_locked``) so two senders never send one twice, and deleted in the
    transaction that sent them; a broker still down stops the round (tried again later). A
    message sent twice would be harmless anyway: tasks skip work done or running.
    """
    # workers.tasks imports this module, maybe before the app registry is ready: the model late
    from common.models import PendingTask

    sent = 0
    with transaction.atomic():
        rows = PendingTask.objects.select_for_update(skip_locked=True).order_by("id")[:limit]
        for row in rows:
            try:
                import_string(row.task).delay(*row.args)
            except _send_errors() as err:
                PendingTask.objects.filter(pk=row.pk).update(
                    tries=F("tries") + 1, error=repr(err)[:1000]
                )
                break
            except ImportError:
                log.error("pending task %s names no task: dropped", row)
            else:
                sent += 1
            PendingTask.objects.filter(pk=row.pk).delete()
    if sent:
        log.info("sent %d message(s) kept while the broker was down", sent)
    return sent


# --- deliveries: a task's row counts them, so one that kills its worker cannot loop -----------
@dataclass(frozen=True)
class Tracked:
    """How a task's row records deliveries: its model (``app.Model``, with ``status``,
    ``error``, ``attempts`` and ``worker`` fields), the statuses in which there is nothing left
    to do, the status (and timestamp field, if any) that marks it failed, and what deletes
    the objects it staged when it fails that way."""

    model: str
    done: tuple[str, ...] = FINISHED
    failed: str = JobStatus.FAILED
    finished_field: str | None = "finished"
    #: dotted path of ``fn(pk)`` deleting what the task's lost deliveries staged (a package, an
    #: uploaded object), called once the row failed after them; "" when nothing is staged
    sweep: str = ""

    def rows(self):
        return apps.get_model(self.model).objects


#: the rows whose tasks count their deliveries (``workers.tasks.base.chiplab_task(tracks=...)``);
#: here, below the apps, so that a worker and the web process (a job that gives way and is
#: sent again, ``analysis.runner.give_way``) name the same one
SEGMENTATION = Tracked("analysis.SegmentationJob")
TRAINING = Tracked("registry.TrainingJob")
INGEST = Tracked("catalog.Image", done=("ready", "failed"), failed="failed", finished_field=None)


def process_identity() -> str:
    """``host:pid:start`` of this process: the start time tells a reused pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return "" if fields[0] == "Z" else fields[19]  # a zombie has exited


def process_alive(identity: str) -> bool:
    """Whether the process named by :func:`process_identity` still runs. A process on another
    host cannot be asked and counts as gone: the broker only redelivers a message whose
    consumer was lost (or whose visibility timeout, longer than any task may run, passed)."""
    host, _, rest = identity.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    ticks = _start_ticks(int(pid))
    return bool(ticks) and ticks == start


class Delivery(Enum):
    RUN = "run"  # go ahead
    SKIP = "skip"  # done already, gone, or a live process runs it: a duplicate
    FAILED = "failed"  # too many deliveries were lost with their worker: recorded failed


def delivery_begin(tracked: Tracked, pk, *, retries: int, max_lost: int) -> Delivery:
    """Count a delivery of ``pk``'s task on its row (locked) and say whether to run it.

    Every delivery that ends (success, failure, or a retry sent for a transient error) is
    counted by Celery's ``retries``; the others, ``attempts - retries``, were lost with their
    worker (killed, out of memory). After ``max_lost`` of those the row fails with the reason
    instead of running a task that kills every worker it is given to.
    """
    me = f"{process_identity()}#{retries}"
    with transaction.atomic():
        row = (
            tracked.rows()
            .select_for_update()
            .filter(pk=pk)
            .only("pk", "status", "attempts", "worker")
            .first()
        )
        if row is None or row.status in tracked.done:
            return Delivery.SKIP
        if row.worker and row.worker != me and _running(row.worker, retries=retries):
            return Delivery.SKIP
        lost = row.attempts - retries
        if lost >= max_lost:
            fields = {
                "status": tracked.failed,
                "worker": "",
                "error": (
                    f"Stopped: its worker process died {lost} times while running it (killed, "
                    "for instance when out of memory). Try fewer or smaller images, or ask an "
                    "administrator to check the worker's memory limit."
                ),
            }
            if tracked.finished_field:
                fields[tracked.finished_field] = timezone.now()
            tracked.rows().filter(pk=pk).update(**fields)
            return Delivery.FAILED
        tracked.rows().filter(pk=pk).update(attempts=F("attempts") + 1, worker=me)
    return Delivery.RUN


def _running(marker: str, *, retries: int) -> bool:
    """Whether the delivery marked ``identity#retries`` may still run: its process lives and
    it is not an earlier delivery (one that sent the retry now delivered has ended)."""
    identity, _, theirs = marker.rpartition("#")
    return process_alive(identity) and theirs.isdigit() and int(theirs) >= retries


def delivery_requeue(tracked: Tracked, pk, *, retries: int, status: str, **fields) -> bool:
    """Put the running row back to ``status`` (waiting) with ``fields``: this delivery ends
    without being lost, and the caller sends a fresh message (``retries`` 0) when the
    transaction commits. ``attempts`` keeps only the deliveries lost so far, so that the new
    message's chain counts them as :func:`delivery_begin` does, and the row names no worker, so
    that the new message is not taken for a duplicate of this one. False when the row is no
    longer running (cancelled meanwhile): nothing is to be sent."""
    lost = Greatest(F("attempts") - 1 - retries, Value(0))
    return bool(
        tracked.rows()
        .filter(pk=pk, status=JobStatus.RUNNING)
        .update(status=status, attempts=lost, worker="", **fields)
    )


def delivery_end(tracked: Tracked, pk, *, retries: int) -> None:
    """This process no longer runs ``pk``'s task (it ended; a retry may be sent)."""
    me = f"{process_identity()}#{retries}"
    tracked.rows().filter(pk=pk, worker=me).update(worker="")
