"""common.jobs.enqueue_on_commit: the one way apps hand work to the workers."""

import re
from pathlib import Path

import pytest
from celery import Task
from django.db import transaction
from django.utils.module_loading import import_string

from common.jobs import enqueue_on_commit
from tests.common.held_jobs import held_jobs

PLATFORM = Path(__file__).resolve().parents[2] / "platform"


@pytest.mark.django_db(transaction=True)
def test_jobs_are_sent_after_commit_only():
    with held_jobs() as held:
        with transaction.atomic():
            enqueue_on_commit("workers.tasks.train.train_job", 7)
            assert held.held == []  # a worker must not look for rows not yet committed
        assert held.held == [("workers.tasks.train.train_job", ("7",))]
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_on_commit("workers.tasks.train.train_job", 8)
            raise RuntimeError("rolled back")
        assert held.args("workers.tasks.train.train_job") == [("7",)]  # never sent


@pytest.mark.django_db(transaction=True)
def test_held_jobs_of_other_tasks_pass_through():
    sent = []
    with held_jobs("workers.tasks.train.train_job") as outer:
        outer._send = lambda task, *args: sent.append((task, args))
        enqueue_on_commit("workers.tasks.segment.segment_job", "a")
        enqueue_on_commit("workers.tasks.train.train_job", "b")
        assert sent == [("workers.tasks.segment.segment_job", ("a",))]
        assert outer.release() == 1
        assert sent[-1] == ("workers.tasks.train.train_job", ("b",))
        assert outer.held == []


def test_every_enqueued_task_path_names_a_celery_task():
    """Apps name tasks by dotted path (they never import workers.tasks): each must resolve,
    whether passed to ``enqueue_on_commit`` at once or kept in a constant first."""
    paths = set()
    for source in PLATFORM.rglob("*.py"):
        paths |= set(re.findall(r'"(workers\.tasks\.\w+\.\w+)"', source.read_text()))
    assert {
        "workers.tasks.segment.segment_downloads",
        "workers.tasks.segment.chip_size_check",
    } <= paths
    assert len(paths) >= 7, paths
    for path in sorted(paths):
        assert isinstance(import_string(path), Task), path
