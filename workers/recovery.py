"""Work lost with a worker on the embedded broker is found on the rows and sent again.

The filesystem broker (``workers.broker``) hands a message over by deleting its file: until it
is acknowledged it lives only in the memory of the worker that took it. A worker killed as a
whole (or wedged, then killed) takes those messages with it, and their jobs would stay
"queued" or "running" forever. So when a worker starts, every unfinished row (a job queued or
running, an image pending) whose process is gone and whose message is not waiting in the queue
folder is taken as lost and enqueued again. A segmentation job whose maps are saved and whose
downloads' message was lost is running with no process: its task, sent again, classifies none
of the frames it handed over and sends the downloads again (``analysis.runner.job``).

The embedded install runs three workers (``infra/run-embedded.sh``): a message another live
worker has taken but not started yet is sent a second time. That is harmless: the task's row
counts deliveries and skips one that is done or that a live process runs
(``common.jobs.delivery_begin``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from pathlib import Path

from celery.signals import worker_ready
from django.conf import settings
from django.db import connections

from common.jobs import INGEST, SEGMENTATION, TRAINING, Tracked, process_alive

log = logging.getLogger(__name__)


def _unfinished() -> list[tuple[str, Tracked, tuple[str, ...]]]:
    from workers.tasks.ingest import DIRECT_COMMIT
    from workers.tasks.publishing import ARCHIVE_IMPORT

    return [
        ("workers.tasks.segment.segment_job", SEGMENTATION, ("queued", "running")),
        ("workers.tasks.train.train_job", TRAINING, ("queued", "running")),
        ("workers.tasks.ingest.ingest_image", INGEST, ("pending",)),
        ("workers.tasks.ingest.commit_direct_upload", DIRECT_COMMIT, ("committing",)),
        ("workers.tasks.publishing.import_dataset_archive", ARCHIVE_IMPORT, ("queued", "running")),
    ]


def queued_messages(folder: Path) -> set[tuple[str, str]]:
    """(task name, first argument) of every message waiting in the broker's queue folder."""
    found = set()
    for path in folder.glob("*.msg"):
        try:
            message = json.loads(path.read_bytes())
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            found.add((message["headers"]["task"], str(args[0]) if args else ""))
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue  # taken meanwhile, or not a task message
    return found


def requeue_lost(folder: Path) -> list[tuple[str, str]]:
    """Enqueue again the unfinished rows with no live process and no waiting message."""
    from workers.celery_app import app

    waiting = queued_messages(folder)
    sent = []
    for task, tracked, statuses in _unfinished():
        rows = tracked.rows().filter(status__in=statuses).values_list("pk", "worker")
        for pk, worker in rows:
            identity = worker.rpartition("#")[0]
            if (task, str(pk)) in waiting or (identity and process_alive(identity)):
                continue
            app.tasks[task].delay(str(pk))
            sent.append((task, str(pk)))
    return sent


@worker_ready.connect
def _requeue_lost_on_start(**_kwargs) -> None:
    """On the embedded broker only: Redis and RabbitMQ keep unacknowledged messages and give
    them back themselves."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        return
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    try:
        sent = requeue_lost(folder)
    except Exception:  # never keep the worker from serving what is queued
        log.exception("could not look for work lost by a previous worker")
        return
    finally:
        connections.close_all()  # pool processes forked later must not share it
    for task, pk in sent:
        log.warning("%s %s was lost with a previous worker: enqueued again", task, pk)


# --- messages kept while the broker was down (common.jobs.enqueue) --------------------------
def _send_pending_forever(every: float, sweep_every: float) -> None:
    from catalog.direct import direct_uploads_expire
    from common.jobs import pending_tasks_send
    from common.models import PendingTask

    swept = time.monotonic()
    while True:
        time.sleep(every)
        try:
            if PendingTask.objects.exists():
                pending_tasks_send()
        except Exception as err:  # the database or the broker down: try again next round
            log.warning("could not send the messages kept while the broker was down: %r", err)
            connections.close_all()  # this thread's own connection, opened afresh next round
        if time.monotonic() - swept >= sweep_every:
            swept = time.monotonic()
            try:  # direct uploads nobody committed: their parts must not stay in the bucket
                if n := direct_uploads_expire():
                    log.info("%d expired direct upload(s) aborted", n)
            except Exception as err:
                log.warning("could not abort the expired direct uploads: %r", err)
                connections.close_all()


@worker_ready.connect
def _start_pending_sender(**_kwargs) -> None:
    """Every few seconds the worker sends what the web processes kept while the broker was
    down: a job submitted then is queued as soon as the broker is back. Every
    CHIPLAB_UPLOAD_SWEEP_SECONDS it also aborts the direct uploads that expired. A worker
    started with CHIPLAB_WORKER_HOUSEKEEPING=false does neither (one worker of a deployment is
    enough; the test suite's worker, lent to one test at a time, must not act on the rows of
    tests that run workers and brokers of their own)."""
    if os.environ.get("CHIPLAB_WORKER_HOUSEKEEPING", "true").lower() in {"0", "false", "no"}:
        return
    every = float(os.environ.get("CHIPLAB_PENDING_SEND_SECONDS", "5"))
    # and, less often, it aborts the direct uploads that expired uncommitted
    sweep_every = float(os.environ.get("CHIPLAB_UPLOAD_SWEEP_SECONDS", "600"))
    thread = threading.Thread(
        target=_send_pending_forever,
        args=(max(every, 0.1), max(sweep_every, 1.0)),
        name="pending-sender",
        daemon=True,
    )
    thread.start()
