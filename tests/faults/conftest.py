"""Fixtures of the fault tests: real worker processes that the tests start, kill and restart."""

import contextlib
import functools
import os
import signal
from pathlib import Path

import pytest
from django.conf import settings

from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth
from tests.conftest import wait_for
from tests.factories import fourier_champion
from tests.support.services import database_url, stop
from workers.local_worker import start_worker


def _children(pid: int) -> list[int]:
    """The pids of a process's live children, forked by any of its threads (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


class Worker:
    """A `celery worker` (prefork) on the test database and broker, which a test may kill."""

    def __init__(self, log_dir: Path, env: dict):
        self.log_dir = log_dir
        self.env = env
        self.proc = None
        self.starts = 0

    def start(self, *, concurrency: int = 1, **env) -> "Worker":
        self.starts += 1
        log_path = self.log_dir / f"worker-{self.starts}.log"
        self.proc = start_worker(
            env={**self.env, **{k: str(v) for k, v in env.items()}},
            log_path=log_path,
            name=f"faults-{os.getpid()}-{self.starts}",
            concurrency=concurrency,
            timeout=90,
        )
        return self

    def children(self) -> list[int]:
        return _children(self.proc.pid)

    def kill_child(self) -> int:
        """SIGKILL the pool process (as the kernel's OOM killer would); its pid."""
        (pid,) = self.children()
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self) -> None:
        """SIGKILL the whole worker: the main process and its pool."""
        children = self.children()
        self.proc.kill()
        self.proc.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def log(self) -> str:
        return "\n".join(p.read_text()[-4000:] for p in sorted(self.log_dir.glob("worker-*.log")))


@contextlib.contextmanager
def _private_broker(folder: Path):
    """This process sends tasks to an embedded (filesystem) broker in ``folder`` for a while.

    The faults are those of the embedded install, and a worker of the session (the
    ``celery_worker`` fixture, on Redis in CI) must not take the jobs these tests kill."""
    from workers.celery_app import app

    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    keys = ("broker_url", "broker_write_url", "broker_read_url", "broker_transport_options")
    saved = {key: app.conf[key] for key in keys}
    saved_settings = (settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    # the connection and producer pools are made from the broker settings once: set them
    # aside (not closed: kombu's producer pools stay registered under their connection) and
    # let private ones be made, then put the originals back
    saved_pools = (app._pool, app.amqp._producer_pool)
    app._pool = app.amqp._producer_pool = None
    private = {**saved["broker_transport_options"], **options}
    app.conf.update(dict.fromkeys(keys[:3], "filesystem://"), broker_transport_options=private)
    settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS = "filesystem://", private
    try:
        yield
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool, app.amqp._producer_pool = saved_pools
        app.conf.update(saved)
        settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS = saved_settings


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A worker to start (``worker.start()``), kill and start again; stopped after the test.

    It and this process use a private embedded broker (``_private_broker``)."""
    folder = tmp_path / "broker"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CHIPLAB_DATA_DIR": str(settings.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CELERY_BROKER_URL": "filesystem://",
        "CHIPLAB_BROKER_DIR": str(folder),
    }
    w = Worker(tmp_path, env)
    with _private_broker(folder):
        yield w
        w.stop()


#: the suite's poll, finer: a job's short running window must be caught before it ends
wait_until = functools.partial(wait_for, interval=0.02)


@pytest.fixture
def scene(world):
    """A 1024 x 1024 px, two-frame image with a frozen support set: a job of about 2 s."""
    from labeling.services import support_set_freeze

    fourier_champion()
    image, s = upload_ready_image(world, size=(1024, 1024), frames=2)
    schema, classes, grid = labelled_schema(world, image, s)
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    version = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    return {"image": image, "version": version}
