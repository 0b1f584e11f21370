"""The client stays in step with the OpenAPI schema: every operation has a method."""

import inspect

from chiplab_client import Client, covered_operations
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


def _schema_operations() -> dict[str, tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        op["operationId"]: (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_every_operation_of_the_schema_has_a_client_method():
    schema = _schema_operations()
    covered = covered_operations()
    assert len(schema) > 60
    missing = sorted(set(schema) - set(covered))
    assert not missing, f"operations without a client method: {missing}"
    stale = sorted(set(covered) - set(schema))
    assert not stale, f"client methods of operations the API no longer has: {stale}"
    drifted = {
        op_id: ((o.method, o.path), schema[op_id])
        for op_id, o in covered.items()
        if (o.method, o.path) != schema[op_id]
    }
    assert not drifted, f"method or path differs from the schema: {drifted}"


def test_each_declared_operation_belongs_to_a_method_of_a_client_area():
    client = Client("http://chiplab.invalid", token="x")
    declared = set()
    for area in vars(client).values():
        for _, method in inspect.getmembers(area, inspect.ismethod):
            for op_id in getattr(method, "operations", ()):
                declared.add(op_id)
                # the method's body (below its decorators) calls the operation it declares
                body = inspect.getsource(method).split("    def ", 1)[1]
                assert f'"{op_id}"' in body, (method, op_id)
    assert declared == set(covered_operations())
