"""Settings guard production; the OpenAPI schema is valid and complete."""

import os
import subprocess
import sys

import pytest

from tests.support.services import ROOT

GOOD_SECRET = "x" * 50


def load_settings(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHIPLAB_"))}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT / "platform",
        env={**clean, "CHIPLAB_ENV_FILE": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env,message",
    [
        ({}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        (
            {
                "DJANGO_SECRET_KEY": GOOD_SECRET,
                "DJANGO_DEBUG": "true",
                "DJANGO_ALLOWED_HOSTS": "lab.example.org",
            },
            "DEBUG",
        ),
        ({"DJANGO_SECRET_KEY": GOOD_SECRET}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_SECRET_KEY": GOOD_SECRET, "DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_unsafe_settings(env, message, tmp_path):
    result = load_settings(CHIPLAB_MODE="production", CHIPLAB_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_starts_when_safe(tmp_path):
    result = load_settings(
        CHIPLAB_MODE="production",
        CHIPLAB_DATA_DIR=str(tmp_path),
        DJANGO_SECRET_KEY=GOOD_SECRET,
        DJANGO_ALLOWED_HOSTS="lab.example.org",
    )
    assert result.returncode == 0, result.stderr


def test_unknown_storage_backend_is_refused(tmp_path):
    result = load_settings(CHIPLAB_STORAGE="ftp", CHIPLAB_DATA_DIR=str(tmp_path))
    assert result.returncode != 0 and "CHIPLAB_STORAGE" in result.stderr


def test_openapi_schema_is_valid_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    for path in (
        "/api/labs/",
        "/api/tokens/",
        "/api/datasets/{dataset_id}/images/",
        "/api/images/{image_id}/original",
        "tokenAuth",
    ):
        assert path in text


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content  # served offline from the sidecar package
