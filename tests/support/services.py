"""Start and stop the real services the integration tests talk to."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import requests
from django.conf import settings

from tests.support.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def database_url() -> str:
    """The test database as a URL, for the worker processes the tests start."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, *, timeout: float = 60, proc: subprocess.Popen | None = None) -> None:
    """Until ``url`` answers (any status); a RuntimeError if ``proc`` exits or time runs out."""

    def answers() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=2)
        except requests.RequestException:
            return False
        return True

    try:
        wait_for(answers, timeout=timeout, what=url)
    except AssertionError as err:
        raise RuntimeError(f"{url} did not answer within {timeout}s") from err


def start_moto() -> tuple[subprocess.Popen, str]:
    """An S3-compatible server (moto) on 127.0.0.1, standing in for MinIO."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url, proc=proc)
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
