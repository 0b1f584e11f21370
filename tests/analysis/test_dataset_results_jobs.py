"""The jobs overview: my jobs across images and datasets, paged, with durations; the lab's;
filters, isolation and query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from analysis import services
from analysis.models import JobStatus, SegmentationJob
from tests.analysis.helpers import upload_ready_image
from tests.common.test_list_queries import _assert_flat

pytestmark = pytest.mark.django_db

OVERVIEW = "/api/segmentation-jobs/overview/"


@pytest.fixture
def jobs(world, segmentable, hold_jobs):
    """The annotator's jobs on two datasets and a curator's job (none of them run)."""
    hold_jobs()
    image = segmentable["image"]
    other_dataset = world.dataset(title="Second set")
    far, _ = upload_ready_image(world, dataset=other_dataset, seed=4)
    version = str(segmentable["version"].pk)
    mine = [
        services.segmentation_job_create(
            user=world.annotator, support_set=version, images=[str(image.pk)]
        ),
        services.segmentation_job_create(
            user=world.annotator, support_set=version, images=[str(image.pk), str(far.pk)]
        ),
    ]
    theirs = services.segmentation_job_create(
        user=world.curator, support_set=version, images=[str(image.pk)]
    )
    return {**segmentable, "mine": mine, "theirs": theirs, "far": far, "other": other_dataset}


def test_my_jobs_across_images_and_datasets(client_for, world, jobs):
    client = client_for(world.annotator)
    started = timezone.now() - timedelta(seconds=90)
    first, second = jobs["mine"]
    SegmentationJob.objects.filter(pk=first.pk).update(
        status=JobStatus.SUCCEEDED, started=started, finished=started + timedelta(seconds=12.5)
    )
    body = client.get(OVERVIEW).json()
    assert body["count"] == 2
    rows = {r["id"]: r for r in body["results"]}
    assert [r["id"] for r in body["results"]] == [str(second.pk), str(first.pk)]  # newest first
    assert rows[str(first.pk)]["duration_s"] == pytest.approx(12.5)
    assert rows[str(first.pk)]["status"] == "succeeded"
    assert rows[str(second.pk)]["duration_s"] is None  # queued
    assert rows[str(second.pk)]["n_images"] == 2
    assert [i["id"] for i in rows[str(second.pk)]["images"]] == [
        str(jobs["image"].pk),
        str(jobs["far"].pk),
    ]
    assert {d["title"] for d in rows[str(second.pk)]["datasets"]} == {
        jobs["image"].dataset.title,
        "Second set",
    }
    assert rows[str(first.pk)]["created_by"] == world.annotator.username
    # the lab's jobs, a status, a dataset
    assert client.get(OVERVIEW, {"who": "lab"}).json()["count"] == 3
    assert [r["id"] for r in client.get(OVERVIEW, {"status": "succeeded"}).json()["results"]] == [
        str(first.pk)
    ]
    by_dataset = client.get(OVERVIEW, {"dataset": str(jobs["other"].pk)}).json()["results"]
    assert [r["id"] for r in by_dataset] == [str(second.pk)]
    assert client.get(OVERVIEW, {"limit": 1}).json()["next"]
    for query in ({"status": "done"}, {"who": "all"}, {"dataset": "x"}):
        assert client.get(OVERVIEW, query).status_code == 400, query


def test_another_lab_sees_none_of_them(client_for, world, jobs):
    outsider = client_for(world.outsider)
    assert outsider.get(OVERVIEW, {"who": "lab"}).json()["results"] == []
    response = outsider.get(OVERVIEW, {"dataset": str(jobs["image"].dataset.pk)})
    assert response.status_code == 404


def test_overview_queries_do_not_grow_with_jobs(client_for, world, jobs):
    image, far = str(jobs["image"].pk), str(jobs["far"].pk)

    def more(n):
        for _ in range(n):
            services.segmentation_job_create(
                user=world.annotator,
                support_set=str(jobs["version"].pk),
                images=[image, far],
            )

    _assert_flat(client_for(world.annotator), OVERVIEW, more, before=2, after=5)
