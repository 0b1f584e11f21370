"""Deliveries counted on a job's row: duplicates skipped, a task that keeps losing its worker
failed with the reason, and a broker visibility timeout longer than any task may run."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from analysis.models import SegmentationJob
from common.jobs import SEGMENTATION, Delivery, delivery_begin, delivery_end, process_identity
from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth
from tests.factories import SegmentationJobFactory
from workers.celery_app import app
from workers.tasks import ingest, segment, train  # noqa: F401  (registers the tasks)

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(world):
    from labeling.services import support_set_freeze

    image, s = upload_ready_image(world)
    schema, classes, grid = labelled_schema(world, image, s)
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    version = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    return SegmentationJobFactory(lab=world.lab, created_by=world.annotator, support_set=version)


DEAD = "nowhere.invalid:1:1#0"  # a process on another host: cannot be running it here


def test_each_delivery_is_counted_and_marks_the_process_running_it(job):
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=3) is Delivery.RUN
    job.refresh_from_db()
    assert job.attempts == 1
    assert job.worker == f"{process_identity()}#0"
    delivery_end(SEGMENTATION, job.pk, retries=0)
    job.refresh_from_db()
    assert job.worker == ""


def test_the_process_that_holds_the_marker_may_run_it_again(job):
    SegmentationJob.objects.filter(pk=job.pk).update(worker=f"{process_identity()}#0", attempts=1)
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=3) is Delivery.RUN
    job.refresh_from_db()
    assert job.attempts == 2


def test_a_marker_of_a_live_other_process_makes_the_delivery_a_duplicate(job):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from common.jobs import _start_ticks

        host = process_identity().split(":")[0]
        marker = f"{host}:{sleeper.pid}:{_start_ticks(sleeper.pid)}#0"
        SegmentationJob.objects.filter(pk=job.pk).update(worker=marker, attempts=1)
        assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=3) is Delivery.SKIP
        # a retry (sent when that delivery ended) is not a duplicate
        assert delivery_begin(SEGMENTATION, job.pk, retries=1, max_lost=3) is Delivery.RUN
    finally:
        sleeper.kill()
        sleeper.wait()
    SegmentationJob.objects.filter(pk=job.pk).update(worker=marker)
    # the process is gone (killed): its delivery was lost, this one takes over
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=5) is Delivery.RUN


def test_a_job_whose_deliveries_keep_dying_fails_with_the_reason(job):
    for _ in range(3):  # each delivery dies with its worker: nothing ends it
        assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=3) is Delivery.RUN
        SegmentationJob.objects.filter(pk=job.pk).update(worker=DEAD)
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=3) is Delivery.FAILED
    job.refresh_from_db()
    assert job.status == "failed"
    assert "worker process died 3 times" in job.error
    assert job.finished is not None
    assert job.attempts == 3
    # and it stays failed: a later delivery does nothing
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=3) is Delivery.SKIP


def test_retries_after_transient_errors_are_not_counted_as_lost(job):
    for retries in range(4):  # each delivery ended with a retry (database down, say)
        assert delivery_begin(SEGMENTATION, job.pk, retries=retries, max_lost=1) is Delivery.RUN
        delivery_end(SEGMENTATION, job.pk, retries=retries)
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 4


def test_finished_jobs_are_not_run_again(job):
    SegmentationJob.objects.filter(pk=job.pk).update(status="succeeded")
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=3) is Delivery.SKIP
    job.refresh_from_db()
    assert job.attempts == 0


# --- long jobs are delivered once ------------------------------------------------------
def test_the_visibility_timeout_outlasts_every_task():
    timeout = app.conf.broker_transport_options["visibility_timeout"]
    assert timeout == settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = {
        name: task.time_limit
        for name, task in app.tasks.items()
        if name.startswith("workers.tasks.") and task.time_limit
    }
    assert "workers.tasks.train.train_job" in limits
    assert limits["workers.tasks.train.train_job"] == settings.CHIPLAB_TRAIN_TIME_LIMIT + 30
    assert all(limit < timeout for limit in limits.values()), (limits, timeout)


def test_the_visibility_timeout_follows_the_training_limit():
    """A 20 h training limit (Redis broker): the broker waits longer than 20 h."""
    code = (
        "from workers.celery_app import app; import django; django.setup();"
        "import workers.tasks.train as t;"
        "print(app.conf.broker_transport_options['visibility_timeout'], t.train_job.time_limit)"
    )
    env = {
        **os.environ,
        "CHIPLAB_TRAIN_TIME_LIMIT": str(20 * 3600),
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.REPO_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    visibility, limit = (int(v) for v in out[-2:])
    assert limit == 20 * 3600 + 30
    assert visibility > limit


def test_a_task_longer_than_the_visibility_timeout_is_refused():
    from workers.tasks.base import chiplab_task

    with pytest.raises(ValueError, match="delivered twice"):
        chiplab_task(time_limit=settings.CHIPLAB_MAX_TASK_SECONDS)
