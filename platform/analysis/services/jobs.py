"""Writes of segmentation jobs: create (freezing a working set if asked), re-run, cancel."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.selectors import require_role
from catalog.models import ImageStatus
from common.errors import Conflict, Invalid, NotFound
from common.jobs import enqueue_on_commit
from common.provenance import code_version
from common.throttling import require_daily_chips, require_job_room
from registry.selectors import model_version_resolve
from registry.services import builtins_ensure

from ..models import FINISHED, JobImage, JobStatus, SegmentationJob
from .params import clean_params, job_bounds_check
from .permissions import cancel_role, require_run_role
from .support import check_support_chips, freeze_working_set, support_classes, support_set_for_run
from .targets import grid_for, target_images


def segmentation_job_create(
    *,
    user,
    images,
    support_set=None,
    schema=None,
    rule=None,
    owner=None,
    min_votes: int = 2,
    grids=None,
    model_version=None,
    params: dict | None = None,
) -> SegmentationJob:
    """Validate everything, freeze a working set if asked, and enqueue the job on commit.

    Without ``model_version`` the lab's champion or the public default runs the job; on an
    install that never registered the built-in encoders they are registered first, in MLflow,
    before the job's transaction opens (resolving a model is a read: it never registers).
    """
    if model_version is None:
        builtins_ensure()
    return _segmentation_job_create(
        user=user,
        images=images,
        support_set=support_set,
        schema=schema,
        rule=rule,
        owner=owner,
        min_votes=min_votes,
        grids=grids,
        model_version=model_version,
        params=params,
    )


@transaction.atomic
def _segmentation_job_create(
    *, user, images, support_set, schema, rule, owner, min_votes, grids, model_version, params
) -> SegmentationJob:
    if (support_set is None) == (schema is None):
        raise Invalid(
            "Give either a frozen support_set or a schema (with rule/owner) to freeze.",
            fields={"support_set": ["support_set or schema required"]},
        )
    if grids is not None and schema is None:
        raise Invalid(
            "grids choose what a schema's working set freezes: give them with schema, "
            "not with a frozen support_set.",
            fields={"grids": ["only with schema"]},
        )
    if support_set is not None:
        version = support_set_for_run(user=user, support_set_id=support_set)
        lab_id = version.schema.dataset.lab_id
        require_run_role(user=user, lab_id=lab_id, version=version)
    else:
        version = freeze_working_set(
            user=user,
            schema_id=schema,
            rule=rule,
            owner=owner,
            min_votes=min_votes,
            grid_ids=grids,
        )
        lab_id = version.schema.dataset.lab_id
    support_classes(version)
    check_support_chips(version, lab_id)
    targets = target_images(user=user, lab_id=lab_id, images=images)
    try:
        model = model_version_resolve(user=user, lab=lab_id, version_id=model_version)
    except NotFound as err:
        raise Invalid(
            str(err), code="unknown_model_version", fields={"model_version": ["not found"]}
        ) from err
    cleaned = clean_params(params, version)
    grids = [grid_for(user=user, image=image, version=version) for image in targets]
    pairs = list(zip(targets, grids, strict=True))
    job_bounds_check(version=version, targets=pairs, model=model, params=cleaned)
    return _job_insert(
        user=user,
        lab_id=lab_id,
        version=version,
        model=model,
        params=cleaned,
        targets=pairs,
    )


def _job_insert(*, user, lab_id, version, model, params, targets, rerun_of=None):
    # caps and the daily quota, counted under a lock on the lab (race-free)
    require_job_room(
        SegmentationJob.objects,
        lab_id=lab_id,
        user=user,
        lab_limit=settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB,
        user_limit=settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_USER,
        what="segmentation jobs",
    )
    chips = sum(g.rows * g.cols * max(image.frames, 1) for image, g in targets)
    require_daily_chips(
        SegmentationJob.objects,
        lab_id=lab_id,
        chips=chips,
        quota=settings.CHIPLAB_DAILY_CHIPS_PER_LAB,
        now=timezone.now(),
    )
    job = SegmentationJob.objects.create(
        lab_id=lab_id,
        created_by=user,
        support_set=version,
        model_version=model,
        params=params,
        rerun_of=rerun_of,
        code_version=code_version(),
        progress_total=chips,
    )
    JobImage.objects.bulk_create(
        [
            JobImage(job=job, image=image, grid=grid, order=i)
            for i, (image, grid) in enumerate(targets)
        ]
    )
    enqueue_on_commit("workers.tasks.segment.segment_job", job.pk)
    return job


@transaction.atomic
def segmentation_job_rerun(*, user, job: SegmentationJob) -> SegmentationJob:
    """A new job with the same support set, model version, images and parameters."""
    version = job.support_set
    require_run_role(user=user, lab_id=job.lab_id, version=version)
    check_support_chips(version, job.lab_id)
    targets = [(ji.image, ji.grid) for ji in job.job_images.select_related("image", "grid")]
    for image, _grid in targets:
        if image.status != ImageStatus.READY:
            raise Conflict(f"Image {image.pk} is {image.status}, not ready.", code="not_ready")
    job_bounds_check(version=version, targets=targets, model=job.model_version, params=job.params)
    return _job_insert(
        user=user,
        lab_id=job.lab_id,
        version=version,
        model=job.model_version,
        params=dict(job.params),
        targets=targets,
        rerun_of=job,
    )


@transaction.atomic
def segmentation_job_cancel(*, user, job: SegmentationJob) -> SegmentationJob:
    """Stop a queued or running job (the worker checks between frames)."""
    require_role(user=user, lab_id=job.lab_id, role=cancel_role(job, user))
    job = SegmentationJob.objects.select_for_update().get(pk=job.pk)
    if job.status in FINISHED:
        raise Conflict(
            f"The job has already {_finished_word(job.status)}; only queued or "
            "running jobs can be cancelled.",
            code="job_finished",
        )
    job.status = JobStatus.CANCELLED
    job.finished = timezone.now()
    job.save(update_fields=["status", "finished"])
    return job


def _finished_word(status: str) -> str:
    return {
        JobStatus.SUCCEEDED: "succeeded",
        JobStatus.FAILED: "failed",
        JobStatus.CANCELLED: "been cancelled",
    }[status]
