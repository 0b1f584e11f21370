"""Registration of a new model version: names, experiments, MLflow registration and the mirror."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.db import IntegrityError, transaction

from accounts.models import Lab
from common.errors import Conflict, Invalid

from .. import tracking
from ..models import ModelVersion, ModelVisibility

BUILTIN_EXPERIMENT = "chiplab-builtin"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def lab_model_name(lab: Lab, name: str) -> str:
    """Registered names of lab models are ``<lab slug>.<name>`` (unique across labs)."""
    if not _NAME_RE.match(name or ""):
        raise Invalid(
            "Model names use lower-case letters, digits, '-' and '_' (at most 80).",
            fields={"name": ["invalid"]},
        )
    return f"{lab.slug}.{name}"


def experiment_for(lab: Lab | None) -> str:
    return f"chiplab-lab-{lab.slug}" if lab else BUILTIN_EXPERIMENT


def mirror(
    *,
    name: str,
    mlflow_version,
    kind: str,
    source: str,
    lab: Lab | None,
    visibility: str,
    card: dict,
    lineage: dict,
    metrics: dict | None = None,
    config: dict | None = None,
    dim: int = 0,
    sha256: str = "",
    user=None,
) -> ModelVersion:
    """Create the Django row of a registered MLflow version (the registry of permissions)."""
    try:
        with transaction.atomic():
            return ModelVersion.objects.create(
                name=name,
                version=int(mlflow_version.version),
                mlflow_run_id=mlflow_version.run_id or "",
                encoder_kind=kind,
                source=source,
                lab=lab,
                visibility=visibility,
                artifact_uri=mlflow_version.source,
                card=card,
                lineage=lineage,
                metrics=metrics or {},
                config=config or {},
                dim=dim,
                weights_sha256=sha256,
                created_by=user,
            )
    except IntegrityError:  # mirrored concurrently
        return ModelVersion.objects.get(name=name, version=int(mlflow_version.version))


def version_register(
    *,
    lab: Lab,
    name: str,
    run_id: str,
    kind: str,
    source: str,
    encoder_dir: Path,
    card: dict,
    lineage: dict,
    metrics: dict,
    user=None,
    log_artifacts: bool = True,
) -> ModelVersion:
    """Log ``encoder_dir`` to the run (unless done), register it under ``name``, mirror it."""
    owner = ModelVersion.objects.filter(name=name).values_list("lab_id", flat=True).first()
    if owner is not None and owner != lab.pk:
        raise Conflict("That model name belongs to another lab.")
    c = tracking.client()
    if log_artifacts:
        c.log_artifacts(run_id, str(encoder_dir), "encoder")
    doc = json.loads((Path(encoder_dir) / "config.json").read_text())
    mv = tracking.register_version(
        name=name,
        run_id=run_id,
        description=card.get("summary", ""),
        tags={"encoder_kind": kind, "source": source, "lab": lab.slug},
    )
    return mirror(
        name=name,
        mlflow_version=mv,
        kind=kind,
        source=source,
        lab=lab,
        visibility=ModelVisibility.LAB,
        card=card,
        lineage=lineage,
        metrics=metrics,
        config=doc.get("config", {}),
        dim=int(doc.get("dim", 0)),
        sha256=doc.get("sha256", ""),
        user=user,
    )
