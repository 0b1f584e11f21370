"""A direct upload whose commit failed because its deliveries kept dying (the attempt limit of
``common.jobs.delivery_begin``) leaves nothing in the store: its parts, its staged object and
a copy a dead delivery made under the image's keys are deleted."""

import pytest

from catalog.direct.commit import _complete
from catalog.models import DirectUpload, Image
from catalog.services import image_prefix
from common import storage
from tests.catalog.conftest import COMMIT_TASK, INGEST_TASK
from tests.catalog.direct_support import multipart_uploads, objects_under, put_parts, start
from tests.support.micrographs import tiff_bytes
from workers.tasks.ingest import commit_direct_upload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("joined", [False, True], ids=["parts only", "parts joined and copied"])
def test_a_commit_failed_after_lost_deliveries_deletes_what_it_staged(
    client_for, world, direct, hold_jobs, django_capture_on_commit_callbacks, settings, joined
):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = tiff_bytes()
    body = start(curator, dataset, content).json()
    put_parts(body, content)
    hold_jobs(COMMIT_TASK, INGEST_TASK)
    with django_capture_on_commit_callbacks(execute=True):
        response = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert response.status_code == 202, response.content
    upload = DirectUpload.objects.select_related("dataset").get(pk=body["id"])
    copy = f"{image_prefix(dataset, upload.pk)}/original.tif"
    if joined:  # a delivery died after joining the parts and copying the object to the image
        _complete(upload, storage.s3_client(), storage.s3_bucket())
        storage.put_bytes(copy, content)
        assert objects_under(upload.staging_key) == [upload.staging_key]
    # every delivery so far was lost with its worker
    DirectUpload.objects.filter(pk=upload.pk).update(attempts=settings.CHIPLAB_JOB_MAX_ATTEMPTS)

    commit_direct_upload.apply(args=[str(upload.pk)], throw=True)

    upload.refresh_from_db()
    assert upload.status == "failed" and "died" in upload.error
    assert not Image.objects.filter(pk=upload.pk).exists()
    assert objects_under(upload.staging_key) == []
    assert multipart_uploads(upload.staging_key) == []
    assert objects_under(image_prefix(dataset, upload.pk)) == []
