"""The one task decorator: acks late, requeue on worker loss, bounded retries, time limits."""

import logging

from django.db import InterfaceError, OperationalError

from workers.celery_app import TASK_QUEUES, app

log = logging.getLogger(__name__)

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


def chiplab_task(*, queue: str = "default", time_limit: int = 3600, max_retries: int = 3):
    """Register a task with the project's delivery guarantees, routed to ``queue``."""

    def decorator(fn):
        task = app.task(
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            autoretry_for=TRANSIENT_ERRORS,
            retry_backoff=True,
            retry_backoff_max=60,
            max_retries=max_retries,
            soft_time_limit=time_limit,
            time_limit=time_limit + 30,
        )(fn)
        TASK_QUEUES[task.name] = {"queue": queue}
        return task

    return decorator


def run_or_record_failure(task, *, run, fail, subject: str, unavailable: str) -> None:
    """Run ``run()``; what it works on must end failed with a reason, never pending forever.

    Transient errors propagate (the decorator retries them) and are recorded with
    ``unavailable`` on the last attempt; any other error is recorded at once.
    """
    try:
        run()
    except TRANSIENT_ERRORS:
        if task.request.retries >= task.max_retries:
            fail(reason=unavailable)
        raise
    except Exception as err:
        log.exception("%s failed", subject)
        fail(reason=f"{type(err).__name__}: {err}")
