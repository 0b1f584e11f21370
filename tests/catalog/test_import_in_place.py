"""Import in place (catalog.direct.imports): every object under a prefix of an allowed bucket
made an image, each checked like an upload, against the S3 test server."""

import io

import numpy as np
import pytest

from catalog.models import Image
from common import storage
from tests.catalog.direct_support import objects_under
from tests.support.micrographs import png_bytes, tiff_bytes

pytestmark = pytest.mark.django_db


def drop(key: str, content: bytes) -> None:
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
