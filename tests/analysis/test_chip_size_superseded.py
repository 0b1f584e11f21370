"""The chip-size check of a map the same user has already replaced (a correction session
re-runs every second or two) is not run: the result says so and names the newer job, whose
own check runs. Another user's job, a failed one, or one with another model replace nothing."""

import json

import pytest

from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from analysis.runner import chip_size_check_run, sensitivity
from registry.models import ModelVersion
from tests.analysis.helpers import download
from tests.support.segmentation import segmentation_run

pytestmark = pytest.mark.django_db
JOBS = "/api/segmentation-jobs/"


def _job(client, segmentable) -> str:
    body = {"support_set": str(segmentable["version"].pk), "images": [str(segmentable["image"].pk)]}
    answer = client.post(JOBS, body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def _finished(client, segmentable) -> SegmentationJob:
    job_id = _job(client, segmentable)
    segmentation_run(job_id=job_id)
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def _sensitivity(client, job) -> dict:
    result = SegmentationResult.objects.get(job=job, frame=0)
    return (
        client.get(f"/api/segmentation-results/{result.pk}/")
        .json()["stats"]
        .get("chip_size_sensitivity")
    )


def test_a_replaced_map_is_not_checked_and_says_which_job_replaced_it(
    client_for, world, segmentable
):
    client = client_for(world.annotator)
    first = _finished(client, segmentable)
    second = _finished(client, segmentable)
    assert chip_size_check_run(job_id=first.pk) is True
    sens = _sensitivity(client, first)
    assert sens["superseded_by"] == str(second.pk)
    assert "newer segmentation" in sens["skipped"]
    assert "compared" not in sens  # nothing measured
    result = SegmentationResult.objects.get(job=first)
    document = json.loads(
        download(client, f"/api/segmentation-results/{result.pk}/export/result.json")
    )
    assert document["stats"]["chip_size_sensitivity"] == sens
    assert chip_size_check_run(job_id=first.pk) is False  # recorded: not tried again
    # the newest map is checked
    assert chip_size_check_run(job_id=second.pk) is True
    assert _sensitivity(client, second)["compared"] == [16, 64]


@pytest.mark.parametrize("newer", ["another user", "failed", "cancelled", "another model"])
def test_jobs_that_replace_nothing(client_for, world, segmentable, newer):
    client = client_for(world.annotator)
    first = _finished(client, segmentable)
    later = SegmentationJob.objects.filter(pk=_job(client, segmentable))
    if newer == "another user":
        later.update(created_by=world.curator)
    elif newer == "another model":
        model = segmentable["model_version"]
        other = ModelVersion.objects.create(
            name=model.name,
            version=model.version + 1,
            encoder_kind=model.encoder_kind,
            source=model.source,
            visibility=model.visibility,
            mlflow_run_id="run-test-2",
        )
        later.update(model_version=other)
    else:
        later.update(status=newer)
    assert chip_size_check_run(job_id=first.pk) is True
    assert _sensitivity(client, first)["compared"] == [16, 64]


@pytest.mark.django_db(transaction=True)  # the check measures on a thread of its own
def test_a_map_replaced_while_its_check_waits_for_a_pause(
    client_for, world, segmentable, monkeypatch
):
    """Each chip size waits for the interactive worker's pause: a re-run started meanwhile
    stops the check before it embeds."""
    client = client_for(world.annotator)
    first = _finished(client, segmentable)
    embedded, newer = [], []
    real = sensitivity._Images.embedded

    def recorded(self, image, size):
        embedded.append(size)
        return real(self, image, size)

    def pause():
        if not newer:  # the user re-runs while the check waits
            newer.append(_job(client, segmentable))
        return 0.0

    monkeypatch.setattr(sensitivity._Images, "embedded", recorded)
    monkeypatch.setattr(sensitivity, "yield_to_interactive", pause)
    assert chip_size_check_run(job_id=first.pk) is True
    assert embedded == []
    assert _sensitivity(client, first)["superseded_by"] == newer[0]
