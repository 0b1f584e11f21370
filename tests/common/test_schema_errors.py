"""The OpenAPI schema declares the error body every 4xx answer has."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def test_every_operation_declares_the_error_body_it_answers_with(client_for, user):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) > 60
    missing = [
        f"{method} {path}"
        for path, method, op in operations
        if op["responses"].get("4XX", {}).get("content", {}).get("application/json", {})
        != {"schema": {"$ref": "#/components/schemas/Error"}}
    ]
    assert missing == []
    error = schema["components"]["schemas"]["Error"]
    detail = schema["components"]["schemas"][
        error["properties"]["error"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
        if "allOf" in error["properties"]["error"]
        else error["properties"]["error"]["$ref"].rsplit("/", 1)[-1]
    ]
    assert set(detail["required"]) == {"code", "message"}
    # and a real answer has that shape
    body = client_for(user).get("/api/datasets/00000000-0000-0000-0000-000000000000/").json()
    assert set(body) == {"error"} and set(body["error"]) >= {"code", "message"}
