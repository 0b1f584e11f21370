"""Registry fixtures: a throw-away MLflow store per test, committed-weights stand-in, servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.support.services import IN_CI, ROOT, free_port, stop, wait_http


@pytest.fixture(scope="session")
def default_weights(tmp_path_factory):
    """The committed default weights, or (while they are not committed) a random stand-in."""
    from workers.fewshot.encoders import default as default_mod

    if (default_mod.BUNDLED_WEIGHTS / "config.json").is_file():
        yield default_mod.BUNDLED_WEIGHTS
        return
    from workers.fewshot.encoders import build_encoder, save_encoder

    path = tmp_path_factory.mktemp("weights") / "default"
    save_encoder(
        build_encoder("default", device="cpu", weights=None), path, metadata={"stand_in": True}
    )
    mp = pytest.MonkeyPatch()
    mp.setattr(default_mod, "BUNDLED_WEIGHTS", path)
    yield path
    mp.undo()


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite store (migrating takes seconds: done once)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.sqlite3"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_store(_mlflow_template, tmp_path, settings, default_weights):
    """Point the registry at a fresh local MLflow store (SQLite + file artifacts) in tmp_path."""
    from registry.services import encoder_cache_clear

    db = tmp_path / "mlflow.sqlite3"
    shutil.copy(_mlflow_template, db)
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{db}"
    settings.MLFLOW_ARTIFACT_ROOT = (tmp_path / "mlartifacts").as_uri()
    settings.CHIPLAB_MODEL_CACHE_DIR = tmp_path / "models"
    settings.CHIPLAB_AUTO_PROMOTE_MARGIN = None
    encoder_cache_clear()
    yield settings.MLFLOW_TRACKING_URI
    encoder_cache_clear()


# --- a real MLflow server (integration) ----------------------------------------------
def _postgres_backend() -> str | None:
    """A dedicated database on the CI Postgres server, recreated empty."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return None
    import psycopg

    name = "chiplab_mlflow_test"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    with psycopg.connect(
        host=host,
        port=port,
        user=db["USER"],
        password=db.get("PASSWORD"),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{auth}@{host}:{port}/{name}"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, s3_endpoint):
    """`mlflow server` on 127.0.0.1 (SQL backend, artifacts proxied to S3); sets os.environ.

    The environment is set before the Celery worker starts (see ``celery_worker`` below),
    because the worker process reads MLFLOW_TRACKING_URI from it.
    """
    import boto3

    bucket = "mlflow-test"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    tmp = tmp_path_factory.mktemp("mlflow-server")
    backend = _postgres_backend() or f"sqlite:///{tmp / 'mlflow.sqlite3'}"
    port = free_port()
    s3_env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env = {**os.environ, **s3_env, "MLFLOW_DISABLE_TELEMETRY": "true"}
    log_path = tmp / "server.log"
    exe = Path(sys.executable).with_name("mlflow")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                str(exe),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                backend,
                "--serve-artifacts",
                "--artifacts-destination",
                f"s3://{bucket}/artifacts",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", timeout=120, proc=proc)
    except RuntimeError as err:
        stop(proc)
        message = f"MLflow server did not start: {err}\n{log_path.read_text()[-3000:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    saved = {k: os.environ.get(k) for k in (*s3_env, "MLFLOW_TRACKING_URI")}
    os.environ.update(s3_env)
    os.environ["MLFLOW_TRACKING_URI"] = url
    yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    stop(proc)


@pytest.fixture(scope="session")
def celery_worker(mlflow_server, default_weights, celery_worker):
    """The suite's worker, started after the MLflow server so it inherits its environment.

    (Requesting ``mlflow_server`` first orders the session fixtures; if another directory's
    test started the worker earlier, move ``mlflow_server`` into tests/conftest.py.)
    """
    return celery_worker
