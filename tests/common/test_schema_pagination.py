"""The OpenAPI schema describes paginated list endpoints as they answer."""

import pytest
from drf_spectacular.generators import SchemaGenerator

PAGINATED = [
    "/api/datasets/",
    "/api/datasets/{dataset_id}/images/",
    "/api/images/{image_id}/results/",
    "/api/segmentation-jobs/",
    "/api/model-versions/",
    "/api/labs/{lab_id}/training-jobs/",
]


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def ok_schema(schema, path):
    body = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    ref = body["schema"].get("$ref", "")
    if ref:
        return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return body["schema"]


@pytest.mark.parametrize("path", PAGINATED)
def test_paginated_lists_declare_the_envelope_and_paging_parameters(schema, path):
    response = ok_schema(schema, path)
    assert response["type"] == "object"
    assert {"count", "next", "previous", "results"} <= set(response["properties"])
    assert response["properties"]["results"]["type"] == "array"
    params = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
    assert {"limit", "offset"} <= params


@pytest.mark.parametrize("path", ["/api/labs/", "/api/tokens/", "/api/labs/{lab_id}/members/"])
def test_unpaginated_lists_stay_arrays(schema, path):
    assert ok_schema(schema, path)["type"] == "array"
    params = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
    assert not {"limit", "offset"} & params


@pytest.mark.django_db
def test_a_paginated_endpoint_answers_with_the_envelope(client_for, world):
    world.dataset()
    body = client_for(world.viewer).get("/api/datasets/?limit=1&offset=0").json()
    assert {"count", "next", "previous", "results"} == set(body) and len(body["results"]) == 1
