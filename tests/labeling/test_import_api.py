"""Annotation import through the API: multipart upload, roles, labs, bad input, the report."""

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Visibility
from labeling.models import GoldChip, Vote
from labeling.services import imports
from tests.labeling.test_import_services import CHIP, chips_mask, png

pytestmark = pytest.mark.django_db


def post(client, lab, data: bytes, name="labels.png", **fields):
    body = {"file": SimpleUploadedFile(name, data), **fields}
    if "classes" in body and not isinstance(body["classes"], str):
        body["classes"] = json.dumps(body["classes"])
    return client.post(f"/api/grids/{lab.grid.pk}/import", body, format="multipart")


def test_annotator_imports_a_mask_as_votes(client_for, world, lab):
    mask = chips_mask({(0, 0): 1, (1, 1): 2, (3, 3): 1})
    response = post(
        client_for(world.annotator),
        lab,
        png(mask),
        classes={"0": None, "1": "STO", "2": "Ge"},
        threshold="0.9",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["labelled"] == 3 and body["skipped"] == 13 and body["threshold"] == 0.9
    assert body["classes"] == [
        {"id": str(lab.sto.pk), "name": "STO", "chips": 2},
        {"id": str(lab.ge.pk), "name": "Ge", "chips": 1},
    ]
    assert set(body) >= {"import", "grid", "schema", "target", "format", "skipped_reasons"}
    state = client_for(world.annotator).get(f"/api/grids/{lab.grid.pk}/votes/").json()
    assert {(c["row"], c["col"]) for c in state["chips"]} == {(0, 0), (1, 1), (3, 3)}


def test_curator_imports_gold_and_annotator_is_refused(client_for, world, lab):
    csv = b"row,col,class\n2,2,Ge\n"
    refused = post(client_for(world.annotator), lab, csv, "gold.csv", target="gold")
    assert refused.status_code == 403
    assert not GoldChip.objects.exists() and not Vote.objects.exists()
    response = post(client_for(world.curator), lab, csv, "gold.csv", target="gold")
    assert response.status_code == 201, response.json()
    assert response.json()["target"] == "gold"
    gold = client_for(world.curator).get(f"/api/grids/{lab.grid.pk}/gold/").json()
    assert [(g["row"], g["col"], g["class"]) for g in gold] == [(2, 2, str(lab.ge.pk))]


def test_another_labs_user_gets_404_even_on_a_public_dataset(client_for, world, lab):
    for visibility in (Visibility.PRIVATE, Visibility.PUBLIC):
        lab.dataset.visibility = visibility
        lab.dataset.save(update_fields=["visibility"])
        response = post(client_for(world.outsider), lab, b"0,0,STO\n", "x.csv")
        assert response.status_code == 404, (visibility, response.json())
    assert not Vote.objects.exists()
    assert client_for().post(f"/api/grids/{lab.grid.pk}/import", {}).status_code in (401, 403)


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({}, 400, "invalid"),  # no file
        ({"file": b"0,0,STO\n", "threshold": "2"}, 400, "invalid"),
        ({"file": b"0,0,STO\n", "target": "labels"}, 400, "invalid"),
        ({"file": b"0,0,STO\n", "classes": "{not json"}, 400, "invalid"),
        ({"file": b"0,0,STO\n", "schema": "not-a-uuid"}, 400, "invalid"),
        ({"file": b"0,0,Mud\n"}, 400, "unknown_class"),
        ({"file": png(np.ones((10, 10), np.uint8)), "classes": {"1": "STO"}}, 400, "size_mismatch"),
        ({"file": png(chips_mask({}, fill=3)), "classes": {"1": "STO"}}, 400, "unknown_value"),
        ({"file": b"\x00\x00\x00"}, 415, "unsupported_media_type"),
    ],
)
def test_bad_input_is_a_clear_4xx(client_for, world, lab, fields, status, code):
    body = dict(fields)
    if "file" in body:
        body["file"] = SimpleUploadedFile("upload", body["file"])
    if isinstance(body.get("classes"), dict):
        body["classes"] = json.dumps(body["classes"])
    response = client_for(world.annotator).post(
        f"/api/grids/{lab.grid.pk}/import", body, format="multipart"
    )
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not Vote.objects.exists()


def test_an_oversized_file_is_413(client_for, world, lab, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 100)
    response = post(client_for(world.annotator), lab, b"0,0,STO\n" * 20, "big.csv")
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_schema_of_another_dataset_is_refused(client_for, world, lab):
    from labeling import services
    from tests.factories import ReadyImageFactory

    other = world.dataset()
    ReadyImageFactory(dataset=other)
    schema, _ = services.schema_get_or_create_default(user=world.curator, dataset=other)
    response = post(client_for(world.annotator), lab, b"0,0,STO\n", "x.csv", schema=schema.pk)
    assert response.status_code == 400
    assert "schema" in response.json()["error"]["fields"]


def test_mask_chips_follow_the_grid_offset(client_for, world, lab):
    """A grid with an offset reads the mask's pixels under its own chips."""
    from labeling import services

    grid, _ = services.grid_create(
        user=world.annotator, image=lab.image, chip_size=CHIP, offset_x=32, offset_y=16
    )
    mask = np.zeros((256, 256), np.uint8)
    mask[16 : 16 + CHIP, 32 : 32 + CHIP] = 1  # exactly chip (0, 0) of the shifted grid
    body = {"file": SimpleUploadedFile("m.png", png(mask)), "classes": '{"0": null, "1": "Ge"}'}
    response = client_for(world.annotator).post(
        f"/api/grids/{grid.pk}/import", body, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["labelled"] == 1
    vote = Vote.objects.get(grid=grid)
    assert (vote.row, vote.col, vote.label_class_id) == (0, 0, lab.ge.pk)
