"""common.runner: the one job-runner pattern (lock -> running -> cancel check -> finish/fail ->
side effects after commit), on a real job row (a training job; the work is the test's)."""

import pytest
from django.db import OperationalError, transaction

from common.errors import Invalid
from common.jobs import JobStatus
from common.runner import cancel_check, job_end, job_run
from registry.models import TrainingJob
from tests.factories.registry import fourier_champion


@pytest.fixture
def new_job(world):
    base = fourier_champion()

    def make(**fields) -> TrainingJob:
        return TrainingJob.objects.create(
            lab=world.lab, base_version=base, model_name="m", **fields
        )

    return make


def _status(job) -> str:
    return TrainingJob.objects.values_list("status", flat=True).get(pk=job.pk)


@pytest.mark.parametrize("status", [JobStatus.CANCELLED, JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_a_finished_or_cancelled_job_is_not_run(new_job, status):
    job = new_job(status=status)
    ran = []
    assert job_run(TrainingJob, job.pk, ran.append, subject="job") is None
    assert ran == []
    assert _status(job) == status


def test_a_queued_job_runs_marked_running_and_a_redelivery_keeps_its_start(new_job):
    job = new_job()
    seen = []
    done = job_run(TrainingJob, job.pk, lambda j: seen.append(_status(j)), subject="job")
    assert seen == [JobStatus.RUNNING]
    assert done.pk == job.pk and done.started is not None
    first_start = TrainingJob.objects.get(pk=job.pk).started
    job_run(TrainingJob, job.pk, lambda j: None, subject="job")  # delivered again, still running
    assert TrainingJob.objects.get(pk=job.pk).started == first_start


def _raise(err):
    def work(job):
        raise err

    return work


def test_a_failure_is_recorded_with_its_reason(new_job):
    job = new_job()
    job_run(TrainingJob, job.pk, _raise(MemoryError()), subject="job")
    row = TrainingJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.FAILED and row.finished is not None
    assert row.error.startswith("Out of memory: the job needed more than a worker process may use")

    refused = new_job()
    recorded = []
    job_run(
        TrainingJob,
        refused.pk,
        _raise(Invalid("Label at least two classes.", code="few_classes")),
        subject="job",
        refused=(Invalid,),
        fail=lambda job, reason, code: recorded.append((reason, code)),
    )
    assert recorded == [("Label at least two classes.", "few_classes")]  # the user's words


def test_a_transient_error_propagates_and_leaves_the_job_running(new_job):
    job = new_job()
    with pytest.raises(OperationalError):
        job_run(TrainingJob, job.pk, _raise(OperationalError("gone")), subject="job")
    assert _status(job) == JobStatus.RUNNING  # the task retries; the next delivery resumes


def test_a_cancel_stops_the_work_and_is_never_overwritten(new_job):
    job = new_job()
    steps, ended = [], []

    def work(j):
        steps.append(1)
        TrainingJob.objects.filter(pk=j.pk).update(status=JobStatus.CANCELLED)  # the user cancels
        cancel_check(TrainingJob, j.pk)
        steps.append(2)

    job_run(TrainingJob, job.pk, work, subject="job", cancelled=ended.append)
    assert steps == [1] and [j.pk for j in ended] == [job.pk]
    assert not job_end(TrainingJob, job.pk, status=JobStatus.SUCCEEDED, effects=[steps.append])
    assert _status(job) == JobStatus.CANCELLED and steps == [1]


@pytest.mark.django_db(transaction=True)
def test_side_effects_run_only_after_commit_and_only_for_a_change(new_job):
    job, told = new_job(status=JobStatus.RUNNING), []
    with transaction.atomic():
        assert job_end(
            TrainingJob, job.pk, status=JobStatus.SUCCEEDED, effects=[lambda: told.append(1)]
        )
        assert told == []  # nothing is told about a row not yet committed
    assert told == [1]
    assert _status(job) == JobStatus.SUCCEEDED

    other = new_job(status=JobStatus.RUNNING)
    with pytest.raises(RuntimeError), transaction.atomic():
        job_end(TrainingJob, other.pk, status=JobStatus.FAILED, effects=[lambda: told.append(2)])
        raise RuntimeError("rolled back")
    assert told == [1] and _status(other) == JobStatus.RUNNING
    # a row finished already is not changed: no effects
    assert not job_end(
        TrainingJob, job.pk, status=JobStatus.FAILED, effects=[lambda: told.append(3)]
    )
    assert told == [1]
