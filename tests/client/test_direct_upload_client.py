"""The client's and the CLI's direct upload against a live server, the S3 test server and a
real Celery worker: parts PUT with plain urllib to presigned URLs, resume of missing parts,
commit, and the worker's check of size and sha256 that the client waits on."""

import hashlib

import numpy as np
import pytest
from chiplab_client import ChiplabError
from chiplab_client.uploads import put_part, sha256_of

from catalog.models import DirectUpload, Image
from tests.support.micrographs import tiff_bytes
from tests.support.services import IN_CI

pytestmark = pytest.mark.integration
MiB = 1024**2


@pytest.fixture
def direct(celery_worker, settings):
    """The configured S3 store, which the worker process uses too, with 5 MiB parts."""
    if settings.CHIPLAB_STORAGE != "s3":
        message = "direct uploads with a worker need CHIPLAB_STORAGE=s3 (as in CI)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    settings.CHIPLAB_DIRECT_UPLOAD_PART_BYTES = 5 * MiB
    return settings.STORAGES["default"]["OPTIONS"]["endpoint_url"]


@pytest.fixture
def big_file(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "stack.tif"
    path.write_bytes(tiff_bytes(rng.integers(0, 65535, size=(2500, 2400), dtype=np.uint16)))
    assert path.stat().st_size > 10 * MiB  # three parts of 5 MiB
    return path


def test_upload_direct_sends_parts_and_commits(world, client_as, direct, big_file, tmp_path):
    dataset = world.dataset()
    chiplab = client_as(world.curator)
    seen, checked = [], []

    image = chiplab.datasets.upload_direct(
        str(dataset.pk),
        big_file,
        progress=lambda done, total: seen.append((done, total)),
        checking=lambda done, total: checked.append((done, total)),
    )

    size = big_file.stat().st_size
    assert image["sha256"] == sha256_of(big_file) and image["size_bytes"] == size
    assert seen[-1] == (size, size) and all(0 <= d <= size for d, _ in seen)
    assert checked[-1] == (size, size) and checked == sorted(checked)
    [upload] = list(chiplab.datasets.uploads(str(dataset.pk)))
    assert upload["status"] == "committed" and upload["image"] == image["id"]
    copy = chiplab.images.download_original(image["id"], tmp_path / "back.tif")
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == image["sha256"]


def test_an_interrupted_upload_resumes_with_only_the_missing_parts(
    world, client_as, direct, big_file
):
    dataset = world.dataset()
    chiplab = client_as(world.curator)
    size, digest = big_file.stat().st_size, sha256_of(big_file)
    first = chiplab.datasets.start_upload(str(dataset.pk), big_file.name, size, digest)
    part = first["parts"][0]
    assert put_part(part["url"], big_file, 0, part["size"])  # then the run was interrupted

    sent = []
    image = chiplab.datasets.upload_direct(
        str(dataset.pk), big_file, progress=lambda done, total: sent.append(done)
    )

    assert sent[0] == first["part_size"]  # part 1 counted as there, not sent again
    uploads = list(chiplab.datasets.uploads(str(dataset.pk)))
    assert [u["id"] for u in uploads] == [first["id"]]
    assert DirectUpload.objects.get(pk=first["id"]).image_id is not None
    assert Image.objects.get(pk=image["id"]).sha256 == digest


def test_another_labs_user_is_not_found_and_a_viewer_forbidden(world, client_as, direct):
    dataset = world.dataset()
    for user, status in ((world.outsider, 404), (world.viewer, 403)):
        with pytest.raises(ChiplabError) as caught:
            client_as(user).datasets.start_upload(str(dataset.pk), "a.tif", 10, "0" * 64)
        assert caught.value.status == status
        with pytest.raises(ChiplabError) as caught:
            client_as(user).datasets.import_objects(str(dataset.pk), "imports/")
        assert caught.value.status == status


def test_a_refused_file_raises_with_the_workers_reason(world, client_as, direct, tmp_path):
    """Bytes that are not a micrograph: the commit's worker refuses them, the client raises
    the upload's error code, and nothing is kept."""
    dataset = world.dataset()
    fake = tmp_path / "fake.tif"
    fake.write_bytes(b"not a micrograph at all" * 1000)
    with pytest.raises(ChiplabError) as caught:
        client_as(world.curator).datasets.upload_direct(str(dataset.pk), fake)
    assert caught.value.code not in ("", "upload_failed", "commit_failed")
    assert caught.value.body["status"] == "failed" and caught.value.body["error"]
    assert not Image.objects.filter(dataset=dataset).exists()


def test_cli_upload_direct(world, logged_in, chiplab, direct, big_file):
    dataset = world.dataset()
    logged_in(world.curator)
    run = chiplab("upload", str(big_file), "--dataset", str(dataset.pk), "--direct", "--json")
    assert run.code == 0, run.stderr
    assert run.json()["uploaded"] == 1
    again = chiplab("upload", str(big_file), "--dataset", str(dataset.pk), "--direct", "--json")
    assert again.code == 0 and again.json()["skipped"] == 1


def test_cli_upload_direct_on_an_embedded_server_says_it_needs_s3(
    world, logged_in, chiplab, local_storage, big_file
):
    dataset = world.dataset()
    logged_in(world.curator)
    run = chiplab("upload", str(big_file), "--dataset", str(dataset.pk), "--direct", "--json")
    assert run.code == 1
    [outcome] = run.json()["files"]
    assert outcome["status"] == "failed" and outcome["error"]["code"] == "needs_s3"
    assert outcome["error"]["status"] == 409
