"""The session's Celery worker takes the jobs of the test that holds it, and only those
(tests.support.worker): a job left over from one test never runs in the next."""

import pytest

from catalog.models import Image
from tests.factories import UnreadableImageFactory
from workers.tasks.ingest import ingest_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _pending_image(world) -> Image:
    return UnreadableImageFactory(dataset=world.dataset(), uploaded_by=world.curator)


def _status(image) -> str:
    return Image.objects.values_list("status", flat=True).get(pk=image.pk)


def test_a_job_sent_between_tests_never_runs(celery_worker, _session_worker, world, wait):
    left_over, mine = _pending_image(world), _pending_image(world)
    _session_worker.take_back()  # as at the end of a test
    ingest_image.delay(str(left_over.pk))  # sent by a test that did not ask for the worker
    assert _session_worker.lend() == 1  # the next test's start drops it
    ingest_image.delay(str(mine.pk))
    wait(lambda: _status(mine) != "pending", timeout=120, what="this test's ingest")
    assert _status(mine) == "failed"
    assert _status(left_over) == "pending"


def test_a_job_waiting_for_its_countdown_is_dropped_at_the_end(
    celery_worker, _session_worker, world, wait
):
    image = _pending_image(world)
    retry = ingest_image.apply_async(args=[str(image.pk)], countdown=600)
    wait(lambda: retry.id in _session_worker.scheduled(), timeout=60, what="the countdown")
    _session_worker.take_back()
    assert retry.id in _session_worker.revoked()
    assert _session_worker.lend() == 0
    assert _status(image) == "pending"
