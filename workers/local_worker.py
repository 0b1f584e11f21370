"""Start a Celery worker process on this machine and wait until it is ready.

Used by the test suite and the API benchmark; `infra/run-embedded.sh` starts the same worker.
"""

import subprocess
import sys
import time
from pathlib import Path

from workers.celery_app import QUEUES

ROOT = Path(__file__).resolve().parents[1]


def start_worker(
    *,
    env: dict,
    log_path: Path,
    name: str,
    concurrency: int = 2,
    timeout: float = 120,
    queues: tuple[str, ...] = QUEUES,
) -> subprocess.Popen:
    """A `celery worker` consuming ``queues`` (every job queue unless told); RuntimeError if it
    is not ready in time."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery_app",
                "worker",
                "-Q",
                ",".join(queues),
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while "ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"Celery worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc
