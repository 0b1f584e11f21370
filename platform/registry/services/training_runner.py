"""The training runner: episodic fine-tuning on frozen support-set versions, logged to MLflow.

``training_job_run`` (called by ``workers.tasks.train.train_job``): load the support sets'
images, split the labelled chips into training and held-out parts, fine-tune a copy of the base
encoder (progress and per-epoch history written to the job row; cancellation checked every
epoch), log params, metrics, lineage and the encoder to MLflow, register a new version aliased
``challenger``, evaluate the lab's champion on the same held-out episodes, and auto-promote
when ``CHIPLAB_AUTO_PROMOTE_MARGIN`` is met. The run follows ``common.runner.job_run``: the
job succeeds in ``_run``; a cancel ends in ``_cancelled``, a failure in ``training_job_fail``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.errors import Invalid
from common.runner import cancel_check, job_cancelled, job_end, job_run
from webhooks.services import event_emit

from .. import tracking
from ..models import JobStatus, ModelVersion, Source, TrainingJob
from ..selectors import CHALLENGER, lab_champion, public_champion
from .aliases import model_version_promote
from .loading import encoder_load
from .registration import experiment_for, version_register
from .training import training_job_fail
from .training_data import holdout_split, load_support_sets

log = logging.getLogger(__name__)


def training_job_run(*, job_id) -> TrainingJob | None:
    """Run a queued job (``common.runner.job_run``; idempotent: finished jobs are skipped; a
    redelivered running job restarts from scratch, its half-written run closed as failed)."""
    job_run(
        TrainingJob,
        job_id,
        _run,
        subject=f"training job {job_id}",
        fields=_restart,
        prepare=_prepare,
        refused=(ValueError, Invalid),  # data that cannot be trained on: the user's to fix
        fail=lambda job, reason, code: training_job_fail(job_id=job.pk, reason=reason),
        cancelled=_cancelled,
    )
    return TrainingJob.objects.filter(pk=job_id).first()


def _restart(row: TrainingJob) -> dict:
    # a redelivered job starts again: the lost run's epochs are not its own
    return {"started": timezone.now(), "error": "", "progress": 0, "history": []}


def _prepare(row: TrainingJob) -> TrainingJob:
    """Close the MLflow run a lost delivery left open (the row is no longer locked); the job
    with what the run reads."""
    if row.mlflow_run_id:
        try:
            tracking.client().set_terminated(row.mlflow_run_id, status="FAILED")
        except Exception:
            log.warning("could not close stale MLflow run %s", row.mlflow_run_id)
    return TrainingJob.objects.select_related("lab", "base_version", "created_by").get(pk=row.pk)


def _cancelled(job: TrainingJob) -> None:
    TrainingJob.objects.filter(pk=job.pk).update(finished=timezone.now())
    if job.mlflow_run_id:
        tracking.client().set_terminated(job.mlflow_run_id, status="KILLED")


def _run(job: TrainingJob) -> None:
    # torch (fine-tuning): loaded by the training worker only
    from workers.fewshot.finetune import FinetuneConfig

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    data, lineage = load_support_sets(job)
    train_sets, holdout_sets, split = holdout_split(data, job.params)
    lineage["split"] = split
    lineage["base_version"] = {
        "id": str(job.base_version.pk),
        "name": job.base_version.name,
        "version": job.base_version.version,
    }
    timings["load_data"] = round(time.perf_counter() - t0, 3)

    cfg_fields = set(FinetuneConfig.__dataclass_fields__)
    cfg = FinetuneConfig(**{k: v for k, v in job.params.items() if k in cfg_fields})
    run_id = _start_run(job, cfg, lineage, split)
    result = _train(job, cfg, train_sets, holdout_sets, run_id)
    timings["train"] = round(result.seconds, 3)
    if result.stopped:
        cancel_check(TrainingJob, job.pk)
    t1 = time.perf_counter()
    metrics = _holdout_metrics(result)
    tracking.client().log_batch(run_id, metrics=[_metric(k, v) for k, v in metrics.items()])
    tracking.client().log_dict(run_id, result.history, "history.json")
    version = _register(job, result, cfg, lineage, metrics, run_id)
    timings["register"] = round(time.perf_counter() - t1, 3)

    t2 = time.perf_counter()
    evaluation = _evaluate_against_champion(job, version, result, run_id)
    timings["evaluate"] = round(time.perf_counter() - t2, 3)
    timings["total"] = round(time.perf_counter() - t0, 3)
    tracking.client().set_terminated(run_id)
    job_end(
        TrainingJob,
        job.pk,
        status=JobStatus.SUCCEEDED,
        # a cancel that arrives once the version is registered is too late: the job succeeded
        done=(),
        progress=1.0,
        result_version=version,
        metrics={**metrics, **evaluation},
        timings=timings,
        effects=[partial(event_emit, "training.finished", job.pk)],
    )


def _start_run(job: TrainingJob, cfg, lineage: dict, split: dict) -> str:
    """Open the job's MLflow run (recorded on the job) and log its parameters and lineage."""
    # mlflow: heavy, loaded by the training worker only
    from mlflow.entities import Param

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
    return run_id


def _train(job: TrainingJob, cfg, train_sets, holdout_sets, run_id: str):
    """Fine-tune the base encoder; each epoch's metrics go to MLflow and the job row (progress,
    history), and a cancelled job stops at the next epoch."""
    # mlflow: heavy, loaded by the training worker only
    from mlflow.entities import Metric

    from workers.fewshot.encoders import resolve_device
    from workers.fewshot.finetune import finetune

    c = tracking.client()
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
        return not job_cancelled(TrainingJob, job.pk)

    return finetune(base, train_sets, holdout_sets, cfg, callback=on_epoch)


def _holdout_metrics(result) -> dict:
    """The fine-tuned encoder's and the base encoder's scores on the held-out episodes."""
    return {
        "holdout_acc": result.best["holdout_acc"],
        "holdout_loss": result.best["holdout_loss"],
        "best_epoch": result.best["epoch"],
        "base_holdout_acc": result.before["acc"],
        "base_holdout_loss": result.before["loss"],
        "holdout_episodes": len(result.holdout),
    }


def _register(job: TrainingJob, result, cfg, lineage: dict, metrics: dict, run_id: str):
    """Save the fine-tuned encoder as a new version of the job's model, aliased challenger."""
    # torch (encoders, fine-tuning): loaded by the training worker only
    from workers.fewshot.encoders import save_encoder

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
    return version


def _evaluate_against_champion(
    job: TrainingJob, version: ModelVersion, result, run_id: str
) -> dict:
    """Score the champion on the challenger's held-out episodes; maybe auto-promote.

    Scores of a lab's data are stored on the champion only when the lab owns it: a public
    champion's metrics are visible to every lab.
    """
    # torch (encoders, fine-tuning): loaded by the training worker only
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
    _evaluations_record(job, version, champion, scores, challenger_acc)
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


def _evaluations_record(
    job: TrainingJob, version: ModelVersion, champion, scores: dict, challenger_acc: float
) -> None:
    """Add the comparison to the challenger's metrics, and to the champion's when the job's
    lab owns it (one transaction, both rows locked)."""
    margin = challenger_acc - scores["acc"]
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
                    "against": {
                        "id": str(champion.pk),
                        "name": champion.name,
                        "version": champion.version,
                    },
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


def _metric(key: str, value: float):
    # mlflow: heavy, loaded by the training worker only
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
