"""A real worker process killed with SIGKILL (as the kernel's OOM killer would) in the middle of
a training job, on the embedded broker: the job is delivered again, restarts from scratch and
finishes once, registering one model version whose weights are those of an undisturbed run."""

import pytest

from registry import services, tracking
from registry.models import JobStatus, ModelVersion, TrainingJob
from registry.services.registration import experiment_for
from tests.faults.conftest import wait_until
from tests.registry.conftest import _mlflow_template, default_weights, mlflow_store  # noqa: F401
from tests.registry.helpers import TINY_PARAMS, sim_support_set

pytestmark = [pytest.mark.integration]

# epochs enough that the kill lands after one epoch's progress update and before the last
PARAMS = {**TINY_PARAMS, "epochs": 4, "episodes_per_epoch": 4}


@pytest.fixture
def training(worker, world, mlflow_store, settings):  # noqa: F811
    """The worker, on the test's MLflow store, and a frozen support set to train on."""
    services.registry_init()
    support = sim_support_set(world.curator, world.dataset())
    env = {
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "MLFLOW_ARTIFACT_ROOT": settings.MLFLOW_ARTIFACT_ROOT,
        "CHIPLAB_MODEL_CACHE_DIR": settings.CHIPLAB_MODEL_CACHE_DIR,
    }
    return worker, env, support


def _create(world, support) -> TrainingJob:
    return services.training_job_create(
        user=world.curator, lab=world.lab, support_set_version_ids=[support.pk], params=PARAMS
    )


def _get(job) -> TrainingJob:
    return TrainingJob.objects.select_related("result_version").get(pk=job.pk)


def _mid_training(job) -> bool:
    row = _get(job)
    return row.status == JobStatus.RUNNING and row.attempts == 1 and 0.1 < row.progress < 0.9


def _finished(worker, job) -> TrainingJob:
    try:
        wait_until(lambda: _get(job).status in {"succeeded", "failed"}, timeout=300, what="end")
    except AssertionError:
        pytest.fail(worker.log())
    return _get(job)


def _scores(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_a_training_whose_worker_process_is_killed_finishes_once_with_the_undisturbed_result(
    training, world
):
    worker, env, support = training
    worker.start(**env)
    reference = _finished(worker, _create(world, support))  # undisturbed, in the same worker
    assert reference.status == "succeeded", reference.error

    job = _create(world, support)
    wait_until(lambda: _mid_training(job), timeout=120, what="the training to be mid-way")
    worker.kill_child()
    job = _finished(worker, job)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2  # killed once, delivered again, finished
    # once: one new version, from this job's second run; the killed run was closed as failed
    versions = ModelVersion.objects.filter(lab=world.lab).exclude(pk=reference.result_version_id)
    assert list(versions) == [job.result_version]
    assert job.result_version.aliases == ["challenger"]
    runs = tracking.client().search_runs(
        [tracking.experiment_id(experiment_for(world.lab))],
        filter_string=f"tags.`chiplab.training_job` = '{job.pk}'",
    )
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    # the same result as the undisturbed run: the same weights, history and held-out scores
    assert job.result_version.weights_sha256 == reference.result_version.weights_sha256
    # one history: the base encoder's scores (epoch 0) and each epoch's, not the lost run's too
    assert [h["epoch"] for h in job.history] == list(range(PARAMS["epochs"] + 1))
    assert _scores(job.history) == _scores(reference.history)
    assert (
        job.result_version.metrics["holdout_acc"] == reference.result_version.metrics["holdout_acc"]
    )
