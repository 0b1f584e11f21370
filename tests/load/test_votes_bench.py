"""The votes load benchmark itself, tiny, against the test server: it runs its phases, its
checks pass on an honest server, and they catch a lost or altered vote."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from labeling.models import Vote
from tests.load import votes as bench
from tests.load.world import build_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def in_thread(fn, *args):
    """Run ``fn`` in a thread of its own: the benchmark starts its own asyncio event loop, which
    a thread where the browser tests' (Playwright's) loop runs would refuse."""

    def call():
        try:
            return fn(*args)
        finally:
            connections.close_all()  # this thread's database connections

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


@pytest.fixture(autouse=True)
def _postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the benchmark recomputes counts in Postgres SQL (CI runs Postgres)")


def test_the_benchmark_runs_and_its_checks_pass(live_server, capsys):
    code = in_thread(
        bench.main,
        [
            *("--url", live_server.url),
            *("--annotators", "3", "--concurrency", "1,3", "--rate", "5"),
            *("--seconds", "1", "--max-requests", "10", "--warmup", "3"),
        ],
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 concurrent" in out and "5/s steady" in out
    assert "lost 0, duplicated 0" in out and "chips that differ: 0" in out


def test_the_checks_catch_lost_and_altered_votes(live_server):
    world = build_world(annotators=2, size=256, chip=64)
    host, port = "127.0.0.1", int(live_server.url.rsplit(":", 1)[1])
    load = bench.Load(world, host, port, seed=1)
    in_thread(asyncio.run, load.closed(bench.Phase("t"), 2, 30, 8))
    assert len(load.acked) == 8
    assert bench.check_votes(load) == [] and in_thread(bench.check_counts, host, port, world) == []
    first, second = list(load.acked)[:2]
    Vote.objects.filter(client_id=first).delete()
    stored = Vote.objects.get(client_id=second)
    Vote.objects.filter(pk=stored.pk).update(row=(stored.row + 1) % world.rows)
    problems = bench.check_votes(load)
    assert any("1 acknowledged votes are not stored" in p for p in problems), problems
    assert any("stored differently" in p for p in problems), problems
