"""Which OpenAPI operation each client method calls.

Every method that talks to the API is decorated with ``@operation(id, method, path)``: the
operationId, HTTP method and path template of the platform's OpenAPI schema
(``/api/schema/``). The decorators fill :data:`OPERATIONS`, which the method bodies use to
build their requests and which a test compares with the schema, so that an operation without
a client method (or a method whose path drifted) fails the build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str  # OpenAPI template: /api/labs/{lab_id}/


#: operationId -> Operation, filled by the ``@operation`` decorators of the areas
OPERATIONS: dict[str, Operation] = {}


def operation(op_id: str, method: str, path: str) -> Callable[[F], F]:
    """Declare that the decorated method covers the OpenAPI operation ``op_id``."""
    op = Operation(op_id, method.upper(), path)
    known = OPERATIONS.setdefault(op_id, op)
    if known != op:
        raise ValueError(f"{op_id} declared twice, differently: {known} and {op}")

    def mark(func: F) -> F:
        func.__dict__.setdefault("operations", []).append(op_id)
        return func

    return mark


def covered_operations() -> dict[str, Operation]:
    """Every operation the client has a method for (importing all areas first)."""
    from . import client  # noqa: F401  (the areas register themselves on import)

    return dict(OPERATIONS)
