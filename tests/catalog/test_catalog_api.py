"""Datasets and image uploads through the API: roles, isolation, FAIR metadata, bad input."""

import contextlib
import hashlib
from datetime import datetime, timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalog.models import Dataset, Image, Visibility
from tests.support.micrographs import JEOL_TIFF, calibrated_tiff_bytes, png_bytes, tiff_bytes

pytestmark = pytest.mark.django_db


def upload(client, dataset, content: bytes, name: str):
    return client.post(
        f"/api/datasets/{dataset.pk}/images/",
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )


def stored_objects(dataset) -> list[str]:
    """Every stored object under the dataset's key prefix."""
    found = []

    def walk(prefix):
        dirs, files = default_storage.listdir(prefix)
        found.extend(f"{prefix}{f}" for f in files)
        for d in dirs:
            walk(f"{prefix}{d}/")

    with contextlib.suppress(FileNotFoundError):
        walk(f"labs/{dataset.lab_id}/datasets/{dataset.pk}/")
    return found


# --- datasets ----------------------------------------------------------------------
def test_curator_creates_dataset_with_fair_metadata(client_for, world):
    response = client_for(world.curator).post(
        "/api/datasets/",
        {
            "lab": str(world.lab.pk),
            "title": "STO/Ge interfaces",
            "licence": "CC-BY-4.0",
            "keywords": ["HAADF", "STO"],
            "visibility": "lab",
            "creators": [{"name": "Ada Lovelace", "orcid": "0000-0002-1825-0097"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["persistent_url"].endswith(f"/datasets/{body['id']}/")
    assert body["creators"][0]["orcid"] == "0000-0002-1825-0097"
    assert body["image_count"] == 0  # the schema's required field, as GET gives it
    patched = client_for(world.curator).patch(
        f"/api/datasets/{body['id']}/", {"title": "STO/Ge"}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["image_count"] == 0


def test_a_creator_orcid_must_carry_a_valid_checksum(client_for, world):
    body = {"lab": str(world.lab.pk), "title": "x"}
    curator = client_for(world.curator)
    bad = curator.post(
        "/api/datasets/",
        {**body, "creators": [{"name": "A", "orcid": "0000-0002-1825-0098"}]},
        format="json",
    )
    assert bad.status_code == 400 and "checksum" in bad.json()["error"]["message"]
    good = curator.post(
        "/api/datasets/",
        {**body, "creators": [{"name": "A", "orcid": "0000-0002-1694-233x"}]},
        format="json",
    )
    assert good.status_code == 201 and good.json()["creators"][0]["orcid"] == "0000-0002-1694-233X"
    as_url = curator.post(  # the form ORCID recommends showing
        "/api/datasets/",
        {**body, "creators": [{"name": "A", "orcid": "https://orcid.org/0000-0002-1825-0097"}]},
        format="json",
    )
    assert as_url.json()["creators"][0]["orcid"] == "0000-0002-1825-0097"


@pytest.mark.parametrize("role", ["viewer", "annotator"])
def test_low_roles_cannot_create_datasets(client_for, world, role):
    response = client_for(world.users[role]).post(
        "/api/datasets/", {"lab": str(world.lab.pk), "title": "x"}, format="json"
    )
    assert response.status_code == 403


def test_dataset_in_another_lab_cannot_be_created(client_for, world):
    response = client_for(world.outsider).post(
        "/api/datasets/", {"lab": str(world.lab.pk), "title": "x"}, format="json"
    )
    assert response.status_code == 404


def test_unknown_licence_is_refused(client_for, world):
    response = client_for(world.curator).post(
        "/api/datasets/",
        {"lab": str(world.lab.pk), "title": "x", "licence": "WTFPL-9"},
        format="json",
    )
    assert response.status_code == 400
    assert "licence" in response.json()["error"]["fields"]


def test_visibility_rules(client_for, world, client):
    private = world.dataset(visibility=Visibility.PRIVATE, created_by=world.annotator)
    lab_only = world.dataset(visibility=Visibility.LAB)
    public = world.dataset(visibility=Visibility.PUBLIC)

    def visible(user):
        c = client_for(user) if user else client
        return {d["id"] for d in c.get("/api/datasets/").json()["results"]}

    ids = {d: str(d.pk) for d in (private, lab_only, public)}
    assert visible(world.annotator) == {ids[private], ids[lab_only], ids[public]}
    assert visible(world.curator) == {ids[private], ids[lab_only], ids[public]}
    assert visible(world.viewer) == {ids[lab_only], ids[public]}
    assert visible(world.outsider) == {ids[public]}
    assert visible(None) == {ids[public]}
    for dataset in (private, lab_only):
        assert client_for(world.outsider).get(f"/api/datasets/{dataset.pk}/").status_code == 404
        assert client.get(f"/api/datasets/{dataset.pk}/jsonld").status_code in (401, 403, 404)
        assert client.get(f"/datasets/{dataset.pk}/").status_code == 404
    assert client.get(f"/datasets/{public.pk}/").status_code == 200


def test_outsider_cannot_touch_a_dataset(client_for, world):
    dataset = world.dataset()
    outsider = client_for(world.outsider)
    url = f"/api/datasets/{dataset.pk}/"
    assert outsider.patch(url, {"title": "mine"}, format="json").status_code == 404
    assert outsider.delete(url).status_code == 404
    assert outsider.get(f"{url}images/").status_code == 404
    assert upload(outsider, dataset, png_bytes(), "a.png").status_code == 404
    assert outsider.get(f"{url}jsonld").status_code == 404
    assert Dataset.objects.filter(pk=dataset.pk, title=dataset.title).exists()


def test_lab_filter_of_another_lab_is_not_found(client_for, world):
    assert client_for(world.outsider).get(f"/api/datasets/?lab={world.lab.pk}").status_code == 404


def test_jsonld_describes_the_dataset(client_for, world):
    dataset = world.dataset(
        licence="CC0-1.0",
        keywords=["STEM"],
        doi="10.1234/abc",
        creators=[{"name": "A. B.", "orcid": "0000-0002-1825-0097"}],
    )
    Image.objects.create(
        dataset=dataset,
        original_filename="a.tif",
        original_key="k",
        size_bytes=10,
        sha256="ab" * 32,
        format="tiff",
        width=4,
        height=4,
        dtype="uint16",
        status="ready",
        uploaded_by=world.curator,
        pixel_size=0.05,
        pixel_unit="nm",
        instrument={"microscope": "JEM-ARM300F", "voltage_kv": 300.0, "tags": {"x": 1}},
        ingested=timezone.now() + timedelta(minutes=5),
    )
    doc = client_for(world.viewer).get(f"/api/datasets/{dataset.pk}/jsonld").json()
    assert doc["@type"] == "Dataset" and doc["@context"] == "https://schema.org/"
    assert doc["license"] == "https://spdx.org/licenses/CC0-1.0.html"
    assert "https://doi.org/10.1234/abc" in doc["identifier"]
    assert doc["creator"][0]["identifier"] == "https://orcid.org/0000-0002-1825-0097"
    item = doc["distribution"][0]
    assert item["encodingFormat"] == "image/tiff" and item["width"]["value"] == 4
    props = {p["propertyID"]: p for p in item["additionalProperty"]}
    assert all(p["@type"] == "PropertyValue" for p in props.values())
    assert props["sha256"]["value"] == "ab" * 32
    assert props["pixel_size"] == {
        "@type": "PropertyValue",
        "propertyID": "pixel_size",
        "value": 0.05,
        "unitText": "nm",
    }
    assert props["microscope"]["value"] == "JEM-ARM300F" and props["voltage_kv"]["value"] == 300
    assert "tags" not in props  # nested vendor trees stay in the image's own metadata
    # adding (ingesting) an image modifies the dataset
    assert datetime.fromisoformat(doc["dateModified"]) > dataset.modified


def test_image_list_filters_by_status_and_refuses_an_unknown_one(client_for, world):
    dataset = world.dataset()
    client = client_for(world.viewer)
    assert client.get(f"/api/datasets/{dataset.pk}/images/?status=ready").status_code == 200
    response = client.get(f"/api/datasets/{dataset.pk}/images/?status=done")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"status": ["invalid_choice"]}


# --- uploads -----------------------------------------------------------------------
def test_upload_stores_original_and_metadata_row(client_for, world):
    dataset = world.dataset()
    content = calibrated_tiff_bytes(np.arange(48 * 40, dtype=np.uint16).reshape(48, 40))
    response = upload(client_for(world.curator), dataset, content, "scan.tif")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["width"], body["height"], body["frames"]) == (40, 48, 1)
    assert body["dtype"] == "uint16" and body["format"] == "tiff"
    assert body["status"] == "pending"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    image = Image.objects.get(pk=body["id"])
    with default_storage.open(image.original_key, "rb") as fh:
        assert fh.read() == content


@pytest.mark.parametrize("role", ["viewer", "annotator"])
def test_low_roles_cannot_upload(client_for, world, role):
    dataset = world.dataset()
    assert upload(client_for(world.users[role]), dataset, png_bytes(), "a.png").status_code == 403
    assert not Image.objects.exists()


def test_duplicate_upload_is_a_conflict(client_for, world):
    dataset = world.dataset()
    curator = client_for(world.curator)
    first = upload(curator, dataset, png_bytes(), "a.png")
    second = upload(curator, dataset, png_bytes(), "b.png")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "duplicate"
    assert first.json()["id"] in second.json()["error"]["message"]
    assert Image.objects.count() == 1


def test_same_file_in_two_datasets_is_fine(client_for, world):
    curator = client_for(world.curator)
    assert upload(curator, world.dataset(), png_bytes(), "a.png").status_code == 201
    assert upload(curator, world.dataset(), png_bytes(), "a.png").status_code == 201


def truncated_tiff() -> bytes:
    content = tiff_bytes(np.random.default_rng(0).integers(0, 60000, (256, 256), np.uint16))
    return content[: len(content) // 2]


def bomb_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100_001 * 4)  # a few rows; the header claims 10^10 pixels
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


BAD_FILES = {
    "empty": (b"", "a.png", 400),
    "unknown format": (b"hello, this is not a micrograph" * 10, "notes.png", 415),
    "extension lies": (png_bytes(), "scan.dm4", 415),
    "jpeg named png": (None, "photo.png", 415),
    "truncated tiff": (truncated_tiff(), "cut.tif", 400),
    "decompression bomb": (bomb_png(), "bomb.png", 413),
    "unsupported extension": (png_bytes(), "image.bmp", 415),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_get_a_clear_error_and_store_nothing(client_for, world, case):
    from tests.support.micrographs import jpeg_bytes

    content, name, status = BAD_FILES[case]
    content = jpeg_bytes() if content is None else content
    dataset = world.dataset()
    response = upload(client_for(world.curator), dataset, content, name)
    assert response.status_code == status, response.content
    message = response.json()["error"]["message"]
    assert len(message) > 10
    assert not Image.objects.exists()
    assert stored_objects(dataset) == []


def test_file_over_the_size_limit_is_413(client_for, world, settings):
    settings.CHIPLAB_MAX_UPLOAD_BYTES = 1000
    dataset = world.dataset()
    response = upload(client_for(world.curator), dataset, tiff_bytes(), "big.tif")
    assert response.status_code == 413
    assert "1000" in response.json()["error"]["message"]
    assert not Image.objects.exists()


def test_missing_file_field(client_for, world):
    dataset = world.dataset()
    response = client_for(world.curator).post(
        f"/api/datasets/{dataset.pk}/images/", {"other": "x"}, format="multipart"
    )
    assert response.status_code == 400
    assert "file" in response.json()["error"]["message"]


def test_unknown_dataset_is_404(client_for, world):
    import uuid

    response = upload(
        client_for(world.curator), type("D", (), {"pk": uuid.uuid4()}), png_bytes(), "a.png"
    )
    assert response.status_code == 404


def test_image_endpoints_hide_other_labs(client_for, world):
    dataset = world.dataset()
    image_id = upload(client_for(world.curator), dataset, png_bytes(), "a.png").json()["id"]
    outsider = client_for(world.outsider)
    for suffix in ("", "original", "preview", "thumbnail"):
        assert outsider.get(f"/api/images/{image_id}/{suffix}").status_code == 404
    assert outsider.delete(f"/api/images/{image_id}/").status_code == 404
    assert client_for(world.viewer).get(f"/api/images/{image_id}/").status_code == 200


def test_preview_before_ingest_is_not_ready(client_for, world):
    dataset = world.dataset()
    image_id = upload(client_for(world.curator), dataset, png_bytes(), "a.png").json()["id"]
    response = client_for(world.viewer).get(f"/api/images/{image_id}/preview")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_ready"


def test_original_streams_bit_exact_from_disk(client_for, world, local_storage):
    dataset = world.dataset()
    content = JEOL_TIFF.read_bytes()
    image_id = upload(client_for(world.curator), dataset, content, JEOL_TIFF.name).json()["id"]
    response = client_for(world.viewer).get(f"/api/images/{image_id}/original")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert JEOL_TIFF.name in response["Content-Disposition"]


def test_original_round_trips_bit_exact_through_s3(client_for, world, s3_storage, settings):
    import requests

    dataset = world.dataset()
    content = JEOL_TIFF.read_bytes()
    response = upload(client_for(world.curator), dataset, content, JEOL_TIFF.name)
    assert response.status_code == 201, response.json()
    redirect = client_for(world.viewer).get(f"/api/images/{response.json()['id']}/original")
    assert redirect.status_code == 302
    url = redirect["Location"]
    browsers_reach = settings.S3_PUBLIC_ENDPOINT_URL or s3_storage  # CI sets another name
    assert url.startswith(browsers_reach) and "X-Amz-Signature" in url and "X-Amz-Expires=" in url
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(content).hexdigest()


def test_deleting_a_time_series_removes_its_frame_previews(client_for, world):
    from django.test import TestCase

    from catalog import services

    dataset = world.dataset()
    stack = np.stack(
        [np.full((16, 20), v, np.uint16) + np.arange(20, dtype=np.uint16) for v in (0, 9)]
    )
    image_id = upload(client_for(world.curator), dataset, tiff_bytes(stack), "s.tif").json()["id"]
    image = services.image_ingest(image_id=image_id)
    assert image.preview_frames == 2
    frame_key = services.frame_preview_key(image, 1)
    assert default_storage.exists(frame_key)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client_for(world.curator).delete(f"/api/images/{image_id}/").status_code == 204
    assert stored_objects(dataset) == []


def test_curator_deletes_image_and_its_objects(client_for, world):
    dataset = world.dataset()
    image_id = upload(client_for(world.curator), dataset, png_bytes(), "a.png").json()["id"]
    key = Image.objects.get(pk=image_id).original_key
    assert client_for(world.annotator).delete(f"/api/images/{image_id}/").status_code == 403
    with pytest.MonkeyPatch.context():
        from django.test import TestCase

        with TestCase.captureOnCommitCallbacks(execute=True):
            assert client_for(world.curator).delete(f"/api/images/{image_id}/").status_code == 204
    assert not default_storage.exists(key)


def test_landing_page_embeds_jsonld(client_for, world, client):
    import json
    import re

    dataset = world.dataset(
        visibility=Visibility.PUBLIC, title="Public STO/Ge set", licence="CC-BY-4.0"
    )
    page = client.get(f"/datasets/{dataset.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Public STO/Ge set" in html and "https://spdx.org/licenses/CC-BY-4.0.html" in html
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    doc = json.loads(block.group(1))
    assert doc["name"] == "Public STO/Ge set" and doc["@id"].endswith(f"/datasets/{dataset.pk}/")


def test_landing_page_cannot_be_scripted_through_dataset_text(world, client):
    """A curator's title/description/keywords end up inside the page's JSON-LD <script>."""
    import json
    from html.parser import HTMLParser

    attack = "x</script><script>document.body.dataset.pwned=1</script><!--"
    dataset = world.dataset(
        visibility=Visibility.PUBLIC,
        title=attack,
        description=f"d {attack}",
        keywords=[attack],
        licence="CC-BY-4.0",
    )
    page = client.get(f"/datasets/{dataset.pk}/")
    assert page.status_code == 200

    class Scripts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.blocks, self._in = [], False

        def handle_starttag(self, tag, attrs):
            if tag == "script":
                self.blocks.append([dict(attrs).get("type"), ""])
                self._in = True

        def handle_endtag(self, tag):
            self._in = self._in and tag != "script"

        def handle_data(self, data):
            if self._in:
                self.blocks[-1][1] += data

    parser = Scripts()
    parser.feed(page.content.decode())
    assert [kind for kind, _ in parser.blocks] == ["application/ld+json"]  # nothing injected
    doc = json.loads(parser.blocks[0][1])
    assert doc["name"] == attack and attack in doc["keywords"]  # the text itself is kept
    csp = page["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp


def test_concurrent_dataset_edits_of_different_fields_both_survive(world):
    from catalog import services

    dataset = world.dataset(title="Old", licence="CC-BY-4.0")
    first, second = (Dataset.objects.get(pk=dataset.pk) for _ in range(2))
    services.dataset_update(user=world.curator, dataset=first, title="New title")
    services.dataset_update(user=world.curator, dataset=second, licence="CC0-1.0")
    dataset.refresh_from_db()
    assert (dataset.title, dataset.licence) == ("New title", "CC0-1.0")
