"""A correction's re-run made ahead of its click: a user's click on a grid they segmented
sends a message whose task fits and classifies the working set as it now stands; the next job
of theirs that asks for exactly that takes the map, and gives what it would have computed."""

import numpy as np
import pytest
from PIL import Image as PILImage

from analysis import artefacts
from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from analysis.runner import ahead, segmentation_ahead_run
from analysis.runner import job as job_module
from analysis.services.ahead import AHEAD_TASK
from common import storage
from labeling.services import grid_create
from tests.analysis.helpers import CHIP, truth_chips, upload_ready_image, vote_truth
from tests.common.held_jobs import held_jobs
from tests.support.segmentation import segmentation_run
from workers.celery_app import AHEAD_RANK, app, broker_priority, route

pytestmark = pytest.mark.django_db


def _body(segmentable) -> dict:
    """What the page sends: the annotator's working set on the image's grid."""
    return {
        "schema": str(segmentable["schema"].pk),
        "rule": "single_owner",
        "grids": [str(segmentable["grid"].pk)],
        "images": [str(segmentable["image"].pk)],
    }


def _segment(client, segmentable) -> SegmentationJob:
    """Segment (the job's task and downloads run here), as the page's Segment click."""
    with held_jobs():
        response = client.post("/api/segmentation-jobs/", _body(segmentable), format="json")
    assert response.status_code == 201, response.json()
    job = segmentation_run(job_id=response.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def _click(client, segmentable, nth: int, capture) -> list:
    """The annotator adds one more example (the ``nth`` pure chip of class 1 not voted yet):
    the messages it sent."""
    voted = truth_chips(segmentable["sim"])[1]
    more = [rc for rc in truth_chips(segmentable["sim"], per_class=8)[1] if rc not in voted]
    row, col = more[nth]
    vote = {
        "schema": str(segmentable["schema"].pk),
        "row": row,
        "col": col,
        "class": str(segmentable["classes"][1].pk),
    }
    with held_jobs() as held, capture(execute=True):
        response = client.post(f"/api/grids/{segmentable['grid'].pk}/votes/", vote, format="json")
    assert response.status_code == 201, response.json()
    return held.args(AHEAD_TASK)


def _map(job: SegmentationJob) -> tuple:
    """What the user gets of a job's map: chip arrays, statistics and the mask export."""
    result = SegmentationResult.objects.get(job=job, frame=0)
    arrays = artefacts.npz_load(result.arrays_key)
    with storage.open_(result.artefacts["mask.png"]) as fh:
        mask = np.asarray(PILImage.open(fh)).tobytes()  # its text names the job: pixels only
    stats = {k: v for k, v in result.stats.items() if k != "timings"}
    return {k: arrays[k].tobytes() for k in sorted(arrays)}, stats, mask


def test_a_click_after_a_map_makes_the_re_run_ahead_and_the_next_job_takes_it(
    client_for, world, segmentable, django_capture_on_commit_callbacks
):
    client = client_for(world.annotator)
    artefacts.MEMORY_CACHE.clear()
    first = _segment(client, segmentable)
    assert "made_ahead" not in first.timings

    sent = _click(client, segmentable, 0, django_capture_on_commit_callbacks)
    assert sent == [(str(first.pk),)]
    assert segmentation_ahead_run(job_id=first.pk) is True
    assert segmentation_ahead_run(job_id=first.pk) is False  # a burst of clicks: made once

    taken = _segment(client, segmentable)  # Segment again: nothing changed since the click
    assert taken.timings["made_ahead"] == 1
    assert "classify" not in taken.timings  # its one map was made: no fit either
    again = _segment(client, segmentable)  # the same working set, classified by the job itself
    assert "made_ahead" not in again.timings
    assert again.timings["classify"] > 0
    assert again.support_set_id == taken.support_set_id
    assert _map(taken) == _map(again)  # bit for bit

    # the message goes after every job: the broker's last level
    app.loader.import_default_modules()  # the task modules name their queues
    assert route(AHEAD_TASK, [str(first.pk)], {}, {})["priority"] == broker_priority(AHEAD_RANK)


def test_a_click_is_stored_and_answered_whatever_follows_it(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    from labeling.services import votes as votes_module

    def broken(**_kw):
        raise RuntimeError("the offer failed")

    monkeypatch.setattr(votes_module, "_after_clicks", broken)
    client = client_for(world.annotator)
    before = segmentable["grid"].votes.count()
    assert _click(client, segmentable, 0, django_capture_on_commit_callbacks) == []  # a 201
    assert segmentable["grid"].votes.count() == before + 1


def test_what_changed_after_the_map_was_made_ahead_is_classified_by_the_job(
    client_for, world, segmentable, django_capture_on_commit_callbacks
):
    client = client_for(world.annotator)
    first = _segment(client, segmentable)
    _click(client, segmentable, 0, django_capture_on_commit_callbacks)
    assert segmentation_ahead_run(job_id=first.pk) is True
    _click(client, segmentable, 1, django_capture_on_commit_callbacks)  # before Segment
    job = _segment(client, segmentable)
    assert "made_ahead" not in job.timings
    assert len(job.support_set.chips) == len(first.support_set.chips) + 2


def test_no_map_is_made_ahead_for_others_for_nothing_new_after_a_newer_job_or_when_off(
    client_for, world, segmentable, settings, django_capture_on_commit_callbacks
):
    mine = client_for(world.annotator)
    first = _segment(mine, segmentable)
    assert segmentation_ahead_run(job_id=first.pk) is False  # no click since: its map is shown
    # another member's click on the grid: they have no job there
    theirs = client_for(world.curator)
    assert _click(theirs, segmentable, 0, django_capture_on_commit_callbacks) == []
    assert _click(mine, segmentable, 0, django_capture_on_commit_callbacks) == [(str(first.pk),)]
    with held_jobs():  # the user clicked Segment before the message's turn: the job does it
        queued = mine.post("/api/segmentation-jobs/", _body(segmentable), format="json")
    assert queued.status_code == 201
    assert segmentation_ahead_run(job_id=first.pk) is False
    settings.CHIPLAB_SEGMENT_AHEAD_MINUTES = 0
    assert _click(mine, segmentable, 1, django_capture_on_commit_callbacks) == []


def _series_clicked_after_its_first_map(world, segmentable, client, frames, monkeypatch, capture):
    """A series with the annotator's examples on its grid; while a job runs, once its first
    map is shown the user adds an example (``job.hand_over`` patched): the series' setup."""
    series, s = upload_ready_image(world, dataset=segmentable["image"].dataset, frames=frames)
    grid, _ = grid_create(user=world.annotator, image=series, chip_size=CHIP)
    vote_truth(world.annotator, grid, segmentable["schema"], segmentable["classes"], truth_chips(s))
    on_series = {**segmentable, "image": series, "grid": grid, "sim": s}
    real_hand_over = job_module.hand_over

    def hand_over(saved, pixels):
        if saved.frame == 0:
            _click(client, on_series, 0, capture)
        return real_hand_over(saved, pixels)

    monkeypatch.setattr(job_module, "hand_over", hand_over)
    return on_series


def test_a_series_job_makes_its_users_re_run_ahead_between_its_frames(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    """On a series the message waits behind the running job on the worker queue: the job
    makes the map itself at its next frame, and the user's next job takes it."""
    client = client_for(world.annotator)
    on_series = _series_clicked_after_its_first_map(
        world, segmentable, client, 3, monkeypatch, django_capture_on_commit_callbacks
    )
    real_run, made = ahead.segmentation_ahead_run, []
    monkeypatch.setattr(ahead, "segmentation_ahead_run", lambda **kw: made.append(real_run(**kw)))
    _segment(client, on_series)
    assert made == [True, False]  # at frame 1; at frame 2 it is made already
    monkeypatch.undo()
    taken = _segment(client, on_series)
    assert taken.timings["made_ahead"] == 1
    again = _segment(client, on_series)
    assert "made_ahead" not in again.timings
    assert _map(taken) == _map(again)


def test_a_failure_making_the_map_between_frames_is_not_the_jobs(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    client = client_for(world.annotator)
    on_series = _series_clicked_after_its_first_map(
        world, segmentable, client, 2, monkeypatch, django_capture_on_commit_callbacks
    )

    def broken(**_kw):
        raise MemoryError("out of memory")

    monkeypatch.setattr(ahead, "segmentation_ahead_run", broken)
    job = _segment(client, on_series)  # succeeded, both frames
    assert sorted(job.results.values_list("frame", flat=True)) == [0, 1]
