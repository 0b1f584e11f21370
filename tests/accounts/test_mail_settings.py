"""Mail settings come from the environment: the console by default, SMTP from a URL."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, "
    "s.EMAIL_USE_TLS, s.EMAIL_HOST_USER, s.DEFAULT_FROM_EMAIL)"
)


def settings_with(tmp_path, **env) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    clean = {k: os.environ[k] for k in keep if k in os.environ}
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT / "platform",
        env={**clean, "CHIPLAB_ENV_FILE": "/nonexistent", "CHIPLAB_DATA_DIR": str(tmp_path), **env}
        | {"DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_console_is_the_default(tmp_path):
    result = settings_with(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "django.core.mail.backends.console.EmailBackend"


def test_smtp_from_the_environment(tmp_path):
    result = settings_with(
        tmp_path,
        CHIPLAB_EMAIL_URL="smtp+tls://mailer:s3cret@mail.example.org:587",
        CHIPLAB_EMAIL_FROM="lab@example.org",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.org",
        "587",
        "True",
        "mailer",
        "lab@example.org",
    ]


@pytest.mark.parametrize(
    "env",
    [
        {"CHIPLAB_TOKEN_DAYS": "400"},
        {"CHIPLAB_TOKEN_DAYS": "0"},
        {"CHIPLAB_INVITATION_DAYS": "31"},
    ],
)
def test_expiry_defaults_beyond_their_maximum_are_refused(tmp_path, env):
    result = settings_with(tmp_path, **env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr
