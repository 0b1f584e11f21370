"""A job decodes its originals as ingest does (``catalog.services.original_pixels``): within
the decoded-bytes budget, and an error never shows the worker's temporary path."""

import pytest

from analysis import artefacts
from analysis.models import JobStatus, SegmentationJob
from tests.support.segmentation import segmentation_run

pytestmark = pytest.mark.django_db


def test_a_job_decodes_within_the_budget(client_for, world, segmentable, settings):
    image = segmentable["image"]
    response = client_for(world.annotator).post(
        "/api/segmentation-jobs/",
        {"support_set": str(segmentable["version"].pk), "images": [str(image.pk)]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    artefacts.MEMORY_CACHE.clear()  # the job must read the original itself
    settings.CHIPLAB_MAX_DECODED_BYTES = 1024  # lowered after ingest: the job alone sees it
    segmentation_run(job_id=response.json()["id"])
    job = SegmentationJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.FAILED
    assert "more than this server's limit" in job.error
    assert "/tmp" not in job.error and "chiplab-" not in job.error
