"""A real HTTP receiver on 127.0.0.1 for webhook tests, answering from a script."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each POST with the next scripted ``(status, body, delay)`` (the last repeats)."""

    url: str = ""
    script: list[tuple[int, bytes, float]] = field(default_factory=lambda: [(200, b"ok", 0.0)])
    requests: list[Received] = field(default_factory=list)

    def answer(self, *steps: tuple[int, bytes, float]) -> None:
        self.script = list(steps)


@pytest.fixture
def receiver():
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                state.requests.append(
                    Received(self.path, dict(self.headers.items()), body, time.time())
                )
                index = min(len(state.requests), len(state.script)) - 1
                status, answer, delay = state.script[index]
            if delay:
                time.sleep(delay)  # the script's slow receiver (a timeout to provoke)
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook?lab=1"
    yield state
    server.shutdown()
    server.server_close()
