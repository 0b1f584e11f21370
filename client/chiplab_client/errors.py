"""The client's one exception type."""

from __future__ import annotations

import json
from typing import Any


class ChiplabError(Exception):
    """An API answer that is not a success, or a server that could not be reached.

    ``status`` is the HTTP status (``None`` when no answer came: connection errors, time-outs
    of ``wait()``). ``code``, ``message`` and ``fields`` come from the API's error body
    ``{"error": {"code", "message", "fields"?}}``; ``body`` is that body as sent (parsed JSON
    or text), for anything else it carries.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        fields: dict[str, list[str]] | None = None,
        body: Any = None,
        method: str | None = None,
        url: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields = fields or {}
        self.body = body
        self.method = method
        self.url = url

    def __str__(self) -> str:
        head = f"{self.status} {self.code}" if self.status is not None else self.code
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        return f"{head}: {self.message}{where}"

    @classmethod
    def from_response(cls, *, status: int, body: bytes, method: str, url: str) -> ChiplabError:
        """Read the API's error body; anything else (a proxy's HTML page) is kept as text."""
        text = body.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict):
            return cls(
                str(error.get("message") or f"HTTP {status}"),
                status=status,
                code=str(error.get("code") or "error"),
                fields=error.get("fields") or {},
                body=parsed,
                method=method,
                url=url,
            )
        snippet = " ".join(text.split())[:200] if isinstance(parsed, str) else ""
        return cls(
            snippet or f"HTTP {status}",
            status=status,
            code=f"http_{status}",
            body=parsed,
            method=method,
            url=url,
        )
