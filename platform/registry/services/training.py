"""Training jobs: creation (validated, enqueued on commit), cancellation and failure.

``training_job_create`` enqueues ``workers.tasks.train.train_job`` on the training queue, which
calls ``training_runner.training_job_run``.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Lab, Role
from accounts.selectors import require_role
from catalog.licences import OPEN_LICENCES
from catalog.models import Visibility
from common.errors import Conflict, Invalid, NotFound
from common.jobs import enqueue_on_commit
from common.runner import job_end
from common.throttling import require_job_room
from webhooks.services import event_emit

from .. import tracking
from ..models import FINISHED, JobStatus, ModelVersion, TrainingJob
from ..selectors import model_version_resolve
from .registration import lab_model_name

log = logging.getLogger(__name__)

TRAINABLE_KINDS = ("default", "resnet")
DEFAULT_PARAMS: dict[str, Any] = {
    "epochs": 10,
    "episodes_per_epoch": 16,
    "lr": 3e-4,
    "weight_decay": 1e-4,
    "k_shot": 3,
    "n_query": 12,
    "holdout_fraction": 0.25,
    "holdout_episodes": 16,
    "seed": 0,
}


def support_set_model():
    from labeling.models import SupportSetVersion  # built by the labeling app

    return SupportSetVersion


def _reusable(dataset) -> bool:
    return dataset.visibility == Visibility.PUBLIC and dataset.licence in OPEN_LICENCES


def _chip_counts(sets) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for s in sets:
        for chip in s.chips:
            key = (str(s.pk), str(chip["class"]))
            counts[key] = counts.get(key, 0) + 1
    return counts


def _checked_support_sets(*, ids: list[str], lab: Lab, include_public: bool) -> dict:
    """The support-set versions by id; each one the lab's own, or public and reusable."""
    found = {
        str(s.pk): s
        for s in support_set_model().objects.filter(pk__in=ids).select_related("schema__dataset")
    }
    for sid in ids:
        s = found.get(sid)
        if s is None:
            raise NotFound("Support-set version not found.")
        dataset = s.schema.dataset
        if dataset.lab_id == lab.pk:
            continue
        if dataset.visibility != Visibility.PUBLIC:
            raise NotFound("Support-set version not found.")
        if not include_public:
            raise Invalid(
                "Support sets of other labs need include_public=true.",
                fields={"include_public": ["required for other labs' sets"]},
            )
        if not _reusable(dataset):
            raise Invalid(
                f"The licence of dataset '{dataset.title}' ({dataset.licence}) does "
                "not allow reuse for training.",
                fields={"support_set_versions": [sid]},
            )
    return found


def _require_enough_chips(found: dict) -> None:
    """At least one set with two classes of four or more chips (some are held out)."""
    per_set: dict[str, int] = {}
    for (sid, _cls), n in _chip_counts(found.values()).items():
        if n >= 4:
            per_set[sid] = per_set.get(sid, 0) + 1
    if not any(n >= 2 for n in per_set.values()):
        raise Invalid(
            "Training needs a support set with at least two classes of four or more "
            "chips (some are held out to measure the result).",
            fields={"support_set_versions": ["too few chips"]},
        )


def _free_model_name(*, lab: Lab, name: str) -> str:
    """The lab-prefixed model name, unless another lab owns it."""
    model_name = lab_model_name(lab, name)
    owner = ModelVersion.objects.filter(name=model_name).values_list("lab_id", flat=True).first()
    if owner is not None and owner != lab.pk:
        raise Conflict("That model name belongs to another lab.")
    return model_name


def training_job_create(
    *,
    user,
    lab: Lab,
    support_set_version_ids: list,
    base_version_id=None,
    include_public: bool = False,
    name: str = "",
    params: dict | None = None,
) -> TrainingJob:
    """Validate and enqueue a fine-tuning job (curator+ of ``lab``)."""
    require_role(user=user, lab_id=lab.pk, role=Role.CURATOR)
    base = model_version_resolve(user=user, lab=lab, version_id=base_version_id)
    if base.encoder_kind not in TRAINABLE_KINDS:
        raise Invalid(
            f"A {base.encoder_kind!r} encoder has no weights to fine-tune; choose a "
            f"{' or '.join(TRAINABLE_KINDS)} model version.",
            fields={"base_version": ["not trainable"]},
        )
    ids = list(dict.fromkeys(str(i) for i in support_set_version_ids))
    if not ids:
        raise Invalid(
            "Choose at least one support-set version.",
            fields={"support_set_versions": ["required"]},
        )
    found = _checked_support_sets(ids=ids, lab=lab, include_public=include_public)
    _require_enough_chips(found)
    merged = {**DEFAULT_PARAMS, **(params or {})}
    if not 1 <= int(merged["epochs"]) <= settings.CHIPLAB_TRAIN_MAX_EPOCHS:
        raise Invalid(
            f"epochs must be between 1 and {settings.CHIPLAB_TRAIN_MAX_EPOCHS}.",
            fields={"params": ["epochs"]},
        )
    model_name = _free_model_name(lab=lab, name=name or f"{base.encoder_kind}-finetuned")
    with transaction.atomic():
        # the lab's and the user's caps, counted under a lock on the lab (race-free)
        require_job_room(
            TrainingJob.objects,
            lab_id=lab.pk,
            user=user,
            lab_limit=settings.CHIPLAB_MAX_ACTIVE_TRAINING_PER_LAB,
            user_limit=settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_USER,
            what="training jobs",
        )
        job = TrainingJob.objects.create(
            lab=lab,
            created_by=user,
            base_version=base,
            model_name=model_name,
            support_set_versions=ids,
            include_public=include_public,
            params=merged,
        )
        enqueue_on_commit("workers.tasks.train.train_job", job.pk)
    return job


def training_job_cancel(*, user, job: TrainingJob) -> TrainingJob:
    """Cancel a queued or running job (a running one stops after its current epoch)."""
    require_role(user=user, lab_id=job.lab_id, role=Role.CURATOR)
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.status in FINISHED:
            raise Conflict(f"The job has already {job.status}.")
        was_queued = job.status == JobStatus.QUEUED
        job.status = JobStatus.CANCELLED
        if was_queued:
            job.finished = timezone.now()
        job.save(update_fields=["status", "finished"])
    return job


def training_job_fail(*, job_id, reason: str) -> None:
    """Record the job failed with ``reason`` (unless finished meanwhile); its MLflow run is
    closed as failed."""
    job_end(
        TrainingJob,
        job_id,
        status=JobStatus.FAILED,
        error=reason,
        max_error=4000,
        effects=[partial(event_emit, "training.finished", job_id)],
    )
    run_id = TrainingJob.objects.filter(pk=job_id).values_list("mlflow_run_id", flat=True).first()
    if run_id:
        try:
            tracking.client().set_terminated(run_id, status="FAILED")
        except Exception:
            log.warning("could not close MLflow run %s", run_id)
