"""HTTP for the client: a replaceable transport (urllib by default), retries, paging, files.

Only the standard library: pipelines install the client next to anything else.
"""

from __future__ import annotations

import email.message
import json as jsonlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import client as http_client
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib import error as urlerror
from urllib import parse
from urllib import request as urlrequest

from .errors import ChiplabError

__version__ = "0.1.0"

CHUNK = 1024 * 1024
Progress = Callable[[int, int | None], None]  # (bytes done, bytes in all or None)

#: Statuses worth asking again: too many requests, and a server error or a gateway's.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: For POST only the answers that say the request was not acted on.
RETRY_STATUSES_UNSAFE = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


# --- transport ---------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    #: bytes, or a factory of byte chunks (called again for every attempt)
    body: bytes | Callable[[], Iterable[bytes]] | None = None
    timeout: float = 60.0


class Response:
    """A status, headers (lower-case names) and a body read at once or in chunks."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes | BinaryIO = b""):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self._body = body

    def read(self) -> bytes:
        if isinstance(self._body, bytes):
            return self._body
        try:
            data = self._body.read()
        finally:
            self.close()
        self._body = data
        return data

    def iter_content(self, size: int = CHUNK) -> Iterator[bytes]:
        if isinstance(self._body, bytes):
            yield self._body
            return
        try:
            while chunk := self._body.read(size):
                yield chunk
        finally:
            self.close()

    def json(self) -> Any:
        data = self.read()
        return jsonlib.loads(data) if data else None

    def close(self) -> None:
        if not isinstance(self._body, bytes):
            self._body.close()


class Transport(Protocol):
    """Sends one request; raises ``OSError`` or ``http.client.HTTPException`` when no answer
    came. Any status is an answer (redirects are not followed)."""

    def send(self, request: Request) -> Response: ...


class _NoRedirect(urlrequest.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the session follows redirects itself, without the token off-site


class UrllibTransport:
    """The default transport: urllib with a cookie jar (for ``auth.login`` sessions)."""

    def __init__(self) -> None:
        self.cookies = CookieJar()
        self._opener = urlrequest.build_opener(
            _NoRedirect(), urlrequest.HTTPCookieProcessor(self.cookies)
        )

    def send(self, request: Request) -> Response:
        headers = dict(request.headers)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            self._add_csrf(request.url, headers)
        body = request.body() if callable(request.body) else request.body
        req = urlrequest.Request(request.url, data=body, headers=headers, method=request.method)
        try:
            raw = self._opener.open(req, timeout=request.timeout)
        except urlerror.HTTPError as err:  # any status that is not 2xx: still an answer
            return Response(err.code, dict(err.headers.items()), err)
        return Response(raw.status, dict(raw.headers.items()), raw)

    def _add_csrf(self, url: str, headers: dict[str, str]) -> None:
        """A session (``auth.login``) needs Django's CSRF token on writes; tokens do not."""
        if any(k.lower() == "authorization" for k in headers):
            return
        host = parse.urlsplit(url).hostname
        for cookie in self.cookies:
            if cookie.name == "csrftoken" and cookie.domain.lstrip(".") in (host, f"{host}.local"):
                headers.setdefault("X-CSRFToken", cookie.value or "")
                parts = parse.urlsplit(url)
                headers.setdefault("Referer", f"{parts.scheme}://{parts.netloc}/")


# --- multipart ---------------------------------------------------------------------------
@dataclass
class FilePart:
    filename: str
    source: Path | bytes
    content_type: str = "application/octet-stream"

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size


def multipart(
    fields: Mapping[str, Any], files: Mapping[str, FilePart], progress: Progress | None = None
) -> tuple[str, int, Callable[[], Iterator[bytes]]]:
    """A multipart/form-data body: (content type, length, factory of its chunks).

    Files are streamed from disk in 1 MiB chunks; ``progress(sent, total)`` follows them.
    """
    boundary = f"chiplab-{uuid.uuid4().hex}"
    heads: list[bytes] = []
    for name, value in fields.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else jsonlib.dumps(value)
        heads.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
            f"{text}\r\n".encode()
        )
    parts: list[tuple[bytes, FilePart]] = []
    for name, part in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
            f'filename="{_quote(part.filename)}"\r\nContent-Type: {part.content_type}\r\n\r\n'
        ).encode()
        parts.append((head, part))
    tail = f"--{boundary}--\r\n".encode()
    total = (
        sum(map(len, heads)) + sum(len(head) + part.size + 2 for head, part in parts) + len(tail)
    )

    def chunks() -> Iterator[bytes]:
        sent = 0

        def advance(chunk: bytes) -> bytes:
            nonlocal sent
            sent += len(chunk)
            if progress is not None:
                progress(sent, total)
            return chunk

        for head in heads:
            yield advance(head)
        for head, part in parts:
            yield advance(head)
            if isinstance(part.source, bytes):
                yield advance(part.source)
            else:
                with part.source.open("rb") as fh:
                    while chunk := fh.read(CHUNK):
                        yield advance(chunk)
            yield advance(b"\r\n")
        yield advance(tail)

    return f"multipart/form-data; boundary={boundary}", total, chunks


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")


# --- the session -------------------------------------------------------------------------
class Session:
    """Base URL, token, retries with exponential backoff, redirects, paging and downloads."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.transport: Transport = transport or UrllibTransport()
        self.sleep = sleep

    # --- requests ---
    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"
        pairs = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        if pairs:
            url += ("&" if "?" in url else "?") + parse.urlencode(pairs)
        return url

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        body: bytes | Callable[[], Iterable[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a request (retried where safe) and return a 2xx answer; else ChiplabError."""
        method = method.upper()
        url = self.url(path, query)
        all_headers = {"Accept": "application/json", "User-Agent": f"chiplab-client/{__version__}"}
        if self.token:
            all_headers["Authorization"] = f"Token {self.token}"
        if json is not None:
            body = jsonlib.dumps(json).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        for _ in range(6):  # redirects
            response = self._send_with_retries(
                Request(method, url, all_headers, body, self.timeout)
            )
            if response.status not in REDIRECTS or method not in ("GET", "HEAD"):
                break
            location = parse.urljoin(url, response.headers.get("location", ""))
            response.close()
            if _origin(location) != _origin(url):
                # a presigned object-store URL: its signature is the credential
                all_headers = {
                    k: v for k, v in all_headers.items() if k.lower() not in ("authorization",)
                }
            url = location
        if 200 <= response.status < 300:
            return response
        raise ChiplabError.from_response(
            status=response.status, body=response.read(), method=method, url=url
        )

    def _send_with_retries(self, request: Request) -> Response:
        safe = request.method in IDEMPOTENT
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.transport.send(request)
            except (OSError, http_client.HTTPException) as err:
                # a refused connection never reached the server: safe to repeat any request
                if last or not (safe or _refused(err)):
                    raise ChiplabError(
                        f"Could not reach {self.base_url}: {_reason(err)}",
                        code="connection_error",
                        method=request.method,
                        url=request.url,
                    ) from err
                self.sleep(self._delay(attempt))
                continue
            statuses = RETRY_STATUSES if safe else RETRY_STATUSES_UNSAFE
            if last or response.status not in statuses:
                return response
            delay = _retry_after(response.headers.get("retry-after"))
            response.close()
            self.sleep(min(self.max_backoff, delay) if delay is not None else self._delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter above half the step."""
        step = min(self.max_backoff, self.backoff * 2**attempt)
        return step / 2 + random.uniform(0, step / 2)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # --- lists ---
    def pages(
        self, path: str, *, query: Mapping[str, Any] | None = None, page_size: int | None = None
    ) -> Iterator[dict]:
        """Every item of a paged list ``{"count", "next", "previous", "results"}``."""
        query = {**(query or {}), "limit": page_size}
        url: str | None = self.url(path, query)
        while url:
            page = self.json("GET", url)
            yield from page["results"]
            url = self._same_server(page["next"]) if page.get("next") else None

    def _same_server(self, url: str) -> str:
        """``next`` on this session's base URL (a proxy may make the server name itself
        differently)."""
        parts = parse.urlsplit(url)
        return self.url(parts.path + (f"?{parts.query}" if parts.query else ""))

    # --- files ---
    def download(
        self,
        path: str,
        dest: str | os.PathLike,
        *,
        query: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """Stream a file to ``dest`` (a folder: the server's file name in it). Written to a
        temporary name first, so an interrupted download leaves no partial file."""
        response = self.request("GET", path, query=query, headers={"Accept": "*/*"})
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / _filename(response.headers, fallback=Path(parse.urlsplit(path).path).name)
        total = response.headers.get("content-length")
        done = 0
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_content():
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, int(total) if total else None)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def content(self, path: str, *, query: Mapping[str, Any] | None = None) -> bytes:
        return self.request("GET", path, query=query, headers={"Accept": "*/*"}).read()


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set):
        return ",".join(str(v) for v in value)
    return str(value)


def _origin(url: str) -> tuple[str, str]:
    parts = parse.urlsplit(url)
    return parts.scheme, parts.netloc


def _refused(err: BaseException) -> bool:
    reason = getattr(err, "reason", None)
    return isinstance(err, ConnectionRefusedError) or isinstance(reason, ConnectionRefusedError)


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    return str(reason or err) or type(err).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the seconds form; dates are rare for APIs)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _filename(headers: Mapping[str, str], *, fallback: str) -> str:
    """The file name of ``Content-Disposition`` (RFC 6266, also ``filename*=``), made safe."""
    message = email.message.Message()
    message["content-disposition"] = headers.get("content-disposition", "")
    name = message.get_filename() or fallback or "download"
    name = Path(name.replace("\\", "/")).name.lstrip(".")
    return name or "download"
