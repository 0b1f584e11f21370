"""The Celery application: `celery -A workers.celery_app worker -Q default,gpu,training`.

Queues: ``default`` (ingest, webhooks, light checks), ``gpu`` (interactive segmentation and
embedding prefetches) and ``training`` (fine-tuning, hours long: its own queue and worker, so
that it never holds the interactive jobs back).

Fair sharing between labs: every message carries a priority from its *rank* in its lab, the
number of the lab's unfinished jobs of that kind created before it (see :func:`route`). The
broker hands out rank 0 of every lab before rank 1 of any, and so on: a lab that queued fifty
jobs does not delay another lab's first one by more than the jobs already running. Ranks are
mapped to what each broker understands (:func:`broker_priority`): Redis polls priority lists 0
first, RabbitMQ serves higher numbers first (queues declared with ``x-max-priority``), and the
embedded filesystem broker (``workers.broker``) sorts message files by a rank prefix. Ordering
lives in the broker, not in a dispatcher process: nothing extra to run or to lose, and a job's
row stays the one truth of its state.
"""

import logging
import os
import sys
from pathlib import Path

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "platform") not in sys.path:
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# torch's OpenMP threads sleep instead of spinning while they wait (read when torch loads, after
# this module): a worker shares its cores with the web server and the other workers' downloads
# and checks, and a spinning team whose other thread was descheduled stalled a re-run's many
# short parallel loops (chiplab_bench_segment --after shown, 4096², 32 px, 2 cores: median
# support-set edit -> map 0.92 / 0.81 / 0.71 s spinning, 0.69 / 0.76 / 0.67 s passive).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# filesystem:// (the embedded default) with atomic message writes: see workers.broker
TRANSPORT_ALIASES["filesystem"] = "workers.broker:Transport"

log = logging.getLogger(__name__)

QUEUES = ("default", "gpu", "training")
# Priority levels of Redis and RabbitMQ (0..9): ranks from 9 on share the last level.
PRIORITY_LEVELS = 10
# The embedded broker keeps ranks apart up to this one (three digits in a file name).
FILESYSTEM_MAX_RANK = 999
# Embedding prefetches fill a cache: they go after every lab's first job.
PREFETCH_RANK = 1
# A re-run made ahead of its click (analysis.runner.ahead) is a guess: after every job.
AHEAD_RANK = FILESYSTEM_MAX_RANK

app = Celery("chiplab")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Filled by workers.tasks.base.chiplab_task: task name -> queue ("default", "gpu", "training").
TASK_QUEUES: dict[str, dict[str, str]] = {}


def broker_priority(rank: int, broker_url: str | None = None) -> int:
    """The message priority that makes the broker serve lower ranks first."""
    if broker_url is None:
        from django.conf import settings

        broker_url = settings.CELERY_BROKER_URL
    rank = max(int(rank), 0)
    scheme = broker_url.split(":", 1)[0].lower()
    if scheme in {"amqp", "amqps", "pyamqp", "librabbitmq"}:  # higher numbers first
        return PRIORITY_LEVELS - 1 - min(rank, PRIORITY_LEVELS - 1)
    if scheme == "filesystem":  # workers.broker: file names sorted, rank first
        return min(rank, FILESYSTEM_MAX_RANK)
    return min(rank, PRIORITY_LEVELS - 1)  # redis (and others like it): level 0 first


def _unfinished_before(model, pk, *, lab_field: str, statuses=None) -> int:
    """Rows of ``model`` in ``pk``'s lab created before it and not finished."""
    from common.jobs import FINISHED

    row = model.objects.filter(pk=pk).values(lab_field, "created").first()
    if row is None:
        return 0
    rows = model.objects.filter(**{lab_field: row[lab_field], "created__lt": row["created"]})
    if statuses is not None:
        return rows.filter(status__in=statuses).count()
    return rows.exclude(status__in=FINISHED).count()


def _segmentation_rank(job_id) -> int:
    from analysis.models import SegmentationJob
    from analysis.selectors import jobs_given_way_to  # not the runner: it loads torch
    from common.jobs import JobStatus

    # queued again after it started: it gave way to its user's newer jobs
    # (analysis.runner.give_way), which must be served first. It takes the newest one's rank:
    # the same level, sent after it (every broker serves a level in the order sent), and not
    # behind the other labs' later jobs
    job = SegmentationJob.objects.filter(
        pk=job_id, status=JobStatus.QUEUED, started__isnull=False
    ).first()
    if job is not None:
        newest = (
            jobs_given_way_to(job=job).order_by("-created").values_list("pk", flat=True).first()
        )
        job_id = newest or job_id
    return _unfinished_before(SegmentationJob, job_id, lab_field="lab_id")


def _training_rank(job_id) -> int:
    from registry.models import TrainingJob

    return _unfinished_before(TrainingJob, job_id, lab_field="lab_id")


def _ingest_rank(image_id) -> int:
    from catalog.models import Image

    return _unfinished_before(Image, image_id, lab_field="dataset__lab_id", statuses=["pending"])


# task name -> rank of the message for its first argument (the row's id)
RANKS = {
    "workers.tasks.segment.segment_job": _segmentation_rank,
    "workers.tasks.train.train_job": _training_rank,
    "workers.tasks.ingest.ingest_image": _ingest_rank,
    "workers.tasks.segment.prefetch_embeddings": lambda _grid_id: PREFETCH_RANK,
    "workers.tasks.segment.segment_ahead": lambda _job_id: AHEAD_RANK,
}


def route(name, args, kwargs, options, task=None, **_kw):
    """Celery router: the task's queue, and a priority from its rank in its lab."""
    queue = TASK_QUEUES.get(name)
    if queue is None:
        return None
    rank = 0
    ranked = RANKS.get(name)
    if ranked is not None and args:
        try:
            rank = ranked(args[0])
        except Exception:  # a rank is an ordering hint: never keep a job from being sent
            log.exception("could not rank %s %s; sent first", name, args[0])
    return {**queue, "priority": broker_priority(rank)}


app.conf.task_routes = [route]
app.conf.include = [
    "workers.tasks.ingest",
    "workers.tasks.mail",
    "workers.tasks.publishing",
    "workers.tasks.segment",
    "workers.tasks.train",
    "workers.tasks.webhooks",
]
