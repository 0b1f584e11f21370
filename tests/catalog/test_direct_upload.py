"""Direct upload through presigned multipart URLs and import in place (catalog.direct), against
the S3 test server with the minio SDK: the same checks as an upload, nothing half-stored."""

import hashlib
from datetime import timedelta

import numpy as np
import pytest
import requests
from django.utils import timezone

from catalog import services
from catalog.models import DirectUpload, Image
from common import storage
from tests.support.micrographs import png_bytes, tiff_bytes

pytestmark = pytest.mark.django_db

MiB = 1024**2


@pytest.fixture
def direct(s3_storage, settings):
    """S3 storage with 5 MiB parts (S3's minimum), so a ~12 MB file takes three parts."""
    settings.CHIPLAB_DIRECT_UPLOAD_PART_BYTES = 5 * MiB
    return s3_storage


def big_tiff() -> bytes:
    rng = np.random.default_rng(7)
    content = tiff_bytes(rng.integers(0, 65535, size=(2500, 2400), dtype=np.uint16))
    assert len(content) > 10 * MiB
    return content


def start(client, dataset, content: bytes, *, name="big.tif", sha256=None, size=None):
    return client.post(
        f"/api/datasets/{dataset.pk}/uploads/",
        {
            "filename": name,
            "size": len(content) if size is None else size,
            "sha256": sha256 or hashlib.sha256(content).hexdigest(),
        },
        format="json",
    )


def put_parts(body: dict, content: bytes, numbers=None) -> None:
    for part in body["parts"]:
        if numbers is not None and part["number"] not in numbers:
            continue
        offset = (part["number"] - 1) * body["part_size"]
        chunk = content[offset : offset + part["size"]]
        answer = requests.put(part["url"], data=chunk, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.headers.get("ETag")


def objects_under(prefix: str) -> list[str]:
    client, bucket = storage.s3_client(), storage.s3_bucket()
    return [o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True)]


def multipart_uploads(key: str) -> list:
    client, bucket = storage.s3_client(), storage.s3_bucket()
    return client._list_multipart_uploads(bucket, prefix=key).uploads


def test_multipart_upload_commits_to_an_ingested_image(
    client_for, world, direct, django_capture_on_commit_callbacks
):
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
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        committed = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert committed.status_code == 201, committed.json()
    image_body = committed.json()
    assert image_body["sha256"] == hashlib.sha256(content).hexdigest()
    assert (image_body["width"], image_body["height"]) == (2400, 2500)
    assert image_body["status"] == "pending" and len(callbacks) == 1  # the ingest is enqueued

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


def test_sha256_mismatch_is_400_and_nothing_is_stored(client_for, world, direct):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = tiff_bytes()
    body = start(curator, dataset, content, sha256="0" * 64).json()
    assert body["part_count"] == 1
    put_parts(body, content)
    response = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "sha256_mismatch"
    assert not Image.objects.exists()
    assert objects_under(f"labs/{dataset.lab_id}/datasets/{dataset.pk}/") == []
    upload = DirectUpload.objects.get(pk=body["id"])
    assert upload.status == "failed" and "sha256" in upload.error


def test_a_file_an_upload_refuses_is_refused_and_deleted(client_for, world, direct):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = b"not a micrograph at all" * 100
    body = start(curator, dataset, content, name="fake.tif").json()
    put_parts(body, content)
    response = curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit")
    assert response.status_code in (400, 415), response.json()
    assert not Image.objects.exists()
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


def test_duplicate_of_an_image_is_refused_at_start(client_for, world, direct):
    dataset = world.dataset()
    curator = client_for(world.curator)
    content = png_bytes()
    body = start(curator, dataset, content, name="a.png").json()
    put_parts(body, content)
    assert (
        curator.post(f"/api/datasets/{dataset.pk}/uploads/{body['id']}/commit").status_code == 201
    )
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


# --- import in place -------------------------------------------------------------------------
def drop(key: str, content: bytes) -> None:
    import io

    client, bucket = storage.s3_client(), storage.s3_bucket()
    client.put_object(bucket, key, io.BytesIO(content), len(content))


def test_import_in_place_registers_every_object_with_clear_errors(client_for, world, direct):
    dataset = world.dataset()
    prefix = f"imports/{dataset.lab_id}/run-1/"
    good = [tiff_bytes(np.full((32, 40), i, dtype=np.uint16)) for i in range(3)]
    for i, content in enumerate(good):
        drop(f"{prefix}frame-{i}.tif", content)
    drop(f"{prefix}notes.txt", b"not an image")
    drop(f"{prefix}zz/copy.tif", good[0])  # the same bytes again (listed last): a duplicate
    response = client_for(world.curator).post(
        f"/api/datasets/{dataset.pk}/imports/", {"prefix": prefix}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    names = sorted(i["original_filename"] for i in body["images"])
    assert names == ["frame-0.tif", "frame-1.tif", "frame-2.tif"]
    errors = {e["key"]: e["code"] for e in body["errors"]}
    assert errors[f"{prefix}zz/copy.tif"] == "duplicate"
    assert f"{prefix}notes.txt" in errors
    assert Image.objects.filter(dataset=dataset).count() == 3
    for image in Image.objects.filter(dataset=dataset):
        assert image.original_key.startswith(f"labs/{dataset.lab_id}/datasets/{dataset.pk}/")
    # the sources are left as they were
    assert len(objects_under(prefix)) == 5


def test_import_is_bounded_and_limited_to_the_labs_prefix(client_for, world, direct, settings):
    dataset = world.dataset()
    curator = client_for(world.curator)
    url = f"/api/datasets/{dataset.pk}/imports/"
    prefix = f"imports/{dataset.lab_id}/many/"
    for i in range(3):
        drop(f"{prefix}{i}.png", png_bytes())
    settings.CHIPLAB_IMPORT_MAX_OBJECTS = 2
    too_many = curator.post(url, {"prefix": prefix}, format="json")
    assert too_many.status_code == 413 and not Image.objects.exists()
    # another lab's originals, or another bucket not allowed by the operator
    for data in ({"prefix": "labs/"}, {"prefix": f"imports/{world.other_lab.pk}/"}):
        refused = curator.post(url, data, format="json")
        assert refused.status_code == 400, data
        assert refused.json()["error"]["code"] == "import_not_allowed"
    other_bucket = curator.post(url, {"bucket": "elsewhere", "prefix": "x/"}, format="json")
    assert other_bucket.status_code == 400
    empty = curator.post(url, {"prefix": f"imports/{dataset.lab_id}/nothing/"}, format="json")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_prefix"


@pytest.mark.parametrize("role", ["viewer", "annotator"])
def test_non_curators_cannot_import(client_for, world, direct, role):
    dataset = world.dataset()
    prefix = f"imports/{dataset.lab_id}/r/"
    drop(f"{prefix}a.png", png_bytes())
    response = client_for(world.users[role]).post(
        f"/api/datasets/{dataset.pk}/imports/", {"prefix": prefix}, format="json"
    )
    assert response.status_code == 403
    assert not Image.objects.exists()


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
