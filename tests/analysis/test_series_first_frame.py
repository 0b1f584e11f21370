"""A series not in the embeddings cache: its first map waits for frame 0's embedding only;
the other frames are embedded after it is saved, and the series is then cached whole (the
same embeddings as all frames at once: the encoders are deterministic per frame)."""

import numpy as np
import pytest

from analysis import artefacts
from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from analysis.runner import images as images_module
from analysis.runner import segmentation_job_run, warm
from analysis.runner.clock import Clock
from catalog.services import original_pixels
from common import storage
from tests.analysis.helpers import upload_ready_image
from tests.analysis.test_analysis_api import JOBS
from tests.analysis.test_downloads_task import first_task
from tests.common.held_jobs import held_jobs
from workers.fewshot.pipeline import normalised_frames

pytestmark = pytest.mark.django_db


def _cache_key(job, image) -> str:
    """Where the embeddings cache holds ``image`` on ``job``'s grid with its model."""
    return artefacts.embeddings_key(
        lab_id=job.lab_id,
        model_version_id=job.model_version_id,
        sha256=image.sha256,
        chip_size=job.params["chip_size"],
        offset=tuple(job.params["offset"]),
    )


def test_a_series_first_map_waits_for_its_first_frame_only(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    series, _ = upload_ready_image(world, dataset=segmentable["image"].dataset, frames=3, seed=0)
    artefacts.MEMORY_CACHE.clear()
    calls = []  # (frames embedded, the series' maps saved by then)
    real = images_module.embed_frames

    def recorded(frames, **kwargs):
        calls.append((len(frames), SegmentationResult.objects.filter(image=series).count()))
        return real(frames, **kwargs)

    monkeypatch.setattr(images_module, "embed_frames", recorded)
    client = client_for(world.annotator)
    job_id, _ = first_task(
        client, segmentable, django_capture_on_commit_callbacks, images=[str(series.pk)]
    )
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.RUNNING, job.error  # its downloads are to come
    assert job.results.count() == 3
    # the support set's image, the series' frame 0, then its others one by one after its map
    assert calls == [(1, 0), (1, 0), (1, 1), (1, 2)]

    key = _cache_key(job, series)
    artefacts.MEMORY_CACHE.clear()
    cached, source = artefacts.embeddings_get(key)
    assert source == "storage" and cached.shape[0] == 3
    whole = real(
        normalised_frames(original_pixels(series)),
        encoder=images_module.encoder_for(job, Clock()),
        chip_size=job.params["chip_size"],
        offset=tuple(job.params["offset"]),
        seed=images_module.options_from_params(job.params, []).seed,
    ).embeddings
    assert np.array_equal(cached, whole)

    # a re-run reads the whole series from the cache: nothing embedded
    calls.clear()
    again, _ = first_task(
        client, segmentable, django_capture_on_commit_callbacks, images=[str(series.pk)]
    )
    assert SegmentationJob.objects.get(pk=again).results.count() == 3
    assert calls == []


def test_a_series_prefetch_gives_way_to_a_job_queued_meanwhile(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    """A user who clicks Segment soon after making a series' grid: the grid's prefetch (the
    same worker queue) stops after the frame it is on, and the job goes on from the frames it
    embedded rather than waiting for all of them."""
    series, _ = upload_ready_image(world, dataset=segmentable["image"].dataset, frames=3, seed=0)
    artefacts.MEMORY_CACHE.clear()
    client = client_for(world.annotator)
    body = {"support_set": str(segmentable["version"].pk), "images": [str(series.pk)]}
    with held_jobs():
        job_id = client.post(JOBS, body, format="json").json()["id"]
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.QUEUED
    calls = []
    for module in (images_module, warm):
        real = module.embed_frames
        monkeypatch.setattr(
            module,
            "embed_frames",
            lambda frames, real=real, where=module.__name__, **kw: (
                calls.append((where.rsplit(".", 1)[-1], len(frames))) or real(frames, **kw)
            ),
        )
    assert warm.embeddings_prefetch(grid_id=job.job_images.get().grid_id) is True
    assert calls == [("warm", 1)]  # frame 0, then the queued job's turn
    key = _cache_key(job, series)
    assert not storage.exists(key)
    with held_jobs(), django_capture_on_commit_callbacks(execute=True):
        segmentation_job_run(job_id=job_id)
    assert SegmentationJob.objects.get(pk=job_id).results.count() == 3
    # the support set's image, then the series' frames 1 and 2: frame 0 came from the prefetch
    assert calls[1:] == [("images", 1), ("images", 1), ("images", 1)]
    assert storage.exists(key)
