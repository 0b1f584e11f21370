"""Real processes the dependency fault tests start, stop and start again: a web server
(gunicorn), a Redis server, and a TCP proxy that stands for a database or an object store
going down and coming back without losing what it holds."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import requests

from tests.support.services import ROOT, free_port, stop, wait_http
from tests.support.waits import wait_for


class TcpProxy:
    """127.0.0.1:``port`` forwarded to 127.0.0.1:``target_port``.

    ``stop()`` is the service going down: nothing listens on the port any more (connections
    are refused) and every open connection is reset. ``start()`` brings it back on the same
    port with whatever the service behind it holds. ``cut_after``: the proxy stops by itself
    once clients have sent that many bytes through it (a service dying in the middle of a
    request)."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        self.cut_after: int | None = None
        self.sent = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def start(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    @property
    def up(self) -> bool:
        return self._listener is not None

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        for sock in sockets:
            _reset(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    _reset(client)
                    _reset(upstream)
                    return
                self._sockets |= {client, upstream}
            for src, dst, outgoing in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(src, dst, outgoing), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outgoing: bool) -> None:
        try:
            while data := src.recv(65536):
                if outgoing:
                    with self._lock:
                        self.sent += len(data)
                        cut = self.cut_after is not None and self.sent >= self.cut_after
                    if cut:
                        self.cut_after = None
                        self.stop()
                        return
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _reset(sock: socket.socket) -> None:
    """Close at once, as when a server process dies. ``shutdown`` first: a thread blocked in
    ``recv`` on it would otherwise keep the connection open after ``close``."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class RedisServer:
    """A private ``redis-server`` on a free port, its data in ``folder`` (append-only file):
    stopped and started again, it comes back with its queues, as a restarted broker does."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=(self.folder / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(self._answers, timeout=30, interval=0.05, what="redis-server")
        except AssertionError:
            raise RuntimeError(f"redis-server did not start: {self.log()}") from None
        return self

    def _answers(self) -> bool:
        """Whether the server takes connections; a RuntimeError if it exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {self.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
            return True
        return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as a restart by an operator or a supervisor."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return (self.folder / "redis.log").read_text()[-3000:]


class WebServer:
    """The API served by gunicorn (as in production) from the repository, with ``env``."""

    def __init__(self, env: dict, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--chdir",
                    "platform",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--timeout",
                    "120",
                ],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_http(f"{self.url}/api/schema/", timeout=90, proc=self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"the web server did not start:\n{self.log()}") from None
        # a connection per request: gunicorn closes idle kept-alive ones after 2 s, and a
        # request sent on one just then would fail for a reason that is not under test
        self.session = requests.Session()
        self.session.headers["Connection"] = "close"

    def stop(self) -> None:
        stop(self.proc)

    def log(self) -> str:
        return self.log_path.read_text()[-6000:]
