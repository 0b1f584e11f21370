"""Dataset packages, continued: the images' tags and key-value pairs in the round trip, and the
worker's side of an import (idempotent deliveries, lost ones, the embedded mode)."""

import io
import json
import zipfile

import pytest

from catalog.annotations import image_annotations, image_annotations_set
from catalog.models import Image
from catalog.services import image_ingest
from common import storage
from publishing import crate_archive, versions
from publishing.models import DatasetArchiveImport
from tests.analysis.helpers import upload_ready_image
from tests.factories import DatasetArchiveImportFactory
from tests.publishing.archive_support import (
    TASK,
    counts,
    crate_bytes,
    importer,
    objects_under,
    published_version,
    repack,
)
from workers.tasks.publishing import import_dataset_archive

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(world, client_for):
    """Lab A's version 1: a calibrated image by hand, a frozen support set, a result."""
    return published_version(world, client_for)


@pytest.fixture
def imported(hold_jobs, django_capture_on_commit_callbacks):
    return importer(hold_jobs, django_capture_on_commit_callbacks)


# --- tags and key-value pairs --------------------------------------------------------------
def test_tags_and_key_values_make_the_round_trip(world, published, client_for, imported):
    """The images' tags and key-value pairs travel in the package and are restored, in order,
    on the new images (searchable there like any others)."""
    image = published["image"]
    pairs = [{"key": "detector", "value": "HAADF"}, {"key": "dose", "value": "12 e/Å²"}]
    image_annotations_set(user=world.annotator, image=image, tags=["Ge", "interface"], pairs=pairs)
    data = crate_bytes(client_for(world.viewer), published["version"])
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(crate_archive.ARCHIVE))
    assert doc["annotations"] == {str(image.pk): {"tags": ["Ge", "interface"], "pairs": pairs}}

    state = imported(client_for(world.outsider), data, world.other_lab)
    assert state["status"] == "succeeded", state
    (copy,) = Image.objects.filter(dataset_id=state["dataset"]["id"])
    assert image_annotations(image=copy) == image_annotations(image=image)
    image_ingest(image_id=copy.pk)  # search shows ready images
    found = client_for(world.outsider).get("/api/search/", {"q": "interface"}).json()
    assert str(copy.pk) in json.dumps(found)


def test_a_package_without_annotations_still_imports(world, published, client_for, imported):
    """Packages made before annotations were exported have none."""
    data = repack(
        crate_bytes(client_for(world.viewer), published["version"]),
        doc=lambda d: d.pop("annotations"),
    )
    state = imported(client_for(world.outsider), data, world.other_lab)
    assert state["status"] == "succeeded", state
    (copy,) = Image.objects.filter(dataset_id=state["dataset"]["id"])
    assert image_annotations(image=copy) == {"tags": [], "pairs": []}


@pytest.mark.parametrize(
    "annotations",
    [
        lambda image: {image: {"tags": [f"t{i}" for i in range(51)], "pairs": []}},
        lambda image: {image: {"tags": ["bad\u0007tag"], "pairs": []}},
        lambda image: {image: {"tags": [], "pairs": [{"key": "k" * 129, "value": ""}]}},
        lambda image: {"00000000-0000-0000-0000-000000000009": {"tags": ["x"]}},
        lambda image: {image: ["not", "an", "object"]},
    ],
    ids=["too many tags", "control character", "long key", "unknown image", "not an object"],
)
def test_bad_annotations_are_refused_and_store_nothing(
    world, published, client_for, imported, annotations
):
    image = str(published["image"].pk)
    data = repack(
        crate_bytes(client_for(world.viewer), published["version"]),
        doc=lambda d: d.update(annotations=annotations(image)),
    )
    before = counts()
    state = imported(client_for(world.outsider), data, world.other_lab)
    assert state["status"] == "failed", state
    assert state["error_code"] in ("inconsistent", "invalid_archive") and state["error"]
    assert counts() == before
    assert objects_under(f"labs/{world.other_lab.pk}") == []


# --- the worker's side ---------------------------------------------------------------------
def test_the_import_is_idempotent(world, published, client_for, imported):
    """A second delivery of a finished import does nothing; one after a delivery lost between
    the restore's commit and the import's row finds the dataset made, not a second one."""
    data = crate_bytes(client_for(world.viewer), published["version"])
    state = imported(client_for(world.outsider), data, world.other_lab)
    assert state["status"] == "succeeded" and state["dataset"]["id"] == state["id"]
    before = counts()
    import_dataset_archive.apply(args=[state["id"]], throw=True)
    assert counts() == before
    DatasetArchiveImport.objects.filter(pk=state["id"]).update(
        status="running", dataset=None, version=None
    )
    import_dataset_archive.apply(args=[state["id"]], throw=True)
    job = DatasetArchiveImport.objects.get(pk=state["id"])
    assert job.status == "succeeded" and str(job.dataset_id) == state["dataset"]["id"]
    assert str(job.version_id) == state["version"]["id"] and counts() == before


def test_a_lost_delivery_leaves_nothing_for_the_next(world, published, client_for, imported):
    """Objects a lost delivery stored under the new dataset's keys are deleted before the next
    one restores (the dataset's id is the import's, so its keys are known)."""
    data = crate_bytes(client_for(world.viewer), published["version"])
    state = imported(client_for(world.outsider), data, world.other_lab)
    job = DatasetArchiveImport.objects.get(pk=state["id"])
    # the same import again, as if a first delivery had died halfway through its restore
    stray = f"labs/{job.lab_id}/datasets/00000000-0000-0000-0000-00000000abcd/images/x/orig.tif"
    redo = DatasetArchiveImport.objects.create(
        id="00000000-0000-0000-0000-00000000abcd",
        lab=job.lab,
        created_by=job.created_by,
        package_key=f"labs/{job.lab_id}/archive-imports/redo/package.zip",
        package_bytes=len(data),
        status="running",
        attempts=1,
    )
    storage.put_bytes(redo.package_key, data)
    storage.put_bytes(stray, b"half of an original")
    assert storage.exists(stray)
    import_dataset_archive.apply(args=[str(redo.pk)], throw=True)
    redo.refresh_from_db()
    assert redo.status == "succeeded", redo.error
    assert not storage.exists(stray) and not storage.exists(redo.package_key)


def test_an_import_lost_with_the_embedded_worker_is_sent_again(world, tmp_path):
    """The embedded broker loses the messages a killed worker held: an import left queued or
    running by a process that is gone is enqueued again when a worker starts."""
    from workers.recovery import requeue_lost

    lost = DatasetArchiveImportFactory(
        lab=world.lab,
        created_by=world.curator,
        status="running",
        worker="elsewhere:1:1#0",  # a process of another host counts as gone
    )
    done = DatasetArchiveImportFactory(lab=world.lab, created_by=world.curator, status="succeeded")
    sent = requeue_lost(tmp_path)
    assert (TASK, str(lost.pk)) in sent and (TASK, str(done.pk)) not in sent


def test_an_embedded_server_imports_through_its_worker(local_storage, world, client_for, imported):
    """On the embedded default (files on disk) the package waits on disk for the worker, and
    is deleted once imported."""
    dataset = world.dataset(title="On disk")
    upload_ready_image(world, dataset=dataset)
    version = versions.dataset_version_create(user=world.curator, dataset=dataset)
    state = imported(
        client_for(world.outsider), crate_bytes(client_for(world.viewer), version), world.other_lab
    )
    assert state["status"] == "succeeded", state
    (copy,) = Image.objects.filter(dataset_id=state["dataset"]["id"])
    assert (local_storage / copy.original_key).is_file()
    assert not list(local_storage.glob(f"labs/{world.other_lab.pk}/archive-imports/*/*"))
