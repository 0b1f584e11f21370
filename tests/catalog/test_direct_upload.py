"""Direct upload through presigned multipart URLs and import in place (catalog.direct), against
the S3 test server with the minio SDK: the same checks as an upload, nothing half-stored.

The commit answers 202 and queues the check; these tests hold that job back and run the real
task (``workers.tasks.ingest.commit_direct_upload``, its delivery tracking included) in this
process, then read the outcome through the API. A real worker runs it in the client tests."""

import hashlib
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from catalog import services
from catalog.models import DirectUpload, Image
from common import storage
from tests.catalog.direct_support import (
    MiB,
    big_tiff,
    multipart_uploads,
    objects_under,
    put_parts,
    start,
)
from tests.support.micrographs import png_bytes, tiff_bytes
from workers.tasks.ingest import commit_direct_upload

pytestmark = pytest.mark.django_db


def test_multipart_upload_commits_to_an_ingested_image(client_for, world, direct, commit):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = big_tiff()
    created = start(curator, dataset, content)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["part_count"] == 3 and body["part_size"] == 5 * MiB
    assert [p["number"] for p in body["parts"]] == [1, 2, 3]
    assert sum(p["size"] for p in body["parts"]) == len(content)
    assert all("X-Amz-Signature" in p["url"] for p in body["parts"])

    # two parts arrive; the upload says which one is missing and re-signs only that one
    put_parts(body, content, numbers={1, 3})
    state = curator.get(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/").json()
    assert state["received"] == [1, 3]
    assert [p["number"] for p in state["parts"]] == [2]
    early = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert early.status_code == 409 and early.json()["error"]["code"] == "missing_parts"
    assert "2" in early.json()["error"]["message"]

    put_parts(state, content)
    accepted, done = commit(curator, dataset, body["id"])
    assert accepted.status_code == 202 and accepted.json()["checked_bytes"] == 0
    assert done["status"] == "committed" and done["error"] == "" and done["error_code"] == ""
    assert done["checked_bytes"] == len(content) and done["parts"] == []
    assert commit.ingests == [(done["image"],)]  # the worker's commit enqueued the ingest
    image_body = curator.get(f"/api/images/{done['image']}/").json()
    assert image_body["sha256"] == hashlib.sha256(content).hexdigest()
    assert (image_body["width"], image_body["height"]) == (2400, 2500)
    assert image_body["status"] == "pending"

    image = Image.objects.get(pk=image_body["id"])
    with storage.open_(image.original_key) as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == image.sha256
    staged = DirectUpload.objects.get(pk=body["id"]).staging_key
    assert objects_under(staged) == [] and multipart_uploads(staged) == []
    services.image_ingest(image_id=image.pk)  # what the worker runs
    ready = curator.get(f"/api/images/{image.pk}/").json()
    assert ready["status"] == "ready"
    assert DirectUpload.objects.get(pk=body["id"]).status == "committed"
    again = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert again.status_code == 409 and again.json()["error"]["code"] == "state"


def test_the_commit_is_idempotent(client_for, world, direct, commit):
    """A repeated commit while it runs is answered as it is; a second delivery of the job, or
    one after a delivery lost between the image and the upload's row, makes no second image."""
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = tiff_bytes()
    body = start(curator, dataset, content).json()
    put_parts(body, content)
    _, done = commit(curator, dataset, body["id"], runs=2)
    assert done["status"] == "committed" and done["image"] == body["id"]
    assert Image.objects.filter(dataset=dataset).count() == 1 and len(commit.ingests) == 1
    # as if the worker died after making the image: the upload still says committing
    DirectUpload.objects.filter(pk=body["id"]).update(status="committing", image=None)
    repeated = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert repeated.status_code == 202 and repeated.json()["status"] == "committing"
    commit_direct_upload.apply(args=[body["id"]], throw=True)
    upload = DirectUpload.objects.get(pk=body["id"])
    assert upload.status == "committed" and str(upload.image_id) == done["image"]
    assert Image.objects.filter(dataset=dataset).count() == 1


def test_an_unexpected_failure_is_recorded_and_nothing_kept(
    client_for, world, direct, commit, monkeypatch
):
    """The store failing while the image's copy is made: the upload ends failed with the
    reason, no image row, no copy, no staged object (fault injected into the store)."""
    from minio import Minio

    dataset = world.dataset()
    curator = client_for(world.curator)
    content = tiff_bytes()
    body = start(curator, dataset, content).json()
    put_parts(body, content)

    def broken_copy(self, *args, **kwargs):
        raise RuntimeError("the store refused the copy")

    monkeypatch.setattr(Minio, "copy_object", broken_copy)
    _, done = commit(curator, dataset, body["id"])
    assert done["status"] == "failed" and done["error_code"] == "commit_failed"
    assert "the store refused the copy" in done["error"]
    assert not Image.objects.exists()
    assert objects_under(f"labs/{dataset.lab_id}/datasets/{dataset.pk}/") == []


def test_sha256_mismatch_fails_the_commit_and_nothing_is_stored(client_for, world, direct, commit):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = tiff_bytes()
    body = start(curator, dataset, content, sha256="0" * 64).json()
    assert body["part_count"] == 1
    put_parts(body, content)
    _, done = commit(curator, dataset, body["id"])
    assert done["status"] == "failed" and done["error_code"] == "sha256_mismatch"
    assert "sha256" in done["error"] and done["image"] is None
    assert not Image.objects.exists()
    assert objects_under(f"labs/{dataset.lab_id}/datasets/{dataset.pk}/") == []
    upload = DirectUpload.objects.get(pk=body["id"])
    assert upload.status == "failed" and "sha256" in upload.error


def test_a_file_an_upload_refuses_is_refused_and_deleted(client_for, world, direct, commit):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = b"not a micrograph at all" * 100
    body = start(curator, dataset, content, name="fake.tif").json()
    put_parts(body, content)
    _, done = commit(curator, dataset, body["id"])
    assert done["status"] == "failed" and done["error_code"] not in ("", "commit_failed")
    assert done["error"] and not Image.objects.exists()
    assert objects_under(f"labs/{dataset.lab_id}/datasets/{dataset.pk}/") == []


def test_a_part_of_the_wrong_size_fails_the_commit(client_for, world, direct):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = png_bytes()
    body = start(curator, dataset, content, size=len(content) + 10).json()
    requests.put(body["parts"][0]["url"], data=content, timeout=30).raise_for_status()
    response = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "size_mismatch"
    assert not Image.objects.exists()


def test_sizes_over_the_limits_are_413(client_for, world, direct, settings):
    dataset = world.dataset()
    curator = client_for(world.curator)
    settings.CHIPLAB_DIRECT_UPLOAD_MAX_BYTES = 10 * MiB
    response = start(curator, dataset, b"x", size=10 * MiB + 1)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    # more parts than allowed would need parts above S3's 5 GiB
    settings.CHIPLAB_DIRECT_UPLOAD_MAX_BYTES = 10**13
    settings.CHIPLAB_DIRECT_UPLOAD_MAX_PARTS = 2
    response = start(curator, dataset, b"x", size=11 * 1024**3)
    assert response.status_code == 413
    assert not DirectUpload.objects.exists()


def test_part_size_grows_to_stay_within_the_part_count(client_for, world, direct, settings):
    settings.CHIPLAB_DIRECT_UPLOAD_MAX_PARTS = 4
    body = start(client_for(world.curator), world.dataset(), b"x", size=100 * MiB).json()
    assert body["part_count"] == 4 and body["part_size"] == 25 * MiB
    assert len(body["parts"]) == 4


def test_bad_requests_are_400(client_for, world, direct):
    dataset = world.dataset()
    curator = client_for(world.curator)
    url = f"/api/datasets/{dataset.pk}/uploads/"
    assert (
        curator.post(url, {"filename": "a.tif", "size": 0, "sha256": "0" * 64}).status_code == 400
    )
    bad_sha = curator.post(url, {"filename": "a.tif", "size": 5, "sha256": "xyz"}, format="json")
    assert bad_sha.status_code == 400 and "sha256" in bad_sha.json()["error"]["fields"]
    listing = curator.get(f"{url}?status=nonsense")
    assert listing.status_code == 400


def test_duplicate_of_an_image_is_refused_at_start(client_for, world, direct, commit):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = png_bytes()
    body = start(curator, dataset, content, name="a.png").json()
    put_parts(body, content)
    assert commit(curator, dataset, body["id"])[1]["status"] == "committed"
    again = start(curator, dataset, content, name="b.png")
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate"


def test_cancel_deletes_the_parts(client_for, world, direct):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = png_bytes()
    body = start(curator, dataset, content).json()
    put_parts(body, content)
    staged = DirectUpload.objects.get(pk=body["id"]).staging_key
    assert len(multipart_uploads(staged)) == 1
    assert curator.delete(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/").status_code == 204
    assert multipart_uploads(staged) == []
    commit = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert commit.status_code == 409


def test_expired_uploads_are_aborted(client_for, world, direct):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = png_bytes()
    body = start(curator, dataset, content).json()
    put_parts(body, content)
    DirectUpload.objects.filter(pk=body["id"]).update(expires=timezone.now() - timedelta(seconds=1))
    commit = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert commit.status_code == 409 and "expired" in commit.json()["error"]["message"]
    upload = DirectUpload.objects.get(pk=body["id"])
    assert upload.status == "aborted" and multipart_uploads(upload.staging_key) == []
    assert not Image.objects.exists()


def test_embedded_mode_says_direct_upload_needs_s3(client_for, world, local_storage):
    dataset = world.dataset()
    response = start(client_for(world.curator), dataset, png_bytes())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "needs_s3"
    assert "S3" in response.json()["error"]["message"]
    imported = client_for(world.curator).post(
        f"/api/datasets/{dataset.pk}/imports/", {"prefix": "x/"}, format="json"
    )
    assert imported.status_code == 409


def test_other_labs_and_low_roles_are_refused(client_for, world, direct):
    dataset = world.dataset()
    content = png_bytes()
    body = start(client_for(world.curator), dataset, content).json()
    base = f"/api/datasets/{dataset.pk}/uploads/"
    outsider = client_for(world.outsider)
    assert start(outsider, dataset, content).status_code == 404
    assert outsider.get(base).status_code == 404
    assert outsider.get(f"{base}{body['id']}/").status_code == 404
    assert outsider.post(f"{base}{body['id']}/commit").status_code == 404
    assert outsider.delete(f"{base}{body['id']}/").status_code == 404
    assert (
        outsider.post(f"/api/datasets/{dataset.pk}/imports/", {"prefix": "imports/"}).status_code
        == 404
    )
    for role in ("viewer", "annotator"):
        member = client_for(world.users[role])
        assert start(member, dataset, content).status_code == 403
        assert member.get(f"{base}{body['id']}/").status_code == 403
        assert member.post(f"{base}{body['id']}/commit").status_code == 403
    # an upload of another dataset is not found through this one
    other = world.dataset()
    assert (
        client_for(world.curator).get(f"/api/datasets/{other.pk}/uploads/{body['id']}/").status_code
        == 404
    )
    listed = client_for(world.curator).get(base).json()
    assert [u["id"] for u in listed["results"]] == [body["id"]]


def test_the_sweep_aborts_expired_uploads_nobody_touches(client_for, world, direct):
    """An upload abandoned after its parts were sent is aborted by the sweep (workers run it
    every CHIPLAB_UPLOAD_SWEEP_SECONDS; also a command), not only when someone calls it."""
    from django.core.management import call_command

    dataset = world.dataset()
    content = png_bytes()
    body = start(client_for(world.curator), dataset, content).json()
    put_parts(body, content)
    fresh = start(client_for(world.curator), dataset, tiff_bytes()).json()
    DirectUpload.objects.filter(pk=body["id"]).update(expires=timezone.now() - timedelta(seconds=1))
    staged = DirectUpload.objects.get(pk=body["id"]).staging_key
    assert len(multipart_uploads(staged)) == 1
    call_command("chiplab_sweep_uploads")
    assert DirectUpload.objects.get(pk=body["id"]).status == "aborted"
    assert multipart_uploads(staged) == []
    assert DirectUpload.objects.get(pk=fresh["id"]).status == "uploading"  # not expired
