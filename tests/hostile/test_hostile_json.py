"""Hostile JSON bodies on every operation of the API that takes one: wrong types, huge
numbers, deep nesting, unknown ids and ids of another lab's objects. Never a 5xx; a 4xx has
an ``{"error": {"code", "message"}}`` body; another lab's objects are 404."""

import json
import re
import uuid

import pytest

from tests.analysis.helpers import CHIP

pytestmark = pytest.mark.django_db

DEEP = 100_000  # nesting levels: past Python's recursion limit
BODIES = {
    "array": "[]",
    "string": '"x"',
    "number": "1",
    "null": "null",
    "true": "true",
    "huge-number": "1" + "0" * 5000,
    "huge-float": "1e999",
    "negative-huge": "-" + "9" * 400,
    "deep-array": "[" * DEEP + "]" * DEEP,
    "deep-object": '{"a":' * DEEP + "1" + "}" * DEEP,
    "not-json": "{'a': 1",
    "nan": '{"x": NaN}',
}


def operations(world_ids) -> list[tuple[str, str]]:
    """(method, path) of every operation taking a JSON body, path ids filled in."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            content = (op.get("requestBody") or {}).get("content", {})
            if method in ("post", "put", "patch") and "application/json" in content:
                found.append((method, path))
    return found


def fill(path: str, ids: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


@pytest.fixture
def ids(world, segmentable):
    return {
        "dataset_id": str(segmentable["image"].dataset_id),
        "image_id": str(segmentable["image"].pk),
        "grid_id": str(segmentable["grid"].pk),
        "schema_id": str(segmentable["schema"].pk),
        "class_id": str(segmentable["classes"][0].pk),
        "version_id": str(segmentable["version"].pk),
        "lab_id": str(world.lab.pk),
        "user_id": str(world.annotator.pk),
        "name": "chiplab-fourier",
    }


def assert_clear(response):
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400 and response.status_code != 405:
        error = response.json()["error"]
        assert error["code"] and error["message"], error


@pytest.mark.parametrize("kind", list(BODIES))
def test_every_json_operation_answers_hostile_bodies_with_a_4xx(client_for, world, ids, kind):
    client = client_for(world.owner)
    for method, path in operations(ids):
        response = getattr(client, method)(
            fill(path, ids), BODIES[kind], content_type="application/json"
        )
        assert_clear(response)


def _typed_garbage(value):
    """Wrong types, huge numbers and unknown ids for each field of a valid-looking body."""
    return [
        [value],
        {"nested": value},
        10**30,
        -(10**30),
        1e308,
        "x" * 100_000,
        str(uuid.uuid4()),
        None,
        True,
    ]


FIELDS = [
    "title",
    "name",
    "rule",
    "owner",
    "images",
    "support_set",
    "schema",
    "model_version",
    "params",
    "votes",
    "row",
    "col",
    "class",
    "chip_size",
    "offset_x",
    "offset_y",
    "role",
    "email",
    "user",
    "pixel_size",
    "visibility",
    "bootstrap",
    "epochs",
    "min_votes",
    "colour",
    "kind",
    "grids",
    "lab",
    "keywords",
    "creators",
    "licence",
    "support_set_versions",
]


def test_every_field_with_wrong_types_huge_numbers_and_unknown_ids(client_for, world, ids):
    client = client_for(world.owner)
    ops = operations(ids)
    sent = 0
    for garbage in _typed_garbage("x"):
        body = json.dumps({field: garbage for field in FIELDS})
        for method, path in ops:
            assert_clear(
                getattr(client, method)(fill(path, ids), body, content_type="application/json")
            )
            sent += 1
    assert sent >= 9 * 20


def test_another_labs_objects_answer_as_unknown_ids_do(client_for, world, ids):
    """An outsider learns nothing from any body: another lab's object answers exactly as a
    random id (404 once the body is valid; a body error is the same for both)."""
    client = client_for(world.outsider)
    lab_scoped = [
        (m, p)
        for m, p in operations(ids)
        if re.search(r"\{(dataset|image|grid|schema|class|version)_id\}", p)
    ]
    assert len(lab_scoped) >= 8
    not_found = 0
    for method, path in lab_scoped:
        for body in ({}, {"title": "x", "rule": "majority", "name": "x", "chip_size": CHIP}):
            real = getattr(client, method)(fill(path, ids), body, format="json")
            unknown = getattr(client, method)(fill(path, {}), body, format="json")
            assert_clear(real)
            assert (real.status_code, real.json()["error"]["code"]) == (
                unknown.status_code,
                unknown.json()["error"]["code"],
            ), (method, path, real.content[:300])
            not_found += real.status_code == 404
    assert not_found >= len(lab_scoped)
