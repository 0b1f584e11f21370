"""Deletes leave nothing behind and cannot race a freeze.

Derived data (previews, result files, embeddings) is deleted with its image once the delete
commits, on the S3 server as CI runs it; an ingest that finishes after its image was deleted
removes what it wrote. A delete and a freeze (support-set version, dataset version) of the
same dataset run one after the other: the delete waits and is refused, never leaving a
version that names chips or images that are gone."""

import contextlib
import threading

import pytest
from django.test import TestCase

from analysis import artefacts
from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from analysis.services import segmentation_job_create
from catalog import formats, services
from catalog.models import DatasetVersion, Image
from common import storage
from common.errors import Conflict, NotFound
from publishing import versions
from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth
from tests.factories import fourier_champion
from tests.support.segmentation import segmentation_run
from tests.support.threads import in_thread


def _labelled(world, dataset=None):
    fourier_champion()
    image, s = upload_ready_image(world, dataset=dataset)
    schema, classes, grid = labelled_schema(world, image, s)
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    return image, schema


def _freeze(world, schema):
    from labeling.services import support_set_freeze

    return support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")


def _embeddings(image) -> list[str]:
    found = []
    for prefix in services.embeddings_prefixes(image.dataset.lab_id, image.sha256):
        with contextlib.suppress(FileNotFoundError):
            found += [f"{prefix}/{name}" for name in storage.listdir(prefix)[1]]
    return found


def _delete(world, image) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.image_delete(user=world.curator, image=image)


# --- derived data ------------------------------------------------------------------------
@pytest.mark.django_db
def test_deleting_images_deletes_their_previews_results_and_embeddings_on_s3(s3_storage, world):
    image, schema = _labelled(world)
    version = _freeze(world, schema)
    target, _ = upload_ready_image(world, dataset=image.dataset, seed=2)
    # the same bytes in another dataset of the lab share the embeddings
    twin, _ = upload_ready_image(world, dataset=world.dataset(), seed=2)
    assert twin.sha256 == target.sha256
    job = segmentation_job_create(
        user=world.annotator, images=[str(target.pk)], support_set=str(version.pk)
    )
    artefacts.MEMORY_CACHE.clear()
    segmentation_run(job_id=job.pk)
    assert SegmentationJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
    result = SegmentationResult.objects.get(job=job, image=target)
    files = [target.original_key, target.preview_key, target.thumbnail_key, result.arrays_key]
    files += list(result.artefacts.values())
    # derived files that no row names (full-resolution tiles, ...) live under the image's folder
    tile = f"{services.image_prefix(target.dataset, target.pk)}/tiles/z0/0_0.png"
    files.append(storage.put_bytes(tile, b"tile"))
    embeddings = _embeddings(target)
    assert embeddings and all(storage.exists(k) for k in files + embeddings)

    _delete(world, target)
    assert not any(storage.exists(k) for k in files)
    assert all(storage.exists(k) for k in embeddings)  # the twin still uses them

    _delete(world, twin)
    assert not any(storage.exists(k) for k in embeddings)
    assert _embeddings(target) == []


@pytest.mark.django_db
def test_deleting_a_dataset_deletes_its_images_embeddings(s3_storage, world):
    from catalog.services import dataset_delete

    image, _schema = _labelled(world)
    key = artefacts.embeddings_key(
        lab_id=world.lab.pk, model_version_id="mv", sha256=image.sha256, chip_size=32, offset=(0, 0)
    )
    storage.put_bytes(key, b"embeddings")
    with TestCase.captureOnCommitCallbacks(execute=True):
        dataset_delete(user=world.curator, dataset=image.dataset)
    assert not storage.exists(key)
    assert not storage.exists(image.preview_key)


@pytest.mark.django_db
def test_an_ingest_that_ends_after_its_image_was_deleted_leaves_no_preview(
    s3_storage, world, monkeypatch
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.analysis.helpers import sim_tiff

    data, _ = sim_tiff(frames=2, seed=5, size=(64, 64))
    image = services.image_upload(
        user=world.curator, dataset=world.dataset(), upload=SimpleUploadedFile("a.tif", data)
    )
    encode = formats.encode_png
    deleted = []

    def encode_then_delete(pixels):  # the curator deletes it while its previews are written
        if not deleted:
            deleted.append(True)
            _delete(world, Image.objects.get(pk=image.pk))
        return encode(pixels)

    monkeypatch.setattr(formats, "encode_png", encode_then_delete)
    with pytest.raises(NotFound):
        services.image_ingest(image_id=image.pk)
    prefix = services.image_prefix(image.dataset, image.pk)
    assert storage.listdir(prefix) == ([], [])


# --- races with freezes --------------------------------------------------------------------
def _race(world, image, freeze, pause_in, monkeypatch):
    """Start ``freeze`` and hold it inside ``pause_in`` (module, name) with its locks taken;
    start deleting ``image`` meanwhile; let the freeze go on. The delete's outcome."""
    module, name = pause_in
    original = getattr(module, name)
    inside, go_on = threading.Event(), threading.Event()

    def paused(*args, **kwargs):
        value = original(*args, **kwargs)
        inside.set()
        assert go_on.wait(30)
        return value

    monkeypatch.setattr(module, name, paused)
    freezer, frozen = in_thread(freeze)
    assert inside.wait(30), frozen
    deleter, deleted = in_thread(lambda: services.image_delete(user=world.curator, image=image))
    deleter.join(1.0)
    waited = deleter.is_alive()  # the delete waits for the freeze's transaction
    go_on.set()
    freezer.join(30)
    deleter.join(30)
    assert "error" not in frozen, frozen
    return waited, deleted


@pytest.mark.django_db(transaction=True)
def test_deleting_an_image_while_a_support_set_is_frozen_waits_and_is_refused(world, monkeypatch):
    from labeling import consensus

    image, schema = _labelled(world)
    waited, deleted = _race(
        world, image, lambda: _freeze(world, schema), (consensus, "support_state"), monkeypatch
    )
    assert waited
    assert isinstance(deleted.get("error"), Conflict), deleted
    assert deleted["error"].code == "in_use"
    version = schema.versions.get()
    assert Image.objects.filter(pk=image.pk).exists()
    assert {str(c["image"]) for c in version.chips} == {str(image.pk)}
    assert version.grids.count() == 1


@pytest.mark.django_db(transaction=True)
def test_deleting_an_image_while_a_dataset_version_is_published_waits_and_is_refused(
    world, monkeypatch
):
    image, _ = upload_ready_image(world)
    waited, deleted = _race(
        world,
        image,
        lambda: versions.dataset_version_create(user=world.curator, dataset=image.dataset),
        (versions, "_ready_images"),
        monkeypatch,
    )
    assert waited
    assert isinstance(deleted.get("error"), Conflict), deleted
    assert deleted["error"].code == "published"
    version = DatasetVersion.objects.get(dataset=image.dataset)
    assert list(version.images.all()) == [Image.objects.get(pk=image.pk)]
