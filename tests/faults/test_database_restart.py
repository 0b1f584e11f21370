"""Postgres restarts while a real worker runs a job (the worker reaches the database through a
TCP proxy that goes down and comes back, ``tests.faults.processes.TcpProxy``): the running job
and one sent while the database is down both finish, once each, with the undisturbed result;
nothing is lost and the worker recovers by itself."""

import pytest
from django.conf import settings

from tests.faults.conftest import wait_until
from tests.faults.processes import TcpProxy
from tests.faults.test_worker_death import _get, _job, _running, _same_result
from tests.support.segmentation import segmentation_run

pytestmark = [pytest.mark.integration]


def _through(proxy: TcpProxy) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{proxy.url}/{db['NAME']}"


def test_jobs_survive_a_database_restart_and_the_worker_recovers_by_itself(worker, world, scene):
    reference = _job(world, scene)
    segmentation_run(job_id=reference.pk)  # undisturbed, in this process
    proxy = TcpProxy(int(settings.DATABASES["default"]["PORT"] or 5432)).start()
    try:
        worker.start(DATABASE_URL=_through(proxy))
        running = _job(world, scene)
        wait_until(lambda: _running(running, attempts=1), timeout=60, what="the job to start")
        proxy.stop()  # the database goes down: the worker's connection is reset
        waiting = _job(world, scene)  # sent while the worker cannot reach the database
        wait_until(
            lambda: "OperationalError" in worker.log(),
            timeout=120,
            what="the worker to meet the database down",
        )
        proxy.start()  # back, with what it held
        try:
            wait_until(
                lambda: _get(running).is_finished and _get(waiting).is_finished,
                timeout=240,
                what="both jobs to finish",
            )
        except AssertionError:
            pytest.fail(worker.log())
    finally:
        proxy.stop()
    for job in (running, waiting):
        job = _get(job)
        assert job.status == "succeeded", (job.error, worker.log())
        _same_result(job, reference)  # once: one result per frame, as undisturbed
