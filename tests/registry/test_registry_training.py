"""Training jobs run in-process against a local MLflow store (the task is a thin wrapper)."""

import pytest

from catalog.models import Visibility
from common.errors import Conflict, Forbidden, Invalid, NotFound
from registry import selectors, services, tracking
from registry.models import JobStatus, ModelVersion
from tests.registry.helpers import TINY_PARAMS, sim_support_set


@pytest.fixture
def support(mlflow_store, world, django_capture_on_commit_callbacks):
    services.registry_init()
    return sim_support_set(world.curator, world.dataset())


def _create(world, support, **kw):
    return services.training_job_create(
        user=world.curator,
        lab=world.lab,
        support_set_version_ids=[support.pk],
        params=TINY_PARAMS,
        **kw,
    )


def test_training_registers_a_challenger_with_lineage_and_history(
    world, support, settings, django_capture_on_commit_callbacks
):
    job = _create(world, support)
    assert job.status == JobStatus.QUEUED and job.base_version.name == "chiplab-default"
    with django_capture_on_commit_callbacks(execute=True):  # MLflow's alias is set on commit
        job = services.training_job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = job.result_version
    assert version.name == f"{world.lab.slug}.default-finetuned" and version.version == 1
    assert version.aliases == ["challenger"] and version.lab == world.lab
    assert [h["epoch"] for h in job.history] == [0, 1, 2]
    assert job.progress == 1.0 and set(job.timings) >= {"train", "evaluate", "total"}
    assert 0 <= version.metrics["holdout_acc"] <= 1
    assert "champion_holdout_acc" in job.metrics  # champion scored on the same episodes
    images = version.lineage["images"]
    assert len(images) == 2 and all(len(i["sha256"]) == 64 for i in images)
    assert version.lineage["licences"] == ["CC-BY-4.0"]
    assert version.lineage["code_version"]  # the same code version jobs record
    split = version.lineage["split"]  # the share actually held out, not only the one asked for
    assert split["holdout_share"] == pytest.approx(
        split["holdout_chips"] / (split["train_chips"] + split["holdout_chips"]), abs=1e-3
    )
    assert version.card["trained_on"].startswith("1 support-set version")
    assert version.card["data_licences"] == ["CC-BY-4.0"]
    # the public champion's metrics do not receive another lab's evaluation
    assert "evaluations" not in ModelVersion.objects.get(name="chiplab-default").metrics
    c = tracking.client()
    run = c.get_run(job.mlflow_run_id)
    assert run.data.params["support_set_versions"] == str(support.pk)
    assert len(c.get_metric_history(job.mlflow_run_id, "holdout_acc")) >= 3
    assert int(c.get_model_version_by_alias(version.name, "challenger").version) == 1
    # the fine-tuned encoder loads back from MLflow artifacts
    services.encoder_cache_clear()
    enc = services.encoder_load(model_version=version, device="cpu")
    assert enc.name == "default"
    # promote -> the lab uses it; a second run is evaluated against it and can auto-promote
    services.model_version_promote(user=world.curator, version=version)
    assert selectors.model_version_resolve(user=world.viewer, lab=world.lab) == version
    settings.CHIPLAB_AUTO_PROMOTE_MARGIN = -1.0  # any result is promoted
    job2 = services.training_job_run(job_id=_create(world, support, base_version_id=version.pk).pk)
    assert job2.status == JobStatus.SUCCEEDED, job2.error
    assert job2.metrics["champion"]["id"] == str(version.pk) and job2.metrics["auto_promoted"]
    version.refresh_from_db()
    assert version.metrics["evaluations"][-1]["role"] == "champion"
    assert selectors.model_version_resolve(user=world.viewer, lab=world.lab) == job2.result_version
    assert services.model_rollback(user=world.curator, name=version.name) == version


def test_cancel_queued_and_running(world, support):
    job = _create(world, support)
    with pytest.raises(Forbidden):
        services.training_job_cancel(user=world.annotator, job=job)
    with pytest.raises(NotFound):
        services.training_job_cancel(user=world.outsider, job=job)
    job = services.training_job_cancel(user=world.curator, job=job)
    assert job.status == JobStatus.CANCELLED and job.finished
    assert services.training_job_run(job_id=job.pk).result_version is None  # skipped
    with pytest.raises(Conflict):
        services.training_job_cancel(user=world.curator, job=job)


def test_create_validates_inputs(world, support):
    fourier = ModelVersion.objects.get(name="chiplab-fourier")
    with pytest.raises(Invalid):
        _create(world, support, base_version_id=fourier.pk)
    with pytest.raises(Forbidden):
        services.training_job_create(
            user=world.annotator, lab=world.lab, support_set_version_ids=[support.pk]
        )
    # another lab's sets: invisible unless public, and public ones need an open licence
    with pytest.raises(NotFound):
        services.training_job_create(
            user=world.outsider,
            lab=world.other_lab,
            support_set_version_ids=[support.pk],
            include_public=True,
        )
    dataset = support.schema.dataset
    dataset.visibility = Visibility.PUBLIC
    dataset.licence = "LicenseRef-All-Rights-Reserved"
    dataset.save()
    with pytest.raises(Invalid, match="licence"):
        services.training_job_create(
            user=world.outsider,
            lab=world.other_lab,
            support_set_version_ids=[support.pk],
            include_public=True,
        )
    dataset.licence = "CC0-1.0"
    dataset.save()
    with pytest.raises(Invalid, match="include_public"):
        services.training_job_create(
            user=world.outsider, lab=world.other_lab, support_set_version_ids=[support.pk]
        )
    job = services.training_job_create(
        user=world.outsider,
        lab=world.other_lab,
        support_set_version_ids=[support.pk],
        include_public=True,
        params=TINY_PARAMS,
    )
    assert job.lab == world.other_lab
