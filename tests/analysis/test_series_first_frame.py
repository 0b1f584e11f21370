"""A series not in the embeddings cache: its first map waits for frame 0's embedding only;
the other frames are embedded after it is saved, and the series is then cached whole (the
same embeddings as all frames at once: the encoders are deterministic per frame)."""

import numpy as np
import pytest

from analysis import artefacts
from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from analysis.runner import images as images_module
from analysis.runner.clock import Clock
from catalog.services import original_pixels
from tests.analysis.helpers import upload_ready_image
from tests.analysis.test_downloads_task import first_task
from workers.fewshot.pipeline import normalised_frames

pytestmark = pytest.mark.django_db


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
    # the support set's image, the series' frame 0, then its other two after frame 0's map
    assert calls == [(1, 0), (1, 0), (2, 1)]

    key = artefacts.embeddings_key(
        lab_id=job.lab_id,
        model_version_id=job.model_version_id,
        sha256=series.sha256,
        chip_size=job.params["chip_size"],
        offset=tuple(job.params["offset"]),
    )
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
