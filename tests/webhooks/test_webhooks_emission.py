"""The services where events happen emit them, once committed, to the lab's hooks."""

import json

import pytest

from analysis.runner import segmentation_job_fail
from common.jobs import JobStatus
from labeling import services as labeling
from labeling.models import SupportSetVersion
from registry.models import ModelVersion, Source, TrainingJob
from registry.services import training_job_fail
from tests.factories import (
    ReadyImageFactory,
    SegmentationJobFactory,
    WebhookFactory,
    fourier_champion,
)
from webhooks import services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(world):
    def make(*events):
        return WebhookFactory(lab=world.lab, created_by=world.curator, events=list(events))

    return make


def _bodies():
    return [json.loads(d.body) for d in Delivery.objects.order_by("created")]


def _frozen(world):
    dataset = world.dataset()
    image = ReadyImageFactory(dataset=dataset)
    schema, _ = labeling.schema_get_or_create_default(user=world.curator, dataset=dataset)
    a = labeling.class_create(user=world.curator, schema=schema, name="STO")
    b = labeling.class_create(user=world.curator, schema=schema, name="Ge")
    grid, _ = labeling.grid_create(user=world.curator, image=image, chip_size=64)
    labeling.vote_cast(user=world.curator, grid=grid, row=0, col=0, label_class=a)
    labeling.vote_cast(user=world.curator, grid=grid, row=1, col=1, label_class=b)
    return labeling.support_set_freeze(user=world.curator, schema=schema, rule="curator")


def test_freezing_a_support_set(world, subscribed, django_capture_on_commit_callbacks):
    subscribed("support_set.frozen")
    with django_capture_on_commit_callbacks(execute=True):
        version = _frozen(world)
    (body,) = _bodies()
    assert body["type"] == "support_set.frozen"
    assert body["data"]["support_set"] == str(version.pk) and body["data"]["number"] == 1


def _job(world, version):
    return SegmentationJobFactory(
        lab=world.lab, created_by=world.curator, support_set=version, status=JobStatus.RUNNING
    )


def test_a_job_failing_and_a_finished_one_not_failing_twice(
    world, subscribed, django_capture_on_commit_callbacks
):
    subscribed("job.failed", "job.succeeded")
    job = _job(world, _frozen(world))
    with django_capture_on_commit_callbacks(execute=True):
        segmentation_job_fail(job_id=job.pk, reason="worker lost")
        segmentation_job_fail(job_id=job.pk, reason="again")  # already failed: no event
    (body,) = _bodies()
    assert body["type"] == "job.failed" and body["data"]["job"] == str(job.pk)
    assert body["data"]["error"] == "worker lost"


def test_training_finishing(world, subscribed, django_capture_on_commit_callbacks):
    subscribed("training.finished")
    job = TrainingJob.objects.create(
        lab=world.lab, created_by=world.curator, base_version=fourier_champion(), model_name="m"
    )
    with django_capture_on_commit_callbacks(execute=True):
        training_job_fail(job_id=job.pk, reason="no chips")
    (body,) = _bodies()
    assert body["type"] == "training.finished"
    assert body["data"] == {
        "job": str(job.pk),
        "status": "failed",
        "error": "no chips",
        "model_version": None,
    }


def test_model_promotion_payload_and_builtin_models_tell_nobody(world, subscribed):
    subscribed("model.promoted")
    version = ModelVersion.objects.create(
        name="lab-model", version=3, encoder_kind="fourier", source=Source.TRAINED, lab=world.lab
    )
    (delivery,) = services.event_dispatch("model.promoted", version.pk, alias="champion")
    data = json.loads(delivery.body)["data"]
    assert data == {
        "model_version": str(version.pk),
        "name": "lab-model",
        "version": 3,
        "alias": "champion",
    }
    assert services.event_dispatch("model.promoted", fourier_champion().pk) == []


def test_the_other_lab_hears_nothing(world, django_capture_on_commit_callbacks):
    WebhookFactory(lab=world.other_lab, created_by=world.outsider, events=["support_set.frozen"])
    with django_capture_on_commit_callbacks(execute=True):
        _frozen(world)
    assert not Delivery.objects.exists()
    assert SupportSetVersion.objects.count() == 1
