"""The MLflow side of the registry: one client, experiments, artifacts, registered versions.

The same code talks to the embedded SQLite store (``sqlite:///…``, file artifacts under
``MLFLOW_ARTIFACT_ROOT``) and to an MLflow server (``http://…``, artifacts proxied by the
server with ``--serve-artifacts`` or written straight to S3 with ``MLFLOW_S3_ENDPOINT_URL``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def client():
    """An MlflowClient on the configured tracking and registry store."""
    # mlflow: heavy (seconds to import), loaded by the first tracking call
    from mlflow import MlflowClient

    uri = settings.MLFLOW_TRACKING_URI
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _is_server() -> bool:
    return settings.MLFLOW_TRACKING_URI.startswith(("http://", "https://"))


def experiment_id(name: str) -> str:
    """Get or create an experiment; a local store keeps its artifacts under MLFLOW_ARTIFACT_ROOT."""
    c = client()
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    root = settings.MLFLOW_ARTIFACT_ROOT
    if root and not _is_server():
        location = f"{root.rstrip('/')}/{name}"
    # mlflow: heavy, loaded by the first tracking call
    from mlflow.exceptions import MlflowException

    try:
        return c.create_experiment(name, artifact_location=location)
    except MlflowException:  # created concurrently by another process
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def ensure_registered_model(name: str, *, description: str = "", tags: dict | None = None):
    # mlflow: heavy, loaded by the first tracking call
    from mlflow.exceptions import MlflowException

    c = client()
    try:
        return c.get_registered_model(name)
    except MlflowException:
        pass
    try:
        return c.create_registered_model(name, tags=tags or {}, description=description)
    except MlflowException:
        return c.get_registered_model(name)


def register_version(
    *,
    name: str,
    run_id: str,
    artifact_path: str = "encoder",
    description: str = "",
    tags: dict | None = None,
):
    """Register the run's artifact directory as a new version of ``name``; returns it."""
    c = client()
    ensure_registered_model(name)
    run = c.get_run(run_id)
    source = f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}"
    return c.create_model_version(
        name,
        source=source,
        run_id=run_id,
        description=description,
        tags={k: str(v) for k, v in (tags or {}).items()},
    )


def set_alias(name: str, alias: str, version: int) -> None:
    client().set_registered_model_alias(name, alias, str(version))


def delete_alias(name: str, alias: str) -> None:
    # mlflow: heavy, loaded by the first tracking call
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):
        client().delete_registered_model_alias(name, alias)


def set_version_tag(name: str, version: int, key: str, value: str) -> None:
    client().set_model_version_tag(name, str(version), key, value)


def download(artifact_uri: str, dest: Path) -> Path:
    """Fetch an artifact directory into ``dest`` (atomically: a partial copy is never seen)."""
    # mlflow: heavy, loaded by the first tracking call
    import mlflow.artifacts

    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".dl-") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=artifact_uri,
                dst_path=tmp,
                tracking_uri=settings.MLFLOW_TRACKING_URI,
            )
        )
        try:
            local.rename(dest)
        except OSError:
            if not dest.exists():  # another process won the race: theirs is as good
                shutil.copytree(local, dest)
    return dest
