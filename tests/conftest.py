"""Shared fixtures: users in labs with roles, API clients, and the real services."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Role
from tests.common.held_jobs import held_jobs
from tests.factories import DatasetFactory, LabFactory, MembershipFactory, UserFactory
from tests.support.services import (
    IN_CI,
    ROOT,
    database_url,
    free_port,
    start_moto,
    stop,
    wait_http,
)
from tests.support.waits import wait_for
from tests.support.worker import LentWorker

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


# --- people and labs ---------------------------------------------------------------
class LabWorld:
    """A lab with one user per role, and an outsider who belongs to another lab."""

    def __init__(self):
        self.lab = LabFactory()
        self.users = {}
        for role in Role:
            self.users[role.value] = MembershipFactory(lab=self.lab, role=role).user
        self.other_lab = LabFactory()
        self.outsider = MembershipFactory(lab=self.other_lab, role=Role.OWNER).user

    def __getattr__(self, role):
        try:
            return self.users[role]
        except KeyError as err:
            raise AttributeError(role) from err

    def dataset(self, **kwargs):
        kwargs.setdefault("created_by", self.users["curator"])
        return DatasetFactory(lab=self.lab, **kwargs)


@pytest.fixture
def world(db):
    return LabWorld()


@pytest.fixture
def client_for():
    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def user(db):
    return UserFactory()


# --- object storage ----------------------------------------------------------------
def _ensure_bucket(endpoint, access, secret, bucket, region="us-east-1"):
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=region,
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    return s3


@pytest.fixture(scope="session", autouse=True)
def _configured_bucket():
    """In services mode the suite's bucket must exist on the configured S3 server."""
    if settings.CHIPLAB_STORAGE == "s3":
        opts = settings.STORAGES["default"]["OPTIONS"]
        _ensure_bucket(
            opts["endpoint_url"], opts["access_key"], opts["secret_key"], opts["bucket_name"]
        )


@pytest.fixture
def local_storage(settings, tmp_path):
    """Point Django's default storage at a local folder for one test."""
    settings.CHIPLAB_STORAGE = "local"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": str(tmp_path / "objects"),
                "base_url": None,
                "allow_overwrite": True,
            },
        },
    }
    return tmp_path / "objects"


@pytest.fixture(scope="session")
def s3_endpoint():
    """The S3 server: the configured one (CI) or a moto server started here."""
    if settings.CHIPLAB_STORAGE == "s3":
        yield settings.STORAGES["default"]["OPTIONS"]["endpoint_url"]
        return
    proc, url = start_moto()
    yield url
    stop(proc)


@pytest.fixture
def s3_storage(s3_endpoint, settings):
    """Point Django's default storage at the S3 server for one test."""
    bucket = "chiplab-test"
    _ensure_bucket(s3_endpoint, "test", "test", bucket)
    settings.CHIPLAB_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "endpoint_url": s3_endpoint,
                "access_key": "test",
                "secret_key": "test",
                "bucket_name": bucket,
                "region_name": "us-east-1",
                "querystring_auth": True,
                "querystring_expire": 120,
                "file_overwrite": True,
                "max_memory_size": settings.S3_MAX_MEMORY_SIZE,
                "signature_version": "s3v4",
                "addressing_style": "path",
                "default_acl": None,
            },
        },
    }
    return s3_endpoint


# --- a real MLflow server (integration) ----------------------------------------------
def _postgres_backend() -> str | None:
    """A dedicated database on the CI Postgres server, recreated empty."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return None
    import psycopg

    name = f"{db['NAME']}_mlflow"  # one per test database: parallel runs do not collide
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
def mlflow_address():
    """Where the session's MLflow server listens once a test asks for it (``mlflow_server``):
    fixed at the start, so that the Celery worker knows it without waiting for a server."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, s3_endpoint, mlflow_address):
    """`mlflow server` at ``mlflow_address`` (SQL backend, artifacts proxied to S3); sets
    os.environ for this process (the worker was given the address when it started)."""
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
    port = int(mlflow_address.rsplit(":", 1)[1])
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
    url = mlflow_address
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


# --- a real Celery worker process --------------------------------------------------
@pytest.fixture(scope="session")
def _session_worker(django_db_setup, django_db_blocker, mlflow_address):
    """The session's `celery worker` process on the test database, idle until lent."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CHIPLAB_DATA_DIR": str(settings.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "MLFLOW_TRACKING_URI": mlflow_address,
        # no rounds of its own (kept messages, expired uploads): the faults tests keep
        # messages in this database for workers on brokers of their own
        "CHIPLAB_WORKER_HOUSEKEEPING": "false",
    }
    log_path = Path(settings.DATA_DIR) / "test-worker.log"
    try:
        worker = LentWorker.start(env=env, log_path=log_path, name=f"test-{os.getpid()}")
    except RuntimeError as err:
        pytest.fail(str(err))
    yield worker
    stop(worker.proc)


@pytest.fixture
def celery_worker(transactional_db, _session_worker):
    """A real Celery worker taking this test's jobs, and only this test's (see
    tests.support.worker): the queues are emptied before, and after the test its jobs are
    finished or dropped before the database is flushed."""
    _session_worker.lend()
    yield _session_worker.proc
    try:
        _session_worker.take_back()
    except (AssertionError, RuntimeError) as err:
        pytest.fail(f"{err}\n{_session_worker.log_path.read_text()[-3000:]}")


@pytest.fixture
def wait():
    return wait_for


@pytest.fixture
def hold_jobs():
    """``hold_jobs(*task paths)``: jobs of those tasks (all when none are named) are kept from
    the workers until ``.release()`` (see tests.common.held_jobs)."""
    with contextlib.ExitStack() as stack:
        yield lambda *tasks: stack.enter_context(held_jobs(*tasks))
