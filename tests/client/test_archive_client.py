"""`chiplab export` and `chiplab import-dataset` (and their client methods) against a live
server and a real Celery worker: a version's archive out of one lab and into another (the
worker checks and restores it while the client waits), and a bad archive refused."""

import hashlib
import zipfile

import pytest
from chiplab_client import ChiplabError

from catalog.models import Dataset, Image
from common import storage
from publishing import versions
from publishing.models import DatasetArchiveImport
from tests.analysis.helpers import upload_ready_image

pytestmark = pytest.mark.integration


@pytest.fixture
def version(world):
    dataset = world.dataset(title="Pt on ceria", keywords=["Pt"])
    upload_ready_image(world, dataset=dataset, seed=1)
    upload_ready_image(world, dataset=dataset, seed=2)
    return versions.dataset_version_create(user=world.curator, dataset=dataset)


def _stored_sha(key: str) -> str:
    with storage.open_(key) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_cli_exports_and_imports_a_dataset(
    celery_worker, world, version, chiplab, token_of, server, tmp_path
):
    archive = tmp_path / "pt-v1.zip"
    as_viewer = ("--server", server)
    chiplab("login", *as_viewer, stdin=token_of(world.viewer))
    run = chiplab("export", str(version.pk), "--out", str(archive), "--json", *as_viewer)
    assert run.code == 0, run.stderr
    assert run.json()["file"] == str(archive) and zipfile.is_zipfile(archive)

    chiplab("login", *as_viewer, stdin=token_of(world.outsider))  # lab B's owner
    run = chiplab(
        "import-dataset", str(archive), "--lab", str(world.other_lab.pk), "--json", *as_viewer
    )
    assert run.code == 0, run.stderr
    report = run.json()
    assert report["images"] == 2 and report["source"]["version"] == str(version.pk)
    dataset = Dataset.objects.get(pk=report["dataset"]["id"])
    assert dataset.lab == world.other_lab and dataset.title == "Pt on ceria"
    old = {i.sha256 for i in Image.objects.filter(dataset=version.dataset)}
    new = list(Image.objects.filter(dataset=dataset))
    assert {i.sha256 for i in new} == old
    assert all(_stored_sha(i.original_key) == i.sha256 for i in new)
    assert not {i.pk for i in new} & set(version.images.values_list("pk", flat=True))

    # the same archive again is a second, separate copy; the latest version by dataset id
    run = chiplab("export", "--dataset", str(dataset.pk), "--out", str(tmp_path), *as_viewer)
    assert run.code == 0, run.stderr
    exported = tmp_path / run.stdout.strip().rsplit("/", 1)[-1]
    assert zipfile.is_zipfile(exported)

    # a file that is not an archive: exit code 1 and the API's error
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    run = chiplab("import-dataset", str(bad), "--lab", str(world.other_lab.pk), "--json")
    assert run.code == 1 and run.error()["code"] == "not_a_zip"
    assert "not a zip" in run.error()["message"]
    assert Dataset.objects.filter(lab=world.other_lab).count() == 1
    failed = DatasetArchiveImport.objects.get(status="failed")
    assert failed.error_code == "not_a_zip" and not storage.exists(failed.package_key)
    assert chiplab("import-dataset", str(tmp_path / "nope.zip"), "--lab", "x").code == 2


def test_client_round_trip_and_errors(celery_worker, world, version, client_as, tmp_path):
    path = client_as(world.viewer).datasets.export_archive(str(version.pk), tmp_path / "v.zip")
    sent, polled = [], []
    target = client_as(world.outsider)
    report = target.datasets.import_archive(
        path,
        lab=str(world.other_lab.pk),
        visibility="private",
        progress=lambda done, total: sent.append((done, total)),
        checking=polled.append,
        timeout=300,
    )
    assert report["status"] == "succeeded" and report["stage"] == "done"
    assert report["dataset"]["visibility"] == "private" and report["version"]["number"] == 1
    assert report["done_bytes"] == report["total_bytes"] > 0
    assert sent and sent[-1][0] == sent[-1][1]
    assert polled[0]["id"] == report["id"] and polled[-1]["status"] == "succeeded"
    assert target.datasets.archive_import(report["id"])["dataset"]["id"] == report["dataset"]["id"]
    # without waiting: the queued import, then waited on
    queued = target.datasets.import_archive(path, lab=str(world.other_lab.pk), wait=False)
    assert queued["status"] in ("queued", "running", "succeeded")
    done = target.datasets.wait_archive_import(queued["id"], timeout=300)
    assert done["dataset"]["id"] != report["dataset"]["id"]
    # lab A's viewer may not import into lab A; lab B's owner cannot see lab A
    with pytest.raises(ChiplabError) as caught:
        client_as(world.viewer).datasets.import_archive(path, lab=str(world.lab.pk))
    assert caught.value.status == 403
    with pytest.raises(ChiplabError) as caught:
        target.datasets.import_archive(path, lab=str(world.lab.pk))
    assert caught.value.status == 404
