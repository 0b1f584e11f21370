"""Registry fixtures: a throw-away MLflow store per test and the committed default weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def default_weights():
    """The committed default weights (a fresh machine must work with them, no download)."""
    from workers.fewshot.encoders import default as default_mod

    assert (default_mod.BUNDLED_WEIGHTS / "config.json").is_file()
    return default_mod.BUNDLED_WEIGHTS


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
