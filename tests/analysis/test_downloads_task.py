"""A job's downloads are a task of their own: the job's task saves the maps, hands the pixel
outputs over through storage and returns (its process is free for the next job); the
downloads' task writes every other export and ends the job."""

import os
import sys
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from analysis.runner import downloads as downloads_module
from analysis.runner import images as runner_images
from analysis.runner import segmentation_downloads_run, segmentation_job_run
from common import storage
from common.priority import BACKGROUND_NICE
from tests.analysis.helpers import upload_ready_image
from tests.analysis.test_analysis_api import JOBS, create, job_body
from tests.common.held_jobs import held_jobs

pytestmark = pytest.mark.django_db
DOWNLOADS_TASK = "workers.tasks.segment.segment_downloads"
CHECK_TASK = "workers.tasks.segment.chip_size_check"


def first_task(client, segmentable, django_capture_on_commit_callbacks, **body) -> tuple[str, list]:
    """A new job's own task run here: (job id, the tasks it enqueued)."""
    job_id = create(client, **job_body(segmentable, **body)).json()["id"]
    with held_jobs() as held, django_capture_on_commit_callbacks(execute=True):
        segmentation_job_run(job_id=job_id)
    return job_id, held.held


def downloads(job_id, *result_ids, capture):
    """The downloads' tasks of ``result_ids`` and the one without a frame, here: the tasks
    they enqueued."""
    with held_jobs() as held, capture(execute=True):
        for result_id in result_ids:
            segmentation_downloads_run(job_id=job_id, result_id=result_id)
        segmentation_downloads_run(job_id=job_id)
    return held.held


def test_the_job_hands_its_downloads_to_a_task_of_their_own(
    client_for, world, segmentable, django_capture_on_commit_callbacks
):
    client = client_for(world.annotator)
    job_id, sent = first_task(client, segmentable, django_capture_on_commit_callbacks)
    result = SegmentationJob.objects.get(pk=job_id).results.get()
    # the frame's downloads, then one that ends the job; no chip-size check yet
    assert sent == [(DOWNLOADS_TASK, (job_id, str(result.pk))), (DOWNLOADS_TASK, (job_id,))]
    body = client.get(f"{JOBS}{job_id}/").json()
    assert body["status"] == "running" and body["progress"]["stage"] == "Writing the downloads"
    assert body["progress"]["fraction"] == 1.0  # every chip is classified
    (listed,) = body["results"]
    assert {"mask.png", "confidence.png"} <= set(listed["links"])
    assert "overlay.png" not in listed["links"] and "result.json" not in listed["links"]
    pending = result.artefacts[downloads_module.PENDING]  # never a link: not an export kind
    assert storage.exists(pending) and downloads_module.PENDING not in listed["links"]

    # the job's own message first: its frame is still pending, so it does not end the job
    with held_jobs() as held, django_capture_on_commit_callbacks(execute=True):
        segmentation_downloads_run(job_id=job_id)
    assert held.held == [] and SegmentationJob.objects.get(pk=job_id).status == "running"
    sent = downloads(job_id, str(result.pk), capture=django_capture_on_commit_callbacks)
    assert sent == [(CHECK_TASK, (job_id,))]
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.stage == "" and job.timings["downloads"] > 0
    assert job.timings["total"] >= job.timings["classify"]
    result.refresh_from_db()
    assert downloads_module.PENDING not in result.artefacts and not storage.exists(pending)
    (final,) = client.get(f"{JOBS}{job_id}/").json()["results"]
    assert {"overlay.png", "coco.json", "mask.ome.zarr.zip", "result.json"} <= set(final["links"])


def test_the_hand_over_is_made_at_background_priority(
    client_for, world, segmentable, django_capture_on_commit_callbacks, monkeypatch
):
    """The confidence map and the pending outputs are made while the page fetches and draws
    the map just listed: the page's requests go first."""
    niceness = []
    made = downloads_module.exports.confidence_png

    def recorded(confidence):
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return made(confidence)

    monkeypatch.setattr(downloads_module.exports, "confidence_png", recorded)
    job_id, _ = first_task(
        client_for(world.annotator), segmentable, django_capture_on_commit_callbacks
    )
    result = SegmentationJob.objects.get(pk=job_id).results.get()
    assert {"confidence.png", downloads_module.PENDING} <= set(result.artefacts)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert niceness == [min(19, own + BACKGROUND_NICE) if sys.platform == "linux" else own]


def test_a_job_delivered_again_does_not_classify_a_frame_it_handed_over(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    """The worker died after the hand-over: the next delivery sends the downloads again
    without classifying the frame again."""
    client = client_for(world.annotator)
    job_id, _ = first_task(client, segmentable, django_capture_on_commit_callbacks)

    def not_again(*args, **kwargs):
        raise AssertionError("a handed-over frame was classified again")

    monkeypatch.setattr(runner_images, "classify_frame", not_again)
    with held_jobs() as held, django_capture_on_commit_callbacks(execute=True):
        segmentation_job_run(job_id=job_id)
    result_id = str(SegmentationJob.objects.get(pk=job_id).results.get().pk)
    # the pending frame's downloads are sent again (their message may have been lost)
    assert held.held == [(DOWNLOADS_TASK, (job_id, result_id)), (DOWNLOADS_TASK, (job_id,))]
    downloads(job_id, result_id, capture=django_capture_on_commit_callbacks)
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "result.json" in job.results.get().artefacts


def test_a_job_cancelled_before_its_downloads_keeps_its_map_and_drops_the_hand_over(
    client_for, world, segmentable, django_capture_on_commit_callbacks
):
    client = client_for(world.annotator)
    job_id, _ = first_task(client, segmentable, django_capture_on_commit_callbacks)
    pending = (
        SegmentationJob.objects.get(pk=job_id).results.get().artefacts[downloads_module.PENDING]
    )
    result_id = str(SegmentationJob.objects.get(pk=job_id).results.get().pk)
    assert client.post(f"{JOBS}{job_id}/cancel").json()["status"] == "cancelled"
    assert segmentation_downloads_run(job_id=job_id, result_id=result_id) is None
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.CANCELLED
    artefacts = job.results.get().artefacts
    assert "mask.png" in artefacts and "overlay.png" not in artefacts
    assert downloads_module.PENDING not in artefacts and not storage.exists(pending)


def test_downloads_that_cannot_be_written_fail_the_job_with_the_reason(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    client = client_for(world.annotator)
    job_id, _ = first_task(client, segmentable, django_capture_on_commit_callbacks)

    def broken(*args, **kwargs):
        raise ValueError("the OME-Zarr writer broke")

    monkeypatch.setattr(downloads_module, "download_exports", broken)
    result_id = str(SegmentationJob.objects.get(pk=job_id).results.get().pk)
    segmentation_downloads_run(job_id=job_id, result_id=result_id)
    body = client.get(f"{JOBS}{job_id}/").json()
    assert body["status"] == "failed"
    assert body["error"].startswith("The downloads could not be written: ")
    assert "the OME-Zarr writer broke" in body["error"]
    assert len(body["results"]) == 1  # the map stays listed


def test_a_job_that_failed_on_a_later_frame_drops_the_hand_over_of_an_earlier_one(
    client_for, world, segmentable, django_capture_on_commit_callbacks
):
    """Its frame's downloads' message arrives after the job failed: nothing is written and the
    pending pixel outputs are deleted (not left until the image is)."""
    client = client_for(world.annotator)
    job_id, _ = first_task(client, segmentable, django_capture_on_commit_callbacks)
    result = SegmentationJob.objects.get(pk=job_id).results.get()
    pending = result.artefacts[downloads_module.PENDING]
    SegmentationJob.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error="frame 2")
    assert segmentation_downloads_run(job_id=job_id, result_id=str(result.pk)) is None
    result.refresh_from_db()
    assert downloads_module.PENDING not in result.artefacts and not storage.exists(pending)
    assert "overlay.png" not in result.artefacts
    assert SegmentationJob.objects.get(pk=job_id).status == JobStatus.FAILED


def written(result_id) -> bool:
    """Whether the result's downloads are stored (its pending outputs gone)."""
    artefacts = SegmentationResult.objects.get(pk=result_id).artefacts
    return "result.json" in artefacts and downloads_module.PENDING not in artefacts


@pytest.mark.parametrize("bound", [1, None])
def test_a_series_whose_downloads_fall_behind_writes_the_oldest_itself(
    client_for, world, segmentable, settings, bound, django_capture_on_commit_callbacks
):
    """Past ``CHIPLAB_PENDING_DOWNLOADS_BYTES`` of frames waiting for their downloads (here
    one frame's worth), the job's task writes the oldest frame's downloads before it goes on;
    with the default bound (1 GiB) all three wait for the downloads' tasks."""
    if bound is not None:
        settings.CHIPLAB_PENDING_DOWNLOADS_BYTES = bound
    image, _ = upload_ready_image(world, dataset=segmentable["image"].dataset, frames=3, seed=0)
    client = client_for(world.annotator)
    job_id, sent = first_task(
        client, segmentable, django_capture_on_commit_callbacks, images=[str(image.pk)]
    )
    results = [str(r.pk) for r in SegmentationJob.objects.get(pk=job_id).results.order_by("frame")]
    # every frame's message is sent either way (the message of one written already finds
    # nothing pending)
    assert sent == [(DOWNLOADS_TASK, (job_id, r)) for r in results] + [(DOWNLOADS_TASK, (job_id,))]
    assert [written(r) for r in results] == (
        [True, True, False] if bound is not None else [False, False, False]
    )
    assert SegmentationJob.objects.get(pk=job_id).status == "running"
    after = downloads(job_id, *results, capture=django_capture_on_commit_callbacks)
    assert after == [(CHECK_TASK, (job_id,))]
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert all(written(r) for r in results)
    assert len(job.results.get(frame=0).stats["series"]) == 3


def test_a_frame_claimed_by_another_process_is_not_written_twice(
    client_for, world, segmentable, django_capture_on_commit_callbacks
):
    client = client_for(world.annotator)
    job_id, _ = first_task(client, segmentable, django_capture_on_commit_callbacks)
    result = SegmentationJob.objects.get(pk=job_id).results.get()
    assert downloads_module.claim(result) is True  # another process writes it...
    assert downloads_module.claim(result) is False
    downloads(job_id, str(result.pk), capture=django_capture_on_commit_callbacks)
    assert not written(result.pk)  # ...so this one leaves it, and the job waits for it
    assert SegmentationJob.objects.get(pk=job_id).status == "running"
    # that process died: its claim ages out and the frame's message, delivered again, writes it
    stale = timezone.now() - timedelta(seconds=downloads_module.CLAIM_STALE_SECONDS + 1)
    SegmentationResult.objects.filter(pk=result.pk).update(downloads_claimed=stale)
    downloads(job_id, str(result.pk), capture=django_capture_on_commit_callbacks)
    assert written(result.pk)
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.results.get().downloads_claimed is None
