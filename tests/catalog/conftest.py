"""Fixtures of the catalog tests: direct uploads against the S3 test server, and their commit
run as the worker would (helpers: tests.catalog.direct_support)."""

import pytest

from tests.catalog.direct_support import MiB
from workers.tasks.ingest import commit_direct_upload


@pytest.fixture
def direct(s3_storage, settings):
    """S3 storage with 5 MiB parts (S3's minimum), so a ~12 MB file takes three parts."""
    settings.CHIPLAB_DIRECT_UPLOAD_PART_BYTES = 5 * MiB
    return s3_storage


COMMIT_TASK = "workers.tasks.ingest.commit_direct_upload"
INGEST_TASK = "workers.tasks.ingest.ingest_image"


@pytest.fixture
def commit(hold_jobs, django_capture_on_commit_callbacks):
    """``commit(client, dataset, upload_id)``: POST the commit (202), run the job it queued as
    the worker would, and answer (the commit's response, the upload's state after). The
    ingests that the commit queued are kept in ``commit.ingests``."""

    def run(client, dataset, upload_id, *, runs: int = 1):
        held = hold_jobs(COMMIT_TASK, INGEST_TASK)
        url = f"/api/datasets/{dataset.pk}/uploads/{upload_id}/"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"{url}commit")
        if response.status_code != 202:
            return response, None
        assert response.json()["status"] == "committing", response.json()
        assert held.args(COMMIT_TASK) == [(upload_id,)]
        for _ in range(runs):
            with django_capture_on_commit_callbacks(execute=True):
                commit_direct_upload.apply(args=[upload_id], throw=True)
        run.ingests += held.args(INGEST_TASK)
        held.held.clear()
        return response, client.get(url).json()

    run.ingests = []
    return run
