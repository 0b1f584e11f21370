"""Helpers of the direct-upload tests (catalog.direct) against the S3 test server: start an
upload, PUT its parts, look at what the store holds (fixtures: tests/catalog/conftest.py)."""

import hashlib

import numpy as np
import requests

from common import storage
from tests.support.micrographs import tiff_bytes

MiB = 1024**2


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
