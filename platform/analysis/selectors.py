"""Reads of segmentation jobs and results.

Jobs and results hang off images: a result is visible exactly when its image is, and a job
when the user is a member of its lab and can see every one of its images. Everything else
is a 404 (existence does not leak).
"""

from __future__ import annotations

import time

import numpy as np
from django.db.models import QuerySet

from accounts.models import Membership
from accounts.selectors import lab_get
from catalog.models import Image
from catalog.selectors import image_get, images_visible_to
from common.errors import NotFound
from common.jobs import FINISHED

from .artefacts import npz_load
from .models import JobStatus, SegmentationJob, SegmentationResult


def jobs_visible_to(*, user) -> QuerySet[SegmentationJob]:
    if not user.is_authenticated:
        return SegmentationJob.objects.none()
    hidden = Image.objects.exclude(pk__in=images_visible_to(user=user).values("pk"))
    return (
        SegmentationJob.objects.filter(
            lab_id__in=Membership.objects.filter(user=user).values("lab_id")
        )
        .exclude(job_images__image__in=hidden.values("pk"))
        .select_related("support_set", "model_version", "created_by")
    )


def job_get(*, user, job_id) -> SegmentationJob:
    job = jobs_visible_to(user=user).filter(pk=job_id).first()
    if job is None:
        raise NotFound("Segmentation job not found.")
    return job


#: the longest a job's detail waits for its first map (``?wait=``), seconds
MAX_MAP_WAIT = 5.0
#: how often a waiting request looks again (one small query), seconds
MAP_WAIT_POLL = 0.02


def job_first_map_wait(*, user, job: SegmentationJob, seconds: float) -> SegmentationJob:
    """The job as it is once it lists a result or has ended, or after ``seconds`` (at most
    :data:`MAX_MAP_WAIT`): a page waiting for a map learns of it within ~20 ms, where polling
    every 100 ms learned of it ~75 ms late on average, with a full answer per poll."""
    deadline = time.monotonic() + min(float(seconds), MAX_MAP_WAIT)
    ended = SegmentationJob.objects.filter(pk=job.pk, status__in=FINISHED)
    while time.monotonic() < deadline:
        if job.results.exists() or ended.exists():
            break
        time.sleep(MAP_WAIT_POLL)
    return job_get(user=user, job_id=job.pk)


def jobs_given_way_to(*, job: SegmentationJob) -> QuerySet[SegmentationJob]:
    """The jobs a job gives way to between frames (``runner.give_way``): its user's jobs on one
    of its images created after it and not started yet. Also read when its message is routed
    (``workers.celery_app``), in the web process: nothing here imports the runner or torch."""
    return SegmentationJob.objects.filter(
        created_by_id=job.created_by_id,
        created__gt=job.created,
        status=JobStatus.QUEUED,
        started__isnull=True,
        job_images__image_id__in=job.job_images.values("image_id"),
    )


def jobs_list(
    *, user, image_id=None, lab_id=None, grid_id=None, statuses: list[str] | None = None
) -> QuerySet[SegmentationJob]:
    jobs = jobs_visible_to(user=user)
    if image_id is not None:
        image = image_get(user=user, image_id=image_id)
        jobs = jobs.filter(job_images__image=image)
    if lab_id is not None:
        jobs = jobs.filter(lab_id=lab_get(user=user, lab_id=lab_id).pk)
    if grid_id is not None:
        jobs = jobs.filter(job_images__grid_id=grid_id)
    if statuses:
        jobs = jobs.filter(status__in=statuses)
    # the serializer's images and grids come from one prefetch query per page
    return jobs.order_by("-created").distinct().prefetch_related("job_images")


def results_visible_to(*, user) -> QuerySet[SegmentationResult]:
    if not user.is_authenticated:
        return SegmentationResult.objects.none()
    return SegmentationResult.objects.filter(
        image__in=images_visible_to(user=user).values("pk"),
        job__lab_id__in=Membership.objects.filter(user=user).values("lab_id"),
    ).select_related("job__model_version", "image", "grid")


def result_get(*, user, result_id) -> SegmentationResult:
    result = results_visible_to(user=user).filter(pk=result_id).first()
    if result is None:
        raise NotFound("Segmentation result not found.")
    return result


def results_of_image(*, user, image_id) -> QuerySet[SegmentationResult]:
    """Every result on an image, newest job first (its history)."""
    image = image_get(user=user, image_id=image_id)
    return results_visible_to(user=user).filter(image=image).order_by("-created", "frame")


def results_of_job(*, job: SegmentationJob) -> QuerySet[SegmentationResult]:
    return job.results.select_related("image").order_by("image__created", "frame")


def result_arrays(*, result: SegmentationResult) -> dict[str, np.ndarray]:
    """labels (rows, cols), probs (rows, cols, K) and confidence (rows, cols) of a result."""
    return npz_load(result.arrays_key)


def latest_confidence(*, grid) -> np.ndarray | None:
    """Confidence grid (rows, cols) of the newest succeeded result on ``grid`` (frame 0).

    No access check: callers (the labeling app's crowd tasks) already hold a visible grid.
    """
    result = (
        SegmentationResult.objects.filter(grid=grid, frame=0, job__status=JobStatus.SUCCEEDED)
        .order_by("-created")
        .first()
    )
    if result is None:
        return None
    return result_arrays(result=result)["confidence"]
