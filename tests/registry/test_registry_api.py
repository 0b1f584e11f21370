"""Registry API: listing, cards, download, import checks, promotion, roll-back, jobs, isolation."""

import io
import json
import zipfile

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import services
from registry.models import ModelVersion, TrainingJob
from tests.registry.helpers import lab_version, resnet18_upload


@pytest.fixture
def setup(mlflow_store, world):
    services.registry_init()
    return lab_version(world.lab, world.curator)


def _upload(client, lab, **fields):
    return client.post(f"/api/labs/{lab.pk}/model-versions/import", fields, format="multipart")


def test_lists_and_details_hide_other_labs(setup, world, client_for):
    mine = setup
    names = [m["name"] for m in client_for(world.viewer).get("/api/models/").json()]
    assert mine.name in names and "chiplab-default" in names
    other = [m["name"] for m in client_for(world.outsider).get("/api/models/").json()]
    assert mine.name not in other and "chiplab-fourier" in other
    detail = client_for(world.viewer).get(f"/api/model-versions/{mine.pk}/").json()
    assert detail["card"]["summary"] and detail["lineage"]["imported"]["sha256"]
    listed = client_for(world.viewer).get("/api/model-versions/", {"lab": world.lab.pk}).json()
    assert [v["id"] for v in listed["results"]] == [str(mine.pk)]
    assert listed["results"][0]["card"] == detail["card"]  # lists carry the card too
    assert client_for(world.viewer).get(f"/api/models/{mine.name}/").json()["versions"] == 1
    out = client_for(world.outsider)
    for url in (
        f"/api/model-versions/{mine.pk}/",
        f"/api/model-versions/{mine.pk}/download",
        f"/api/models/{mine.name}/",
        f"/api/labs/{world.lab.pk}/champion",
        f"/api/labs/{world.lab.pk}/training-jobs/",
    ):
        assert out.get(url).status_code == 404, url
    assert out.get("/api/model-versions/", {"lab": world.lab.pk}).status_code == 404
    assert out.post(f"/api/model-versions/{mine.pk}/promote", {}).status_code == 404
    assert out.post(f"/api/models/{mine.name}/rollback", {}).status_code == 404
    resp = out.post(
        f"/api/labs/{world.lab.pk}/model-versions/import",
        {"file": resnet18_upload(), "arch": "resnet18"},
        format="multipart",
    )
    assert resp.status_code == 404


def test_download_is_a_zip_with_weights_card_and_lineage(setup, world, client_for):
    resp = client_for(world.viewer).get(f"/api/model-versions/{setup.pk}/download")
    assert resp.status_code == 200 and resp["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content))) as zf:
        names = set(zf.namelist())
    assert {"encoder/config.json", "encoder/weights.pt", "card.json", "lineage.json"} <= names
    builtin = ModelVersion.objects.get(name="chiplab-fourier")
    resp = client_for(world.outsider).get(f"/api/model-versions/{builtin.pk}/download")
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content))) as zf:
        assert json.loads(zf.read("card.json"))["licence"] == "BSD-3-Clause"


def test_promote_and_rollback_through_the_api(setup, world, client_for):
    url = f"/api/model-versions/{setup.pk}/promote"
    assert client_for(world.annotator).post(url, {}).status_code == 403
    resp = client_for(world.curator).post(url, {"alias": "champion"})
    assert resp.status_code == 200 and resp.json()["aliases"] == ["champion"]
    champion = client_for(world.viewer).get(f"/api/labs/{world.lab.pk}/champion").json()
    assert champion["id"] == str(setup.pk)
    resp = client_for(world.curator).post(f"/api/models/{setup.name}/rollback", {})
    assert resp.status_code == 200 and resp.json()["version"] is None
    history = client_for(world.viewer).get(f"/api/models/{setup.name}/").json()["alias_history"]
    assert [e["action"] for e in history] == ["rollback", "promote"]
    champion = client_for(world.viewer).get(f"/api/labs/{world.lab.pk}/champion").json()
    assert champion["name"] == "chiplab-default"
    fourier = ModelVersion.objects.get(name="chiplab-fourier")
    assert (
        client_for(world.owner).post(f"/api/model-versions/{fourier.pk}/promote", {}).status_code
        == 403
    )


def test_import_validates_the_state_dict(mlflow_store, world, client_for):
    curator = client_for(world.curator)
    resp = _upload(
        curator, world.lab, file=resnet18_upload(), arch="resnet18", name="mine", input_size=32
    )
    assert resp.status_code == 201, resp.json()
    assert resp.json()["name"] == f"{world.lab.slug}.mine" and resp.json()["dim"] == 512
    bad = {
        "garbage": SimpleUploadedFile("x.pt", b"not a torch file"),
        "truncated pickle": SimpleUploadedFile("x.pt", b"\x80\x02"),  # EOFError, no message
        "wrong arch": resnet18_upload(),
        "not a dict": _saved(torch.zeros(3)),
        "pickled code": _saved(torch.nn.Linear(2, 2)),
        "wrong shapes": _saved({"conv1.weight": torch.zeros(1)}),
    }
    for label, upload in bad.items():
        arch = "resnet34" if label == "wrong arch" else "resnet18"
        resp = _upload(curator, world.lab, file=upload, arch=arch)
        assert resp.status_code == 400, label
        assert resp.json()["error"]["message"], label
    assert _upload(curator, world.lab, arch="resnet18").status_code == 400  # no file
    assert _upload(curator, world.lab, file=resnet18_upload(), arch="vgg").status_code == 400
    assert (
        _upload(
            client_for(world.annotator), world.lab, file=resnet18_upload(), arch="resnet18"
        ).status_code
        == 403
    )
    assert ModelVersion.objects.filter(lab=world.lab).count() == 1


def _saved(obj) -> SimpleUploadedFile:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return SimpleUploadedFile("x.pt", buf.getvalue())


def test_training_job_endpoints(
    setup, world, client_for, django_capture_on_commit_callbacks, settings
):
    from tests.registry.helpers import TINY_PARAMS, sim_support_set

    support = sim_support_set(world.curator, world.dataset(), seeds=(0,))
    url = f"/api/labs/{world.lab.pk}/training-jobs/"
    body = {"support_set_versions": [str(support.pk)], "params": TINY_PARAMS}
    assert client_for(world.annotator).post(url, body, format="json").status_code == 403
    assert client_for(world.outsider).post(url, body, format="json").status_code == 404
    bad = client_for(world.curator).post(url, {**body, "params": {"epochs": 10**6}}, format="json")
    assert bad.status_code == 400
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client_for(world.curator).post(url, body, format="json")
    assert resp.status_code == 201 and len(callbacks) == 1  # enqueued on commit
    job_id = resp.json()["id"]
    assert resp.json()["status"] == "queued" and resp.json()["base_version"]["lab"] is None
    settings.CHIPLAB_MAX_ACTIVE_TRAINING_PER_LAB = 1  # one queued: the lab's queue is full
    full = client_for(world.curator).post(url, body, format="json")
    assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
    listed = client_for(world.viewer).get(url).json()
    assert [j["id"] for j in listed["results"]] == [job_id]
    out = client_for(world.outsider)
    assert out.get(f"/api/training-jobs/{job_id}/").status_code == 404
    assert out.post(f"/api/training-jobs/{job_id}/cancel").status_code == 404
    assert client_for(world.viewer).post(f"/api/training-jobs/{job_id}/cancel").status_code == 403
    resp = client_for(world.curator).post(f"/api/training-jobs/{job_id}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert client_for(world.curator).post(f"/api/training-jobs/{job_id}/cancel").status_code == 409
    assert TrainingJob.objects.get(pk=job_id).finished is not None


def test_malformed_lab_filter_is_a_client_error(setup, world, client_for):
    resp = client_for(world.viewer).get("/api/models/?lab=not-a-uuid")
    assert resp.status_code in (400, 404), resp.content
    assert resp.json()["error"]["message"]
    # an empty filter is no filter, as on the other lists
    everything = client_for(world.viewer).get("/api/models/")
    assert client_for(world.viewer).get("/api/models/?lab=").json() == everything.json()


def test_reading_the_champion_registers_nothing(mlflow_store, world, client_for):
    """A read never writes: with nothing registered the champion is simply not there yet."""
    response = client_for(world.viewer).get(f"/api/labs/{world.lab.pk}/champion")
    assert response.status_code == 404 and "registered" in response.json()["error"]["message"]
    assert not ModelVersion.objects.exists()
