"""A dataset-archive import whose delivery died in the middle of its restore: the objects it
wrote (the images' under the dataset's keys, the results' under their jobs' keys) and, once
the import fails after too many lost deliveries, its package are deleted."""

import importlib

import pytest

from analysis.models import SegmentationResult
from common import storage
from publishing.archive import archive_import_run
from publishing.models import DatasetArchiveImport
from tests.publishing.archive_support import (
    TASK,
    crate_bytes,
    objects_under,
    post,
    published_version,
)
from workers.tasks.publishing import import_dataset_archive

pytestmark = pytest.mark.django_db


class _Killed(BaseException):
    """The worker process killed (nothing after it runs in that process)."""


@pytest.fixture
def died_restoring(world, client_for, hold_jobs, django_capture_on_commit_callbacks, monkeypatch):
    """An import whose first delivery died after the restore wrote its results' files, before
    its transaction committed (its rows are gone, its objects are not)."""
    published = published_version(world, client_for)
    data = crate_bytes(client_for(world.viewer), published["version"])
    hold_jobs(TASK)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client_for(world.outsider), data, world.other_lab)
    assert response.status_code == 202, response.content
    job = DatasetArchiveImport.objects.get(pk=response.json()["id"])

    def killed(*args, **kwargs):
        raise _Killed

    with monkeypatch.context() as patched:
        # the module (``publishing.archive.restore`` the attribute is its function)
        module = importlib.import_module("publishing.archive.restore")
        patched.setattr(module, "restore_annotations", killed)
        patched.setattr(storage, "delete", lambda key: None)  # its own cleanup never runs
        with pytest.raises(_Killed):
            archive_import_run(import_id=job.pk)
    DatasetArchiveImport.objects.filter(pk=job.pk).update(attempts=1)
    lab = f"labs/{job.lab_id}"
    assert objects_under(f"{lab}/segmentations"), "the dead delivery wrote no result files"
    return job


def test_the_next_delivery_deletes_the_results_a_dead_one_wrote(died_restoring):
    job = died_restoring
    import_dataset_archive.apply(args=[str(job.pk)], throw=True)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    kept = set()
    for result in SegmentationResult.objects.filter(image__dataset_id=job.dataset_id):
        kept |= {result.arrays_key, *result.artefacts.values()}
    assert set(objects_under(f"labs/{job.lab_id}/segmentations")) == kept
    assert objects_under(f"labs/{job.lab_id}/archive-imports") == []


def test_an_import_failed_after_lost_deliveries_leaves_nothing(died_restoring, settings):
    job = died_restoring
    DatasetArchiveImport.objects.filter(pk=job.pk).update(
        attempts=settings.CHIPLAB_JOB_MAX_ATTEMPTS
    )
    import_dataset_archive.apply(args=[str(job.pk)], throw=True)
    job.refresh_from_db()
    assert job.status == "failed" and "died" in job.error
    assert objects_under(f"labs/{job.lab_id}") == []
