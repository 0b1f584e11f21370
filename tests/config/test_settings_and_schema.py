"""Settings guard production; the OpenAPI schema is valid and complete."""

import os
import subprocess
import sys

import pytest

from tests.support.services import ROOT

GOOD_SECRET = "x" * 50
SAFE = {
    "DJANGO_SECRET_KEY": GOOD_SECRET,
    "DJANGO_ALLOWED_HOSTS": "lab.example.org",
    "CHIPLAB_PUBLIC_URL": "https://lab.example.org",
}


def _process_env() -> dict:
    """The environment of a settings subprocess: the process's own (paths, locale), none of
    the configuration a CI run or a shell exports (database, storage, broker...)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: os.environ[k] for k in keep if k in os.environ}


def load_settings(**env) -> subprocess.CompletedProcess:
    clean = _process_env()
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
        # persistent dataset ids must not follow the request's Host header
        ({**SAFE, "CHIPLAB_PUBLIC_URL": ""}, "CHIPLAB_PUBLIC_URL"),
        ({**SAFE, "CHIPLAB_PUBLIC_URL": "lab.example.org"}, "CHIPLAB_PUBLIC_URL"),
        ({**SAFE, "CHIPLAB_PUBLIC_URL": "ftp://lab.example.org"}, "CHIPLAB_PUBLIC_URL"),
        ({**SAFE, "CHIPLAB_LOGIN_RATE": "lots"}, "CHIPLAB_LOGIN_RATE"),
        ({**SAFE, "CHIPLAB_REGISTER_RATE": "5/fortnight"}, "CHIPLAB_REGISTER_RATE"),
    ],
)
def test_production_refuses_unsafe_settings(env, message, tmp_path):
    result = load_settings(CHIPLAB_MODE="production", CHIPLAB_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_starts_when_safe(tmp_path):
    result = load_settings(CHIPLAB_MODE="production", CHIPLAB_DATA_DIR=str(tmp_path), **SAFE)
    assert result.returncode == 0, result.stderr


def test_embedded_mode_needs_no_public_url(tmp_path):
    assert load_settings(CHIPLAB_DATA_DIR=str(tmp_path)).returncode == 0


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


# What an administrator sets when copying infra/.env.example: its own secrets.
OWN_SECRETS = {
    "DJANGO_SECRET_KEY": "q8Vd3kz0Xw7rL1nT5yB9mP2sJ6hF4cG0aE8uR3iO7tY1wQ5z",
    "DATABASE_URL": "postgres://chiplab:Tq7wYp2nZr5x@postgres:5432/chiplab",
    "S3_SECRET_KEY": "Lk3mN8pQ2rS7tV1wX6yZ",
}


def _example(how: str) -> dict:
    example = ROOT / "infra" / ".env.example"
    if how == "env_file":
        return {"CHIPLAB_ENV_FILE": str(example)}
    source = {"CHIPLAB_ENV_FILE": "/nonexistent"}
    for line in example.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            source[key] = value
    return source


def _run_example(tmp_path, how, **overrides) -> subprocess.CompletedProcess:
    script = (
        "from django.conf import settings; import django; django.setup(); "
        "print(settings.PRODUCTION, settings.CHIPLAB_PUBLIC_URL, "
        "settings.CACHES['default']['BACKEND'], settings.REST_FRAMEWORK['NUM_PROXIES'], "
        "settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, "
        "settings.SECURE_PROXY_SSL_HEADER[0])"
    )
    clean = _process_env()
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "platform",
        env={
            **clean,
            **_example(how),
            **overrides,  # the real environment wins over the env file
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CHIPLAB_DATA_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("how", ["env_file", "environment"])
def test_the_example_environment_is_refused_until_its_secrets_are_replaced(tmp_path, how):
    """infra/.env.example's secrets are published: production refuses each of them, and
    accepts the example once they are the administrator's own, whether copied to ../.env
    (read by the settings) or passed as the environment (compose)."""
    for missing, message in [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY is a published example"),
        ("DATABASE_URL", "DATABASE_URL has a published example password"),
        ("S3_SECRET_KEY", "S3_SECRET_KEY"),
    ]:
        own = {k: v for k, v in OWN_SECRETS.items() if k != missing}
        result = _run_example(tmp_path, how, **own)
        assert result.returncode != 0, missing
        assert "ImproperlyConfigured" in result.stderr and message in result.stderr, missing
    result = _run_example(tmp_path, how, **OWN_SECRETS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [
        "True",
        "https://chiplab.example.org",
        "django.core.cache.backends.redis.RedisCache",
        "0",
        "True",
        "31536000",
        "HTTP_X_FORWARDED_PROTO",
    ]


@pytest.mark.parametrize(
    "env,message",
    [
        ({"DJANGO_SECRET_KEY": "your-secret-key-" + "x" * 40}, "published"),
        ({"DJANGO_SECRET_KEY": "please-changeme-" + "x" * 40}, "published"),
        ({"CHIPLAB_STORAGE": "s3", "S3_ACCESS_KEY": "chiplab-app"}, "S3_SECRET_KEY"),
        ({"CHIPLAB_STORAGE": "s3", "S3_SECRET_KEY": "Lk3mN8pQ2rS7tV1wX6yZ"}, "S3_ACCESS_KEY"),
        (
            {
                "CHIPLAB_STORAGE": "s3",
                "S3_ACCESS_KEY": "chiplab-app",
                "S3_SECRET_KEY": "minioadmin",
            },
            "S3_SECRET_KEY",
        ),
        (
            {
                "CHIPLAB_STORAGE": "s3",
                "S3_ACCESS_KEY": "root-of-minio",
                "S3_SECRET_KEY": "Lk3mN8pQ2rS7tV1wX6yZ",
                "MINIO_ROOT_USER": "root-of-minio",
            },
            "root user",
        ),
        ({"DATABASE_URL": "postgres://chiplab:chiplab@db:5432/chiplab"}, "DATABASE_URL"),
    ],
)
def test_production_refuses_example_secrets_and_missing_storage_credentials(env, message, tmp_path):
    result = load_settings(
        CHIPLAB_MODE="production", CHIPLAB_DATA_DIR=str(tmp_path), **{**SAFE, **env}
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_accepts_its_own_storage_user(tmp_path):
    result = load_settings(
        CHIPLAB_MODE="production",
        CHIPLAB_DATA_DIR=str(tmp_path),
        CHIPLAB_STORAGE="s3",
        S3_ACCESS_KEY="chiplab-app",
        S3_SECRET_KEY="Lk3mN8pQ2rS7tV1wX6yZ",
        MINIO_ROOT_USER="chiplab-root",
        **SAFE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
