"""The Redis broker restarts during activity, with a live API server (gunicorn) and a real
worker on a private ``redis-server``: a job running meanwhile finishes once, a job submitted
while Redis is down is kept in the database and delivered once Redis is back (the API
answers at once), and the server and the worker recover by themselves."""

import time

import pytest

from accounts.services import token_create
from analysis.models import SegmentationJob
from common.models import PendingTask
from tests.faults.conftest import wait_until
from tests.faults.processes import RedisServer, WebServer
from tests.faults.test_dependencies_down import PROMPT_SECONDS
from tests.faults.test_worker_death import _get, _running, _same_result

pytestmark = [pytest.mark.integration]


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def _submit(server, headers, scene) -> SegmentationJob:
    started = time.monotonic()
    response = server.session.post(
        f"{server.url}/api/segmentation-jobs/",
        json={"images": [str(scene["image"].pk)], "support_set": str(scene["version"].pk)},
        headers=headers,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text
    assert elapsed < PROMPT_SECONDS, f"answered after {elapsed:.1f} s"
    return SegmentationJob.objects.get(pk=response.json()["id"])


def test_jobs_survive_a_redis_restart_and_everything_recovers_by_itself(
    worker, world, scene, redis, tmp_path
):
    # the broker and, as in production, the shared cache (throttles) on the one Redis
    broker = {"CELERY_BROKER_URL": redis.url, "CHIPLAB_CACHE_URL": redis.url[:-1] + "1"}
    worker.start(CHIPLAB_PENDING_SEND_SECONDS=0.5, **broker)
    server = WebServer(
        {k: v for k, v in worker.env.items() if k.isupper()} | broker, tmp_path / "web.log"
    )
    _token, key = token_create(user=world.annotator, name="faults")
    headers = {"Authorization": f"Token {key}"}
    try:
        reference = _submit(server, headers, scene)  # undisturbed
        wait_until(lambda: _get(reference).is_finished, timeout=120, what="the first job")
        running = _submit(server, headers, scene)
        wait_until(lambda: _running(running, attempts=1), timeout=90, what="the job to start")

        redis.stop()  # Redis restarts while the job runs
        assert not _get(running).is_finished, "the job ended before Redis went down"
        waiting = _submit(server, headers, scene)  # submitted while it is down: kept
        assert PendingTask.objects.filter(args=[str(waiting.pk)]).exists()
        listed = server.session.get(f"{server.url}/api/segmentation-jobs/", headers=headers)
        assert listed.status_code == 200  # the rest of the API is up meanwhile
        time.sleep(1)  # Redis stays down a moment, as in a restart (an outage, not a wait)
        redis.start()

        wait_until(
            lambda: _get(running).is_finished and _get(waiting).is_finished,
            timeout=180,
            what="both jobs to finish",
        )
        assert not PendingTask.objects.exists()
        # after the restart: sent straight away again, by the same server process
        after = _submit(server, headers, scene)
        assert not PendingTask.objects.exists()
        wait_until(lambda: _get(after).is_finished, timeout=120, what="a job sent after")
    except AssertionError as err:
        pytest.fail(f"{err}\n--- worker\n{worker.log()}\n--- web\n{server.log()}\n{redis.log()}")
    finally:
        server.stop()
    assert _get(reference).status == "succeeded"
    for job in (running, waiting, after):
        job = _get(job)
        assert job.status == "succeeded", job.error
        _same_result(job, reference)  # once: one result per frame
    assert _get(running).attempts == 1  # ran once: not run again after the restart
    assert _get(waiting).attempts == 1
