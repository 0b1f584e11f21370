"""One POST of a delivery, to the address that was checked, within bounded time and bytes."""

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from . import addresses

EXCERPT_BYTES = 512


@dataclass
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str = ""
    excerpt: str = ""
    permanent: bool = False  # no point retrying (a refused address)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to ``ip`` while naming ``host`` (the Host header)."""

    def __init__(self, host, port, *, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self):
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to ``ip`` with SNI and certificate checks for ``host``."""

    def __init__(self, host, port, *, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self):
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Outcome:
    """POST ``body``; never raises for network trouble: the outcome says what happened.

    Each network wait (connect, TLS, each read) is bounded by ``timeout``; redirects are not
    followed; at most ``EXCERPT_BYTES`` of the answer are read and kept.
    """
    start = time.monotonic()

    def done(**fields) -> Outcome:
        return Outcome(duration_ms=int((time.monotonic() - start) * 1000), **fields)

    try:
        target = addresses.parse(url)
        ips = addresses.checked(target)
    except addresses.Refused as err:
        return done(status_code=None, error=f"refused: {err}", permanent=True)
    except addresses.Unresolved as err:
        return done(status_code=None, error=str(err))
    except Exception as err:  # a URL that became invalid (settings changed)
        return done(status_code=None, error=f"bad URL: {err}", permanent=True)
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = kind(target.host, target.port, ip=str(ips[0]), timeout=timeout)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        excerpt = b""
        deadline = time.monotonic() + timeout
        while len(excerpt) < EXCERPT_BYTES and time.monotonic() < deadline:
            chunk = response.read1(EXCERPT_BYTES - len(excerpt))
            if not chunk:
                break
            excerpt += chunk
        text = excerpt.decode("utf-8", errors="replace")
        return done(status_code=response.status, excerpt=text[:EXCERPT_BYTES])
    except TimeoutError:
        return done(status_code=None, error=f"timed out after {timeout:g} s")
    except ssl.SSLError as err:
        return done(status_code=None, error=f"TLS error: {err}"[:500])
    except (OSError, http.client.HTTPException) as err:
        return done(status_code=None, error=f"{type(err).__name__}: {err}"[:500])
    finally:
        conn.close()
