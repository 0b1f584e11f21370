"""Bounded jobs: support chips per class and per version, versions per schema, frames x
chips, bootstrap x chips and a job's estimated memory are capped by named settings; a job
over a bound is refused at creation with a clear 4xx and nothing is stored."""

import pytest
from django.conf import settings as django_settings

from analysis import services
from analysis.models import JobImage, SegmentationJob
from analysis.runner import _Recent
from common.errors import Conflict, Invalid, TooLarge
from labeling.models import SupportSetVersion
from tests.analysis.helpers import vote_truth
from tests.factories import ReadyImageFactory

JOBS = "/api/segmentation-jobs/"
MIB = 1024**2


def body(segmentable, **extra):
    return {
        "support_set": str(segmentable["version"].pk),
        "images": [str(segmentable["image"].pk)],
        **extra,
    }


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    assert not SegmentationJob.objects.exists() and not JobImage.objects.exists()
    return error


def test_a_small_job_is_accepted_and_its_estimate_adds_up(client_for, world, segmentable):
    response = client_for(world.annotator).post(JOBS, body(segmentable), format="json")
    assert response.status_code == 201, response.json()
    job = SegmentationJob.objects.get()
    image, grid = segmentable["image"], job.job_images.get().grid
    version = segmentable["version"]
    estimate = services.job_memory_estimate(
        version=version, targets=[(image, grid)], model=job.model_version, bootstrap=200
    )
    dim = job.model_version.dim or services.EMBED_DIM_FALLBACK
    pixels, chips, k = 256 * 256, 8 * 8, len(version.classes)
    # the target is the support image: its frames and embeddings are counted once
    assert estimate["support"] == pixels * 4 + chips * dim * 4
    assert estimate["largest_image"] == pixels * 2 + pixels * (k * 4 + 8)  # uint16 + maps
    assert estimate["bootstrap"] == 200 * (len(version.chips) * 8 + k * dim * 4) + 48 * MIB
    assert estimate["total"] == sum(v for n, v in estimate.items() if n != "total")
    assert estimate["total"] < django_settings.CHIPLAB_JOB_MEMORY_BUDGET_MB * MIB


def test_a_job_asking_a_worker_for_gigabytes_is_refused_by_default(client_for, world, segmentable):
    """50 frames of 8192^2 float32 pixels: ~13 GiB decoded, under every chip bound."""
    stack = ReadyImageFactory(
        dataset=segmentable["image"].dataset, width=8192, height=8192, frames=50, dtype="float32"
    )
    response = client_for(world.annotator).post(
        JOBS, body(segmentable, images=[str(stack.pk)]), format="json"
    )
    error = refused(response, 413, "job_too_large")
    assert "MiB of worker memory" in error["message"] and "4,096 MiB" in error["message"]


def test_the_memory_budget_is_a_setting(client_for, world, segmentable, settings):
    settings.CHIPLAB_JOB_MEMORY_BUDGET_MB = 1
    response = client_for(world.annotator).post(JOBS, body(segmentable), format="json")
    assert "at most 1 MiB" in refused(response, 413, "job_too_large")["message"]


def test_bootstrap_times_chips_is_capped(client_for, world, segmentable, settings):
    settings.CHIPLAB_MAX_JOB_BOOTSTRAP_CHIPS = 64 * 100  # 64 chips
    client = client_for(world.annotator)
    response = client.post(JOBS, body(segmentable, params={"bootstrap": 101}), format="json")
    error = refused(response, 413, "job_too_large")
    assert "use bootstrap 100 or less" in error["message"]
    assert error["fields"] == {"params": ["bootstrap"]}
    ok = client.post(JOBS, body(segmentable, params={"bootstrap": 100}), format="json")
    assert ok.status_code == 201, ok.json()


def test_frames_times_chips_is_capped(client_for, world, segmentable, settings):
    series = ReadyImageFactory(dataset=segmentable["image"].dataset, frames=3)  # 3 x 64 chips
    settings.CHIPLAB_MAX_JOB_CHIPS = 2 * 64
    response = client_for(world.annotator).post(
        JOBS, body(segmentable, images=[str(series.pk)]), format="json"
    )
    assert "192 chips" in refused(response, 413, "job_too_large")["message"]


@pytest.mark.parametrize("bootstrap", ["lots", 2.5, True, -1, 10**9, None])
def test_the_service_checks_bootstrap_itself(world, segmentable, bootstrap):
    with pytest.raises(Invalid, match="bootstrap is a whole number"):
        services.segmentation_job_create(
            user=world.annotator,
            support_set=segmentable["version"].pk,
            images=[segmentable["image"].pk],
            params={"bootstrap": bootstrap},
        )
    assert not SegmentationJob.objects.exists()


def test_a_rerun_is_bounded_like_a_new_job(world, segmentable, settings):
    job = services.segmentation_job_create(
        user=world.annotator,
        support_set=segmentable["version"].pk,
        images=[segmentable["image"].pk],
    )
    settings.CHIPLAB_JOB_MEMORY_BUDGET_MB = 1
    with pytest.raises(TooLarge, match="worker memory"):
        services.segmentation_job_rerun(user=world.annotator, job=job)
    assert SegmentationJob.objects.count() == 1


# --- support chips and versions ---------------------------------------------------------
def test_freezing_more_chips_per_class_than_the_cap_is_refused(
    client_for, world, segmentable, settings
):
    settings.CHIPLAB_MAX_SUPPORT_CHIPS_PER_CLASS = 2  # the fixture votes 3 chips per class
    schema = segmentable["schema"]
    before = SupportSetVersion.objects.count()
    response = client_for(world.curator).post(
        f"/api/schemas/{schema.pk}/versions/", {"rule": "majority", "min_votes": 1}
    )
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "too_many_support_chips"
    assert "at most 2 chips per class" in error["message"]
    assert SupportSetVersion.objects.count() == before


def test_freezing_more_chips_than_the_version_cap_is_refused(world, segmentable, settings):
    from labeling.services import support_set_freeze

    settings.CHIPLAB_MAX_SUPPORT_CHIPS = 5
    with pytest.raises(Invalid, match="at most 5 chips"):
        support_set_freeze(
            user=world.curator, schema=segmentable["schema"], rule="majority", min_votes=1
        )


def test_a_version_frozen_before_a_lower_cap_cannot_run(client_for, world, segmentable, settings):
    settings.CHIPLAB_MAX_SUPPORT_CHIPS_PER_CLASS = 2
    response = client_for(world.annotator).post(JOBS, body(segmentable), format="json")
    error = refused(response, 400, "too_many_support_chips")
    assert "3 in its largest class" in error["message"]


def test_versions_per_schema_are_capped(world, segmentable, settings):
    from labeling.services import support_set_freeze

    settings.CHIPLAB_MAX_VERSIONS_PER_SCHEMA = 1
    schema = segmentable["schema"]
    # the same content is reused, not refused
    same = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner", reuse=True)
    assert same.pk == segmentable["version"].pk
    vote_truth(world.annotator, segmentable["grid"], schema, segmentable["classes"], {0: [(7, 7)]})
    with pytest.raises(Conflict, match="limit") as err:
        support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    assert err.value.code == "too_many_versions"
    assert schema.versions.count() == 1


# --- the per-job image cache -------------------------------------------------------------
def test_the_per_job_image_cache_keeps_the_most_recently_used(settings):
    settings.CHIPLAB_JOB_IMAGE_CACHE = 2
    cache = _Recent()
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # a is now the most recent
    cache["c"] = 3
    assert list(cache) == ["a", "c"]
    settings.CHIPLAB_JOB_IMAGE_CACHE = 1
    cache["d"] = 4
    assert list(cache) == ["d"]
