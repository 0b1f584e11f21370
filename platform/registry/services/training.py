"""Training jobs: episodic fine-tuning on frozen support-set versions, logged to MLflow.

``training_job_create`` validates and enqueues (on commit) ``workers.tasks.train.train_job``
on the gpu queue, which calls ``training_job_run``: load the support sets' images, split the
labelled chips into training and held-out parts, fine-tune a copy of the base encoder (progress
and per-epoch history written to the job row; cancellation checked every epoch), log params,
metrics, lineage and the encoder to MLflow, register a new version aliased ``challenger``,
evaluate the lab's champion on the same held-out episodes, and auto-promote when
``CHIPLAB_AUTO_PROMOTE_MARGIN`` is met.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Lab, Role
from accounts.selectors import require_role
from catalog.licences import OPEN_LICENCES
from catalog.models import Visibility
from common.errors import Conflict, Invalid, NotFound
from common.jobs import require_queue_room
from common.provenance import code_version

from .. import tracking
from ..models import FINISHED, JobStatus, ModelVersion, Source, TrainingJob
from ..selectors import CHALLENGER, lab_champion, model_version_resolve, public_champion
from .versions import (
    encoder_load,
    experiment_for,
    lab_model_name,
    model_version_promote,
    version_register,
)

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


def _support_set_model():
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
    require_queue_room(
        TrainingJob.objects.filter(lab=lab),
        limit=settings.CHIPLAB_MAX_ACTIVE_TRAINING_PER_LAB,
        what="training jobs",
    )
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
    found = {
        str(s.pk): s
        for s in _support_set_model().objects.filter(pk__in=ids).select_related("schema__dataset")
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
    merged = {**DEFAULT_PARAMS, **(params or {})}
    if not 1 <= int(merged["epochs"]) <= settings.CHIPLAB_TRAIN_MAX_EPOCHS:
        raise Invalid(
            f"epochs must be between 1 and {settings.CHIPLAB_TRAIN_MAX_EPOCHS}.",
            fields={"params": ["epochs"]},
        )
    model_name = lab_model_name(lab, name or f"{base.encoder_kind}-finetuned")
    owner = ModelVersion.objects.filter(name=model_name).values_list("lab_id", flat=True).first()
    if owner is not None and owner != lab.pk:
        raise Conflict("That model name belongs to another lab.")
    with transaction.atomic():
        job = TrainingJob.objects.create(
            lab=lab,
            created_by=user,
            base_version=base,
            model_name=model_name,
            support_set_versions=ids,
            include_public=include_public,
            params=merged,
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id) -> None:
    from workers.tasks.train import train_job

    train_job.delay(str(job_id))


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
    TrainingJob.objects.filter(pk=job_id).exclude(status__in=FINISHED).update(
        status=JobStatus.FAILED, error=reason[:4000], finished=timezone.now()
    )
    run_id = TrainingJob.objects.filter(pk=job_id).values_list("mlflow_run_id", flat=True).first()
    if run_id:
        try:
            tracking.client().set_terminated(run_id, status="FAILED")
        except Exception:
            log.warning("could not close MLflow run %s", run_id)


class _Cancelled(Exception):
    pass


# --- the run ----------------------------------------------------------------------------
def training_job_run(*, job_id) -> TrainingJob | None:
    """Run a queued job (idempotent: finished jobs are skipped; a redelivered running job
    restarts from scratch, its half-written run closed as failed)."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in FINISHED:
            return job
        stale_run = job.mlflow_run_id
        job.status, job.started, job.error, job.progress = JobStatus.RUNNING, timezone.now(), "", 0
        job.save(update_fields=["status", "started", "error", "progress"])
    if stale_run:
        try:
            tracking.client().set_terminated(stale_run, status="FAILED")
        except Exception:
            log.warning("could not close stale MLflow run %s", stale_run)
    job = TrainingJob.objects.select_related("lab", "base_version", "created_by").get(pk=job_id)
    try:
        return _run(job)
    except _Cancelled:
        TrainingJob.objects.filter(pk=job.pk).update(finished=timezone.now())
        if job.mlflow_run_id:
            tracking.client().set_terminated(job.mlflow_run_id, status="KILLED")
        return TrainingJob.objects.get(pk=job.pk)
    except (ValueError, Invalid) as err:  # data that cannot be trained on: the user's to fix
        training_job_fail(job_id=job.pk, reason=str(err))
        return TrainingJob.objects.get(pk=job.pk)


def _cancelled(job_id) -> bool:
    return TrainingJob.objects.filter(pk=job_id, status=JobStatus.CANCELLED).exists()


def _run(job: TrainingJob) -> TrainingJob:
    from workers.fewshot.encoders import resolve_device, save_encoder
    from workers.fewshot.finetune import FinetuneConfig, finetune

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    data, lineage = _load_support_sets(job)
    train_sets, holdout_sets, split = _split(data, job.params)
    lineage["split"] = split
    lineage["base_version"] = {
        "id": str(job.base_version.pk),
        "name": job.base_version.name,
        "version": job.base_version.version,
    }
    timings["load_data"] = round(time.perf_counter() - t0, 3)

    c = tracking.client()
    run = c.create_run(
        tracking.experiment_id(experiment_for(job.lab)),
        run_name=f"train-{str(job.pk)[:8]}",
        tags={
            "chiplab.source": "trained",
            "chiplab.lab": job.lab.slug,
            "chiplab.training_job": str(job.pk),
        },
    )
    run_id = run.info.run_id
    TrainingJob.objects.filter(pk=job.pk).update(mlflow_run_id=run_id, lineage=lineage)
    job.mlflow_run_id = run_id
    from mlflow.entities import Metric, Param

    cfg_fields = set(FinetuneConfig.__dataclass_fields__)
    cfg = FinetuneConfig(**{k: v for k, v in job.params.items() if k in cfg_fields})
    params = {
        **cfg.to_json(),
        "base_model": job.base_version.name,
        "base_version": job.base_version.version,
        "encoder_kind": job.base_version.encoder_kind,
        "support_set_versions": ",".join(job.support_set_versions),
        "include_public": job.include_public,
        "n_train_chips": split["train_chips"],
        "n_holdout_chips": split["holdout_chips"],
    }
    c.log_batch(run_id, params=[Param(k, str(v)[:500]) for k, v in params.items()])
    c.log_dict(run_id, lineage, "lineage.json")

    base = encoder_load(model_version=job.base_version, device=resolve_device("auto"))
    epochs = max(1, cfg.epochs)

    def on_epoch(epoch: int, row: dict) -> bool:
        ms = int(time.time() * 1000)
        metrics = [
            Metric(k, float(v), ms, epoch) for k, v in row.items() if k != "epoch" and v is not None
        ]
        c.log_batch(run_id, metrics=metrics)
        current = TrainingJob.objects.filter(pk=job.pk).values_list("history", flat=True).first()
        TrainingJob.objects.filter(pk=job.pk).update(
            progress=round(0.05 + 0.85 * epoch / epochs, 4), history=[*(current or []), row]
        )
        return not _cancelled(job.pk)

    result = finetune(base, train_sets, holdout_sets, cfg, callback=on_epoch)
    timings["train"] = round(result.seconds, 3)
    if result.stopped and _cancelled(job.pk):
        raise _Cancelled
    t1 = time.perf_counter()
    holdout_acc = result.best["holdout_acc"]
    metrics = {
        "holdout_acc": holdout_acc,
        "holdout_loss": result.best["holdout_loss"],
        "best_epoch": result.best["epoch"],
        "base_holdout_acc": result.before["acc"],
        "base_holdout_loss": result.before["loss"],
        "holdout_episodes": len(result.holdout),
    }
    c.log_batch(
        run_id,
        metrics=[Metric(k, float(v), int(time.time() * 1000), 0) for k, v in metrics.items()],
    )
    c.log_dict(run_id, result.history, "history.json")
    card = _card(job, lineage, metrics)
    with tempfile.TemporaryDirectory(prefix="chiplab-train-") as tmp:
        enc_dir = Path(tmp) / "encoder"
        save_encoder(
            result.encoder,
            enc_dir,
            metadata={
                "training_job": str(job.pk),
                "mlflow_run_id": run_id,
                "finetune": cfg.to_json(),
                "base": lineage["base_version"],
                "best": result.best,
            },
        )
        version = version_register(
            lab=job.lab,
            name=job.model_name,
            run_id=run_id,
            kind=job.base_version.encoder_kind,
            source=Source.TRAINED,
            encoder_dir=enc_dir,
            card=card,
            lineage=lineage,
            metrics=metrics,
            user=job.created_by,
        )
    model_version_promote(
        user=job.created_by,
        version=version,
        alias=CHALLENGER,
        note=f"training job {job.pk}",
        automatic=True,
    )
    timings["register"] = round(time.perf_counter() - t1, 3)

    t2 = time.perf_counter()
    evaluation = _evaluate_against_champion(job, version, result, run_id)
    timings["evaluate"] = round(time.perf_counter() - t2, 3)
    timings["total"] = round(time.perf_counter() - t0, 3)
    c.set_terminated(run_id)
    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        result_version=version,
        metrics={**metrics, **evaluation},
        timings=timings,
        finished=timezone.now(),
    )
    return TrainingJob.objects.get(pk=job.pk)


def _evaluate_against_champion(
    job: TrainingJob, version: ModelVersion, result, run_id: str
) -> dict:
    """Score the champion on the challenger's held-out episodes; maybe auto-promote.

    Scores of a lab's data are stored on the champion only when the lab owns it: a public
    champion's metrics are visible to every lab.
    """
    from workers.fewshot.encoders import resolve_device
    from workers.fewshot.finetune import evaluate_encoder

    champion = lab_champion(lab_id=job.lab_id) or public_champion()
    out: dict[str, Any] = {"champion": None}
    if champion is None:
        return out
    scores = evaluate_encoder(
        encoder_load(model_version=champion, device=resolve_device("auto")), result.holdout
    )
    challenger_acc = result.best["holdout_acc"]
    margin = challenger_acc - scores["acc"]
    out = {
        "champion": {"id": str(champion.pk), "name": champion.name, "version": champion.version},
        "champion_holdout_acc": scores["acc"],
        "champion_holdout_loss": scores["loss"],
        "margin": margin,
    }
    tracking.client().log_batch(
        run_id, metrics=[_metric("champion_holdout_acc", scores["acc"]), _metric("margin", margin)]
    )
    record = {
        "training_job": str(job.pk),
        "episodes": scores["episodes"],
        "queries": scores["queries"],
        "at": timezone.now().isoformat(),
    }
    with transaction.atomic():
        v = ModelVersion.objects.select_for_update().get(pk=version.pk)
        v.metrics = {
            **v.metrics,
            "champion_holdout_acc": scores["acc"],
            "margin": margin,
            "evaluations": [
                *v.metrics.get("evaluations", []),
                {
                    **record,
                    "role": "challenger",
                    "acc": challenger_acc,
                    "against": out["champion"],
                    "against_acc": scores["acc"],
                },
            ],
        }
        v.save(update_fields=["metrics"])
        if champion.lab_id == job.lab_id:
            ch = ModelVersion.objects.select_for_update().get(pk=champion.pk)
            ch.metrics = {
                **ch.metrics,
                "evaluations": [
                    *ch.metrics.get("evaluations", []),
                    {
                        **record,
                        "role": "champion",
                        "acc": scores["acc"],
                        "against": {
                            "id": str(version.pk),
                            "name": version.name,
                            "version": version.version,
                        },
                        "against_acc": challenger_acc,
                    },
                ],
            }
            ch.save(update_fields=["metrics"])
    threshold = settings.CHIPLAB_AUTO_PROMOTE_MARGIN
    if threshold is not None and margin >= threshold:
        model_version_promote(
            user=job.created_by,
            version=version,
            automatic=True,
            note=f"auto: held-out accuracy +{margin:.3f} >= {threshold}",
        )
        out["auto_promoted"] = True
    return out


def _metric(key: str, value: float):
    from mlflow.entities import Metric

    return Metric(key, float(value), int(time.time() * 1000), 0)


def _card(job: TrainingJob, lineage: dict, metrics: dict) -> dict:
    sets = lineage["support_set_versions"]
    return {
        "summary": f"{job.base_version.encoder_kind} encoder fine-tuned by {job.lab.name} from "
        f"{job.base_version.name} v{job.base_version.version}.",
        "trained_on": f"{len(sets)} support-set version(s), {len(lineage['images'])} image(s) "
        f"from lab(s) {', '.join(lineage['labs'])}; licences "
        f"{', '.join(lineage['licences'])}.",
        "classes": sorted({c for s in sets for c in s["classes"]}),
        "metrics": {
            "holdout_acc": metrics["holdout_acc"],
            "base_holdout_acc": metrics["base_holdout_acc"],
            "holdout_episodes": metrics["holdout_episodes"],
        },
        "intended_use": "Few-shot chip classification of micrographs like those it was "
        "fine-tuned on (same instrument, contrast and scale).",
        "limitations": "Fine-tuned on few labelled chips; held-out accuracy is measured on "
        "chips of the same support sets (not independent samples). Check it "
        "against the champion before promoting; it may forget other domains.",
        "training_job": str(job.pk),
        # the weights derive from these datasets: their terms (e.g. attribution) carry over
        "data_licences": lineage["licences"],
    }


def _load_support_sets(job: TrainingJob) -> tuple[list, dict]:
    """Decode each image once; return [(image, grid, {class: [(r, c)]}, set id)] + lineage."""
    import numpy as np

    from catalog import formats
    from catalog.models import Image
    from catalog.services import original_path
    from workers.fewshot.chipping import ChipGrid

    sets = list(
        _support_set_model()
        .objects.filter(pk__in=job.support_set_versions)
        .select_related("schema__dataset__lab")
    )
    if len(sets) != len(job.support_set_versions):
        raise ValueError("a support-set version of this job no longer exists")
    image_ids = {str(chip["image"]) for s in sets for chip in s.chips}
    images = {
        str(i.pk): i for i in Image.objects.filter(pk__in=image_ids).select_related("dataset__lab")
    }
    arrays: dict[str, np.ndarray] = {}
    for iid, image in images.items():
        with original_path(image) as path:
            data = formats.read(path, fmt=image.format).data
        arrays[iid] = np.asarray(data[0] if data.ndim == 3 else data, dtype=np.float32)
    class_index: dict[tuple[str, str], int] = {}
    out = []
    for s in sets:
        by_image: dict[str, dict[int, list[tuple[int, int]]]] = {}
        for chip in s.chips:
            key = (str(s.pk), str(chip["class"]))
            cls = class_index.setdefault(key, len(class_index))
            by_image.setdefault(str(chip["image"]), {}).setdefault(cls, []).append(
                (int(chip["row"]), int(chip["col"]))
            )
        for iid, support in by_image.items():
            if iid not in arrays:
                raise ValueError(f"image {iid} of support set {s.pk} no longer exists")
            grid = ChipGrid.for_shape(arrays[iid].shape, s.chip_size, (s.offset_y, s.offset_x))
            out.append((arrays[iid], grid, support, str(s.pk)))
    names = {str(c["id"]): c["name"] for s in sets for c in (s.classes or [])}
    lineage = {
        "support_set_versions": [
            {
                "id": str(s.pk),
                "number": s.number,
                "schema": str(s.schema_id),
                "dataset": str(s.schema.dataset_id),
                "lab": s.schema.dataset.lab.slug,
                "licence": s.schema.dataset.licence,
                "rule": s.rule,
                "chip_size": s.chip_size,
                "chips": len(s.chips),
                "classes": sorted(
                    {names.get(str(ch["class"]), str(ch["class"])) for ch in s.chips}
                ),
            }
            for s in sets
        ],
        "images": [
            {
                "id": iid,
                "sha256": images[iid].sha256,
                "dataset": str(images[iid].dataset_id),
                "lab": images[iid].dataset.lab.slug,
            }
            for iid in sorted(images)
        ],
        "labs": sorted({s.schema.dataset.lab.slug for s in sets}),
        "licences": sorted({s.schema.dataset.licence for s in sets}),
        "code_version": code_version(),
    }
    return out, lineage


def _split(data: list, params: dict) -> tuple[list, list, dict]:
    """Hold out chips per support-set version (sets too small to split train only)."""
    from workers.fewshot.finetune import split_support_sets

    groups: dict[str, list] = {}
    for item in data:
        groups.setdefault(item[3], []).append(item)
    train, hold = [], []
    for i, (_, items) in enumerate(sorted(groups.items())):
        try:
            tr, ho = split_support_sets(
                items,
                holdout_fraction=float(params["holdout_fraction"]),
                seed=int(params["seed"]) + i,
            )
        except ValueError:
            tr, ho = items, []
        train += tr
        hold += ho
    if not hold:
        raise ValueError(
            "No support set is large enough for a held-out split: at least two "
            "classes need four or more chips."
        )

    def n(items):
        return sum(len(rc) for it in items for rc in it[2].values())

    return (
        train,
        hold,
        {
            "train_chips": n(train),
            "holdout_chips": n(hold),
            "holdout_fraction": float(params["holdout_fraction"]),
            "holdout_share": round(n(hold) / (n(train) + n(hold)), 3),
            "method": "per support-set version: whole images when >= 3, else chips per class",
        },
    )
