"""Fixtures of the client tests: a live server, API tokens of the world's users, the CLI."""

import io
import json
from dataclasses import dataclass

import pytest
from chiplab_client import Client
from chiplab_client.cli import main

from accounts.services import token_create
from tests.client.helpers import png_bytes
from tests.factories import fourier_champion


@pytest.fixture
def server(live_server, transactional_db):
    """The live server's base URL (a real HTTP server in a thread, on the test database)."""
    return live_server.url


@pytest.fixture
def token_of(server):
    def make(user) -> str:
        return token_create(user=user, name="client tests")[1]

    return make


@pytest.fixture
def client_as(server, token_of):
    """A Client for one of the world's users (few, fast retries: the tests wait on nothing)."""

    def make(user, **kwargs) -> Client:
        kwargs.setdefault("retries", 1)
        kwargs.setdefault("backoff", 0.01)
        return Client(server, token_of(user), **kwargs)

    return make


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    """Each test has its own config dir and no token in the environment."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in ("CHIPLAB_CONFIG", "CHIPLAB_URL", "CHIPLAB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return home


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def error(self) -> dict:
        return json.loads(self.stderr.strip().splitlines()[-1])["error"]


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def chiplab():
    """Run the CLI in-process: ``chiplab("labs", "--json", stdin="…")``."""

    def run(*argv: str, stdin: str = "") -> Run:
        out, err = _Pipe(), _Pipe()
        code = main(list(argv), stdin=_Pipe(stdin), stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def logged_in(server, token_of, chiplab):
    """``logged_in(user)``: ``chiplab login`` against the live server with the user's token."""

    def login(user):
        run = chiplab("login", "--server", server, stdin=token_of(user) + "\n")
        assert run.code == 0, run.stderr
        return run

    return login


@pytest.fixture
def micrographs(tmp_path):
    """``micrographs(n, folder)``: n distinct PNG files written to tmp_path/folder."""

    def make(n: int, folder: str = "frames", start: int = 0):
        path = tmp_path / folder
        path.mkdir(parents=True, exist_ok=True)
        files = []
        for i in range(start, start + n):
            f = path / f"frame{i:03d}.png"
            f.write_bytes(png_bytes(i))
            files.append(f)
        return files

    return make


@pytest.fixture
def model_version(transactional_db):
    """The training-free built-in encoder as the public champion (no MLflow needed)."""
    return fourier_champion()
