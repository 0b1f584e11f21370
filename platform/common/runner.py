"""The one way a worker runs a job row: lock -> running -> work (checking for a cancel) ->
finish or fail -> side effects after commit.

A job is a row whose ``status`` is the truth (``common.jobs.Job`` and the other rows a task
works on: an image's ingest, a direct upload's commit). Its task calls :func:`job_run`:

1. :func:`job_start` locks the row (``select_for_update``), refuses one that is gone or
   ``done`` (finished, cancelled: a duplicate or late delivery) and marks it running, in one
   short transaction: no slow call (storage, MLflow) is made while the row is locked.
2. ``prepare`` (optional, outside the lock) turns the row into what the work needs
   (``select_related``, a stale MLflow run closed).
3. ``work(job)`` does the job and records its success with :func:`job_end`. It calls
   :func:`cancel_check` between steps; a cancel raises :class:`Cancelled`, which ends the run
   through ``cancelled`` (the cancel itself already finished the row).
4. Failures are classified once, here: a transient error (:data:`TRANSIENT_ERRORS`: database,
   broker, storage unreachable) propagates, so the task retries it and the row stays running;
   one of ``refused`` (the user's to fix, e.g. a damaged file) is recorded with its message
   and code; any other is logged and recorded with :func:`failure_reason`.
5. :func:`job_end` records the end only on a row not finished meanwhile (a cancel is never
   overwritten) and then registers its side effects (webhook events, follow-up tasks) with
   ``transaction.on_commit``: nothing is told about a row that was rolled back.

The task layer (``workers.tasks.base``) adds deliveries (counted on the row), retries and
time limits, and records a failure when the retries of a transient error run out.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, models, transaction
from django.utils import timezone

from .jobs import FINISHED, JobStatus

log = logging.getLogger(__name__)

Row = TypeVar("Row", bound=models.Model)

# Only errors that may pass by themselves are retried; domain errors are recorded at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)
try:  # S3 endpoint hiccups
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import EndpointConnectionError

    TRANSIENT_ERRORS += (BotoConnectionError, EndpointConnectionError)
except ImportError:  # pragma: no cover - boto is a pinned dependency
    pass


class Cancelled(Exception):
    """The job was cancelled while it ran (raised by :func:`cancel_check`)."""


def job_run(
    model: type[Row],
    pk,
    work: Callable[[Any], object],
    *,
    subject: str,
    done: Collection[str] = FINISHED,
    running: str | None = JobStatus.RUNNING,
    fields: Callable[[Row], dict] | None = None,
    prepare: Callable[[Row], Any] | None = None,
    refused: tuple[type[Exception], ...] = (),
    passes: tuple[type[Exception], ...] = (),
    fail: Callable[[Any, str, str], object] | None = None,
    cancelled: Callable[[Any], object] | None = None,
):
    """Run the job ``pk`` of ``model`` (see the module's steps); the prepared job, or None
    when it was refused (gone, or in one of the ``done`` statuses).

    ``running`` and ``fields(row)`` mark the locked row (:func:`job_start`); ``work(job)``
    records its own success; ``fail(job, reason, code)`` records a failure (by default
    :func:`job_end` with ``failed``; ``code`` is a refused error's ``code``, "" for any other
    error); ``cancelled(job)`` ends a cancelled run; errors in ``passes`` are raised to the
    caller unrecorded. ``subject`` names the job in the log.
    """
    row = job_start(model, pk, done=done, running=running, fields=fields)
    if row is None:
        return None
    job = prepare(row) if prepare is not None else row
    if fail is None:
        fail = functools.partial(_failed, model, done=done)
    try:
        work(job)
    except Cancelled:
        log.info("%s cancelled", subject)
        if cancelled is not None:
            cancelled(job)
    except TRANSIENT_ERRORS:
        raise  # the task retries; the row stays running and the next delivery resumes it
    except passes:
        raise  # nothing to record (the row was deleted meanwhile): the caller is told
    except refused as err:
        fail(job, str(err), getattr(err, "code", "") or "")
    except Exception as err:
        log.exception("%s failed", subject)
        fail(job, failure_reason(err), "")
    return job


def _failed(model, job, reason: str, code: str, *, done: Collection[str]) -> None:
    job_end(model, job.pk, status=JobStatus.FAILED, error=reason, done=done)


def job_start(
    model: type[Row],
    pk,
    *,
    done: Collection[str] = FINISHED,
    running: str | None = JobStatus.RUNNING,
    fields: Callable[[Row], dict] | None = None,
) -> Row | None:
    """Lock the row, refuse it when gone or ``done``, mark it ``running`` (``None``: status
    unchanged) with ``fields(row)`` (by default ``started``, kept from an earlier delivery),
    and commit. The row returned holds the values it had before, but for those set here."""
    with transaction.atomic():
        row = model.objects.select_for_update().filter(pk=pk).first()
        if row is None or row.status in done:
            return None
        changes = dict(fields(row)) if fields is not None else _started(row)
        if running is not None:
            changes["status"] = running
        for name, value in changes.items():
            setattr(row, name, value)
        if changes:
            row.save(update_fields=list(changes))
    return row


def _started(row) -> dict:
    if not hasattr(row, "started"):
        return {}
    return {"started": row.started or timezone.now()}


def job_cancelled(model: type[models.Model], pk) -> bool:
    """Whether the job was cancelled (its status re-read)."""
    return model.objects.filter(pk=pk, status=JobStatus.CANCELLED).exists()


def cancel_check(model: type[models.Model], pk) -> None:
    """Raise :class:`Cancelled` when the job was cancelled: the work stops at this step."""
    if job_cancelled(model, pk):
        raise Cancelled


def job_end(
    model: type[models.Model],
    pk,
    *,
    status: str,
    error: str | None = None,
    max_error: int = 2000,
    done: Collection[str] = FINISHED,
    finished: str | None = "finished",
    effects: Iterable[Callable[[], object]] = (),
    **fields,
) -> bool:
    """Record the job's end (``status``, ``error`` cut to ``max_error``, the ``finished``
    timestamp field, other ``fields``) unless it is ``done`` already (a cancel that arrived
    meanwhile is kept); then, if it changed, run ``effects`` once the transaction commits
    (at once outside one). Whether the row changed."""
    fields["status"] = status
    if error is not None:
        fields["error"] = error[:max_error]
    if finished:
        fields[finished] = timezone.now()
    rows = model.objects.filter(pk=pk)
    if done:
        rows = rows.exclude(status__in=list(done))
    changed = rows.update(**fields)
    if changed:
        for effect in effects:
            transaction.on_commit(effect)
    return bool(changed)


# --- the reason a failure records ------------------------------------------------------------
# what allocators and thread libraries say when the memory cap (or the machine) is reached
_OUT_OF_MEMORY = ("can't allocate memory", "cannot allocate memory", "out of memory")
# a thread's stack and a native library's pages are memory too
_OUT_OF_MEMORY += ("can't start new thread", "cannot map zero-fill pages")


def failure_reason(err: BaseException) -> str:
    """The reason a job records for ``err``: out of memory said in words, with the cap."""
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, MemoryError) or any(m in text.lower() for m in _OUT_OF_MEMORY):
        return (
            f"Out of memory: the job needed more than a worker process may use "
            f"({memory_cap_mb()} MiB). Try fewer or smaller images. ({text})"
        )
    return text


#: the worker's pool size (set by ``workers.tasks.base`` when the worker starts)
worker_concurrency = 1


def memory_cap_mb() -> int:
    """The memory a pool process may use: the setting, or (0) 80% of this machine's memory
    shared among the worker's processes."""
    if settings.CHIPLAB_WORKER_MAX_MEMORY_MB > 0:
        return settings.CHIPLAB_WORKER_MAX_MEMORY_MB
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(physical * 0.8 / max(worker_concurrency, 1)) // 1024**2
