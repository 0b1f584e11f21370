"""Caps on unfinished jobs (per lab, per member), the daily cost quota per lab, and a cap check
that holds under concurrent requests."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from analysis.models import SegmentationJob
from common.errors import TooMany
from tests.sharing.conftest import job_body

JOBS = "/api/segmentation-jobs/"
pytestmark = pytest.mark.django_db


def create(client, side):
    return client.post(JOBS, job_body(side), format="json")


def test_a_member_cannot_take_the_whole_labs_allowance(client_for, world, two_labs, settings):
    a, _b = two_labs
    settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB = 10
    settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_USER = 2
    curator = client_for(world.curator)
    first = create(curator, a).json()["id"]
    assert create(curator, a).status_code == 201
    full = create(curator, a)
    assert full.status_code == 429, full.content
    error = full.json()["error"]
    assert (
        error["code"] == "queue_full" and "You already have 2 segmentation jobs" in error["message"]
    )
    assert curator.post(f"{JOBS}{first}/rerun").status_code == 429
    # another member of the lab still has their share; the lab's cap is not reached
    owner = client_for(world.owner)
    assert create(owner, a).status_code == 201
    curator.post(f"{JOBS}{first}/cancel")  # a finished job makes room again
    assert create(curator, a).status_code == 201


def test_no_per_user_cap_when_set_to_zero(client_for, world, two_labs, settings):
    a, _b = two_labs
    settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB = 4
    settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_USER = 0
    curator = client_for(world.curator)
    assert [create(curator, a).status_code for _ in range(5)] == [201] * 4 + [429]


def test_the_daily_quota_counts_chips_times_frames_and_says_when_it_resets(
    client_for, world, two_labs, settings
):
    a, b = two_labs
    chips = a["grid"].rows * a["grid"].cols  # one frame
    settings.CHIPLAB_DAILY_CHIPS_PER_LAB = 2 * chips
    curator = client_for(world.curator)
    assert create(curator, a).status_code == 201
    assert create(curator, a).status_code == 201
    over = create(curator, a)
    assert over.status_code == 429, over.content
    error = over.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert f"daily quota is {2 * chips:,} chips" in error["message"]
    assert f"{2 * chips:,} are used today and this job needs {chips:,}" in error["message"]
    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d 00:00 UTC")
    assert tomorrow in error["message"]
    assert error["fields"] == {
        "quota": [str(2 * chips)],
        "used": [str(2 * chips)],
        "requested": [str(chips)],
    }
    # cancelling does not give the cost back, but yesterday's jobs no longer count
    assert SegmentationJob.objects.filter(lab=world.lab).count() == 2
    SegmentationJob.objects.filter(lab=world.lab).update(created=timezone.now() - timedelta(days=1))
    assert create(curator, a).status_code == 201
    # the other lab's quota is its own
    assert create(client_for(world.outsider), b).status_code == 201


def test_the_cap_holds_under_concurrent_requests(
    transactional_db, world, two_labs, settings, hold_jobs
):
    """Eight requests of one lab at once with room for three: exactly three jobs. The count
    happens under a lock on the lab's row, so a request waits for the one before to commit."""
    from analysis.services import segmentation_job_create

    a, _b = two_labs
    hold_jobs()  # no worker here: nothing is sent
    settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB = 3
    settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_USER = 0
    settings.CHIPLAB_DAILY_CHIPS_PER_LAB = 0
    users = [world.curator, world.owner]
    start = threading.Barrier(8)
    outcomes = []

    def attempt(i):
        try:
            start.wait()
            segmentation_job_create(
                user=users[i % 2],
                images=[a["image"].pk],
                support_set=a["version"].pk,
                model_version=None,
            )
            outcomes.append("created")
        except TooMany:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 5
    assert SegmentationJob.objects.filter(lab=world.lab).count() == 3
