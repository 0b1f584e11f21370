"""Embedded mode runs with DEBUG only when it listens on loopback: on by default there, off by
default elsewhere, and refused (with a message) when DJANGO_DEBUG asks for it on an address
that other machines reach."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import ROOT

PRINT_DEBUG = "import config.settings as s; print('DEBUG', s.DEBUG)"


def clean_env(tmp_path, **env) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHIPLAB_"))}
    return {**base, "CHIPLAB_ENV_FILE": "/nonexistent", "CHIPLAB_DATA_DIR": str(tmp_path), **env}


def load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PRINT_DEBUG],
        cwd=ROOT / "platform",
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def debug_with(tmp_path, **env) -> bool:
    result = load_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split() == ["DEBUG", "True"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_debug_is_on_when_bound_to_loopback(tmp_path, host):
    assert debug_with(tmp_path, CHIPLAB_BIND_HOST=host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "chiplab.lab.example", ""])
def test_debug_is_off_when_reachable_from_elsewhere_or_unknown(tmp_path, host):
    assert not debug_with(tmp_path, CHIPLAB_BIND_HOST=host)


def test_an_explicit_setting_wins_where_it_is_safe(tmp_path):
    assert not debug_with(tmp_path, CHIPLAB_BIND_HOST="127.0.0.1", DJANGO_DEBUG="false")
    assert not debug_with(tmp_path, CHIPLAB_BIND_HOST="0.0.0.0", DJANGO_DEBUG="false")
    # no bind address (a shell, a worker, a test run): nothing is served to others
    assert debug_with(tmp_path, DJANGO_DEBUG="true")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "chiplab.lab.example"])
def test_debug_is_refused_on_an_address_others_reach(tmp_path, host):
    result = load_settings(tmp_path, CHIPLAB_BIND_HOST=host, DJANGO_DEBUG="true")
    assert result.returncode != 0
    assert f"DJANGO_DEBUG is on but the server listens on {host}" in result.stderr
    assert "DEBUG True" not in result.stdout


def fake_venv(tmp_path) -> Path:
    """A venv whose web server and worker are replaced by programs that load the settings
    those servers would load and report DEBUG."""
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "celery").write_text("#!/bin/sh\nexec sleep 60\n")
    (venv / "gunicorn").write_text(
        f'#!/bin/sh\ncd platform && exec "{sys.executable}" -c "{PRINT_DEBUG}"\n'
    )
    for program in ("celery", "gunicorn"):
        (venv / program).chmod(0o755)
    return venv.parent


@pytest.mark.parametrize("host,debug", [("0.0.0.0", "False"), ("127.0.0.1", "True")])
def test_run_embedded_passes_its_bind_address_to_the_settings(tmp_path, host, debug):
    """infra/run-embedded.sh as `make run` starts it, with the web server and worker replaced
    by programs that load the settings those servers would load and report DEBUG."""
    result = subprocess.run(
        ["bash", str(ROOT / "infra" / "run-embedded.sh")],
        cwd=ROOT,
        env=clean_env(tmp_path, VENV=str(fake_venv(tmp_path)), HOST=host, PORT="8765"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # (the script exits when its web server does, stopping the worker)
    assert f"DEBUG {debug}" in result.stdout, result.stderr


def test_run_embedded_refuses_debug_on_an_open_address(tmp_path):
    """`HOST=0.0.0.0 DJANGO_DEBUG=true make run` stops with the reason instead of serving."""
    venv = fake_venv(tmp_path)
    result = subprocess.run(
        ["bash", str(ROOT / "infra" / "run-embedded.sh")],
        cwd=ROOT,
        env=clean_env(tmp_path, VENV=str(venv), HOST="0.0.0.0", PORT="8765", DJANGO_DEBUG="true"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG is on but the server listens on 0.0.0.0" in result.stderr
    assert "DEBUG True" not in result.stdout
