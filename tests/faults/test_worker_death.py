"""Real worker processes killed with SIGKILL (as the kernel's OOM killer would) in the middle
of a segmentation job, on the embedded broker: the job is delivered again and finishes once
with the result of an undisturbed run, or, when it kills every worker it is given, fails with
the reason after ``CHIPLAB_JOB_MAX_ATTEMPTS`` deliveries."""

import numpy as np
import pytest

from analysis import artefacts
from analysis.models import SegmentationJob, SegmentationResult
from analysis.services import segmentation_job_create
from tests.faults.conftest import wait_until
from tests.support.segmentation import segmentation_run

pytestmark = [pytest.mark.integration]


def _job(world, scene) -> SegmentationJob:
    return segmentation_job_create(
        user=world.annotator,
        images=[str(scene["image"].pk)],
        support_set=str(scene["version"].pk),
    )


def _get(job) -> SegmentationJob:
    return SegmentationJob.objects.get(pk=job.pk)


def _arrays(job) -> list[dict]:
    results = SegmentationResult.objects.filter(job=job).order_by("frame")
    return [
        {"frame": r.frame, "fractions": r.fractions, **artefacts.npz_load(r.arrays_key)}
        for r in results
    ]


def _same_result(job, reference) -> None:
    got, want = _arrays(job), _arrays(reference)
    assert [r["frame"] for r in got] == [0, 1]  # once: one result per frame, no duplicates
    for g, w in zip(got, want, strict=True):
        assert g["fractions"] == w["fractions"]
        np.testing.assert_array_equal(g["labels"], w["labels"])
        np.testing.assert_array_equal(g["probs"], w["probs"])


def _running(job, *, attempts: int) -> bool:
    row = _get(job)
    return row.status == "running" and row.attempts == attempts


def test_a_job_whose_worker_process_is_killed_finishes_once_with_the_undisturbed_result(
    worker, world, scene
):
    reference = _job(world, scene)
    segmentation_run(job_id=reference.pk)  # undisturbed, in this process
    worker.start()
    job = _job(world, scene)
    wait_until(lambda: _running(job, attempts=1), timeout=60, what="the job to start")
    wait_until(  # past loading the model: into the embedding / classification
        lambda: _running(job, attempts=1) and _get(job).stage not in ("", "Loading the model"),
        timeout=60,
        what="the job to start embedding",
    )
    worker.kill_child()
    try:
        wait_until(lambda: _get(job).is_finished, timeout=180, what="the job to finish")
    except AssertionError:
        pytest.fail(worker.log())
    job = _get(job)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    _same_result(job, reference)
    # the undisturbed job's message, waiting in the queue since, was delivered and skipped
    assert _get(reference).attempts == 0


def test_work_lost_with_a_killed_worker_is_sent_again_when_it_restarts(worker, world, scene):
    """The whole worker killed (main process and pool): the message it held is gone from the
    embedded broker; the restarted worker finds the job on its row and runs it."""
    reference = _job(world, scene)
    segmentation_run(job_id=reference.pk)
    worker.start()
    running = _job(world, scene)
    wait_until(lambda: _running(running, attempts=1), timeout=60, what="the job to start")
    worker.kill()
    waiting = _job(world, scene)  # sent while no worker runs: waits in the queue folder
    worker.start()
    try:
        wait_until(
            lambda: _get(running).is_finished and _get(waiting).is_finished,
            timeout=180,
            what="both jobs to finish",
        )
    except AssertionError:
        pytest.fail(worker.log())
    for job in (running, waiting):
        job = _get(job)
        assert job.status == "succeeded", job.error
        _same_result(job, reference)
    assert _get(running).attempts == 2
    assert _get(waiting).attempts == 1
    assert "was lost with a previous worker: enqueued again" in worker.log()


def test_a_job_that_kills_every_worker_it_is_given_fails_with_the_reason(worker, world, scene):
    worker.start(CHIPLAB_JOB_MAX_ATTEMPTS=2)
    job = _job(world, scene)
    for attempt in (1, 2):
        wait_until(lambda a=attempt: _running(job, attempts=a), timeout=90, what="a delivery")
        worker.kill_child()
    try:
        wait_until(lambda: _get(job).is_finished, timeout=90, what="the job to fail")
    except AssertionError:
        pytest.fail(worker.log())
    job = _get(job)
    assert job.status == "failed"
    assert job.attempts == 2
    assert "worker process died 2 times" in job.error
    assert not SegmentationResult.objects.filter(job=job).exists()
    # the worker serves the next job
    after = _job(world, scene)
    wait_until(lambda: _get(after).is_finished, timeout=90, what="the next job")
    assert _get(after).status == "succeeded"
    # and still obeys a warm shutdown (SIGTERM): it exits by itself, cleanly
    worker.proc.terminate()
    assert worker.proc.wait(timeout=60) == 0, worker.log()


def _data_mib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115
        if line.startswith("VmData:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmData")


def test_an_allocation_past_the_memory_cap_is_a_recorded_error(worker, world, scene):
    """The pool process's data is capped: a job needing more fails with the reason, and
    neither the kernel's OOM killer nor a requeue loop is involved."""
    worker.start()
    (child,) = worker.children()
    baseline = _data_mib(child)
    worker.stop()
    # one OpenMP thread: under so tight a cap libgomp cannot create its threads and ends the
    # process (exit 1) wherever the first parallel region runs, the warm-up's included
    worker.start(CHIPLAB_WORKER_MAX_MEMORY_MB=baseline + 40, OMP_NUM_THREADS=1)
    job = _job(world, scene)
    try:
        wait_until(lambda: _get(job).is_finished, timeout=120, what="the job to end")
    except AssertionError:
        pytest.fail(worker.log())
    job = _get(job)
    assert job.status == "failed"
    # numpy raises MemoryError, torch a RuntimeError "can't allocate memory": both recorded
    assert "memory" in job.error.lower(), job.error
    assert job.attempts == 1
    assert len(worker.children()) == 1  # the process lived on
