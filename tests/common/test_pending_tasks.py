"""Messages the broker could not take are kept in the database and sent once it is back
(the real-process test with a restarted Redis is tests/faults/test_redis_restart.py)."""

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from common import jobs
from common.models import PendingTask

TASK = "workers.tasks.train.train_job"


class Broker:
    """Stands for the Celery task's ``delay``: down (raises as kombu does) or up."""

    def __init__(self):
        self.up = False
        self.sent = []

    def delay(self, *args):
        if not self.up:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.sent.append(args)


@pytest.fixture
def broker(monkeypatch):
    fake = Broker()
    monkeypatch.setattr(jobs, "import_string", lambda path: fake)
    monkeypatch.setattr(jobs, "_pending_here", False)
    return fake


@pytest.mark.django_db(transaction=True)
def test_a_job_sent_while_the_broker_is_down_is_kept_and_sent_when_it_is_back(broker):
    with transaction.atomic():
        jobs.enqueue_on_commit(TASK, "a")
        jobs.enqueue_on_commit(TASK, "b")  # the first failure does not stop the next
    kept = list(PendingTask.objects.values_list("task", "args"))
    assert kept == [(TASK, ["a"]), (TASK, ["b"])]
    assert "Connection refused" in PendingTask.objects.first().error

    assert jobs.pending_tasks_send() == 0  # still down: kept, the try counted
    assert PendingTask.objects.filter(tries=2).count() == 1  # the round stopped at the first
    broker.up = True
    assert jobs.pending_tasks_send() == 2
    assert broker.sent == [("a",), ("b",)]  # oldest first
    assert not PendingTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_next_good_send_of_a_process_sends_what_it_kept(broker):
    jobs.enqueue(TASK, "a")
    broker.up = True
    jobs.enqueue(TASK, "b")
    assert broker.sent == [("b",), ("a",)]
    assert not PendingTask.objects.exists()


@pytest.mark.parametrize(("housekeeping", "threads"), [("true", 1), ("false", 0)])
def test_a_worker_without_housekeeping_sends_no_kept_messages(monkeypatch, housekeeping, threads):
    """CHIPLAB_WORKER_HOUSEKEEPING=false: the worker starts no round of its own (the test
    suite's lent worker must not send the kept messages of the faults tests' workers)."""
    import threading

    from workers import recovery

    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread.name))
    monkeypatch.setenv("CHIPLAB_WORKER_HOUSEKEEPING", housekeeping)
    recovery._start_pending_sender()
    assert started == ["pending-sender"] * threads
