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


# --- limit and offset are checked ---------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,field",
    [
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=1001", "limit"),
        ("limit=1_0", "limit"),
        ("offset=-5", "offset"),
        ("offset=x", "offset"),
    ],
)
def test_bad_limit_or_offset_is_a_400(client_for, world, query, field):
    response = client_for(world.viewer).get(f"/api/datasets/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error["fields"]) == {field} and error["message"].startswith(field)


@pytest.mark.django_db
def test_limit_up_to_the_maximum_and_empty_values_are_fine(client_for, world):
    world.dataset()
    world.dataset()
    viewer = client_for(world.viewer)
    assert len(viewer.get("/api/datasets/?limit=1000").json()["results"]) == 2
    assert viewer.get("/api/datasets/?limit=&offset=").json()["count"] == 2
    assert viewer.get("/api/datasets/?offset=5").json()["results"] == []


def _api_views():
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
                yield pattern.callback.cls

    return list(walk(get_resolver().url_patterns))


def test_every_paginated_view_uses_the_project_paginator():
    from common.apis import LimitOffsetPagination

    paged = [view for view in _api_views() if getattr(view, "pagination_class", None)]
    assert len(paged) >= len(PAGINATED)
    for view in paged:
        assert issubclass(view.pagination_class, LimitOffsetPagination), view


@pytest.mark.parametrize("path", PAGINATED)
def test_the_schema_states_the_paging_bounds(schema, path):
    params = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert params["offset"] == {"type": "integer", "minimum": 0}
