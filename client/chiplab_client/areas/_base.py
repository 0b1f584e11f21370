"""What every area of the client shares: building requests from the declared operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..operations import OPERATIONS

if TYPE_CHECKING:
    from .._http import Session
    from ..client import Client


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: "leave this field as it is" in updates, where ``None`` means "clear it"
UNSET: Any = _Unset()


def given(**fields: Any) -> dict[str, Any]:
    """The fields a caller passed (drops UNSET, keeps None)."""
    return {k: v for k, v in fields.items() if v is not UNSET}


def present(**fields: Any) -> dict[str, Any]:
    """The fields that have a value (drops None and UNSET)."""
    return {k: v for k, v in fields.items() if v is not None and v is not UNSET}


class Area:
    def __init__(self, client: Client):
        self._client = client

    @property
    def _http(self) -> Session:
        return self._client.session

    def _path(self, op_id: str, /, **params: Any) -> str:
        template = OPERATIONS[op_id].path
        return template.format(**{k: quote(str(v), safe="") for k, v in params.items()})

    def _call(
        self, op_id: str, /, *, query: dict | None = None, body: Any = None, **params: Any
    ) -> Any:
        """Send the operation's request with a JSON body; the JSON answer (None when empty)."""
        op = OPERATIONS[op_id]
        return self._http.json(op.method, self._path(op_id, **params), query=query, json=body)

    def _pages(
        self, op_id: str, /, *, query: dict | None = None, page_size: int | None = None, **params
    ) -> Iterator[dict]:
        """Every item of a paged list operation, page after page (``next``)."""
        return self._http.pages(self._path(op_id, **params), query=query, page_size=page_size)
