"""The database or the object store goes down under a live API server (gunicorn, a real
process): requests answer 503 with a clear JSON body (not 500, not a hang), nothing is
half-stored, and the server recovers by itself once the service is back.

"Down" is a TCP proxy in front of the real service (``tests.faults.processes.TcpProxy``)
that stops listening and resets every open connection, then listens again: a restarted
Postgres or S3 server as the application sees it, without a private Postgres cluster, and
with the object store's contents kept so that orphans can be looked for."""

import time

import boto3
import numpy as np
import pytest

from accounts.services import token_create
from catalog.models import Dataset, Image
from tests.faults.processes import TcpProxy, WebServer
from tests.support.micrographs import tiff_bytes
from tests.support.services import database_url, start_moto, stop

pytestmark = [pytest.mark.integration]

#: a request while a service is down is answered within this (the 503 is not a hang)
PROMPT_SECONDS = 15


def _env(tmp_path, **extra) -> dict:
    """The server's settings: the test database, and a private embedded broker (the jobs it
    enqueues are not for the suite's workers)."""
    from django.conf import settings

    return {
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CHIPLAB_DATA_DIR": str(settings.DATA_DIR),
        "CELERY_BROKER_URL": "filesystem://",
        "CHIPLAB_BROKER_DIR": str(tmp_path / "broker"),
        **extra,
    }


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def start(**env) -> WebServer:
        server = WebServer(_env(tmp_path, **env), tmp_path / f"web-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _auth(user) -> dict:
    _token, key = token_create(user=user, name="faults")
    return {"Authorization": f"Token {key}"}


def _unavailable(response, code: str) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert "unavailable" in error["message"] and "try again" in error["message"].lower()
    assert int(response.headers["Retry-After"]) > 0


def _timed(call):
    started = time.monotonic()
    response = call()
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT_SECONDS, f"answered after {elapsed:.1f} s"
    return response


# --- the database ----------------------------------------------------------------------
def test_database_down_answers_503_and_the_server_recovers_by_itself(
    transactional_db, world, server_factory
):
    from django.conf import settings

    db = settings.DATABASES["default"]
    proxy = TcpProxy(int(db["PORT"] or 5432)).start()
    name = db["NAME"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    server = server_factory(DATABASE_URL=f"postgres://{auth}@{proxy.url}/{name}")
    headers = _auth(world.curator)
    lab = str(world.lab.pk)
    public = world.dataset(visibility="public", title="A public set")
    http = server.session
    try:
        before = http.get(f"{server.url}/api/datasets/", headers=headers, timeout=30)
        assert before.status_code == 200, before.text  # a persistent connection is open now

        proxy.stop()  # Postgres goes down: connections reset, new ones refused
        # the open connection breaks in the middle of the request
        _unavailable(
            _timed(lambda: http.get(f"{server.url}/api/datasets/", headers=headers, timeout=60)),
            "database_unavailable",
        )
        # a new connection is refused; a write is refused the same way
        created = _timed(
            lambda: http.post(
                f"{server.url}/api/datasets/",
                json={"lab": lab, "title": "written while the database was down"},
                headers=headers,
                timeout=60,
            )
        )
        _unavailable(created, "database_unavailable")
        # a page outside the API (a public dataset's landing page): 503 too, as text
        page = _timed(lambda: http.get(f"{server.url}/datasets/{public.pk}/", timeout=60))
        assert page.status_code == 503, page.status_code
        assert page.text.startswith("The database is unavailable")

        proxy.start()  # back: the very next request works, nothing restarted
        after = http.get(f"{server.url}/api/datasets/", headers=headers, timeout=30)
        assert after.status_code == 200, after.text
        assert after.json()["count"] == before.json()["count"]
        made = http.post(
            f"{server.url}/api/datasets/",
            json={"lab": lab, "title": "written after"},
            headers=headers,
            timeout=30,
        )
        assert made.status_code == 201, made.text
    finally:
        proxy.stop()
    titles = set(Dataset.objects.values_list("title", flat=True))
    assert "written after" in titles
    assert "written while the database was down" not in titles


# --- the object store ------------------------------------------------------------------
BUCKET = "faults-upload"


@pytest.fixture
def s3_behind_proxy(server_factory):
    """A private moto server, the API server reaching it through a proxy; (server, proxy,
    boto3 client straight to moto)."""
    proc, url = start_moto()
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    proxy = TcpProxy(int(url.rsplit(":", 1)[1])).start()
    server = server_factory(
        CHIPLAB_STORAGE="s3",
        S3_ENDPOINT_URL=f"http://{proxy.url}",
        S3_PUBLIC_ENDPOINT_URL="",
        S3_ACCESS_KEY="test",
        S3_SECRET_KEY="test",
        S3_BUCKET=BUCKET,
        S3_REGION="us-east-1",
    )
    yield server, proxy, s3
    proxy.stop()
    stop(proc)


def _objects(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return [o["Key"] for o in listed]


def _micrograph(seed: int) -> bytes:
    """~3.9 MB of incompressible 16-bit pixels (one S3 PUT, under the multipart threshold)."""
    pixels = np.random.default_rng(seed).integers(0, 65535, (1400, 1400), dtype=np.uint16)
    return tiff_bytes(pixels)


def _upload(server, dataset, headers, data: bytes, name: str):
    return server.session.post(
        f"{server.url}/api/datasets/{dataset.pk}/images/",
        files={"file": (name, data, "image/tiff")},
        headers=headers,
        timeout=120,
    )


def test_object_store_down_during_an_upload_is_a_503_with_nothing_half_stored(
    transactional_db, world, s3_behind_proxy
):
    server, proxy, s3 = s3_behind_proxy
    dataset = world.dataset()
    headers = _auth(world.curator)
    data = _micrograph(1)

    # the store dies in the middle of receiving the original (1 MB of 3.9 MB sent)
    proxy.sent, proxy.cut_after = 0, 1024**2
    cut = _timed(lambda: _upload(server, dataset, headers, data, "cut.tif"))
    _unavailable(cut, "storage_unavailable")
    assert not proxy.up
    # and while it stays down
    _unavailable(
        _timed(lambda: _upload(server, dataset, headers, _micrograph(2), "down.tif")),
        "storage_unavailable",
    )
    assert not Image.objects.filter(dataset=dataset).exists()  # no row without its object

    proxy.start()
    assert _objects(s3) == []  # no object without its row (nor a part of one)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []

    # back: the same file uploads, stored whole, with its row
    done = _upload(server, dataset, headers, data, "cut.tif")
    assert done.status_code == 201, done.text
    image = Image.objects.get(dataset=dataset)
    assert _objects(s3) == [image.original_key]
    stored = s3.get_object(Bucket=BUCKET, Key=image.original_key)["Body"].read()
    assert stored == data
