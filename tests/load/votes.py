"""Votes under load: annotators with their own tokens posting one vote per request.

    .venv/bin/python -m tests.load.votes                      # starts gunicorn (5 workers)
    .venv/bin/python -m tests.load.votes --url http://127.0.0.1:8000   # a server you started

Needs ``DATABASE_URL`` to name the Postgres database the server uses: the world (a lab with
``--annotators`` annotators, each with a token, and one grid) is created there directly, and
the checks at the end recompute in SQL what the API says. Loopback only; every phase is bounded
by ``--seconds`` and ``--max-requests``.

Phases: closed loops of 10 / 50 / 100 concurrent annotators (``--concurrency``), each sending
its next vote when the last is answered; then votes arriving at a steady ``--rate`` per second
whatever the server does (latency counted from the planned send time, so a stalled server
cannot hide its queue). Printed per phase: votes/s, p50/p95/p99 latency, errors, and the
gunicorn workers' CPU per vote when the benchmark started them. Then: every acknowledged vote
stored once with what was sent (0 lost, 0 duplicated), and the per-chip counts of
``GET /votes/?user=all`` equal to the current state recomputed in SQL. Exit status 1 when a
check fails (the goals are printed, not asserted: figures depend on the machine).
"""

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.load.world import World, build_world, django_setup

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RETRACT_SHARE = 0.05  # votes that retract the annotator's label of the chip (class null)
GOALS = (
    "goals: >= 300 votes/s at 100 concurrent with p95 <= 500 ms; p95 <= 100 ms at a steady "
    "100 votes/s"
)


# --- HTTP over asyncio streams (stdlib; one connection per request, as gunicorn's sync
# workers close them) ----------------------------------------------------------------------
async def http(host: str, port: int, method: str, path: str, token: str, body=None, timeout=30):
    """(status, parsed JSON body or None)."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    async def exchange():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(head + payload)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()

    raw = await asyncio.wait_for(exchange(), timeout)
    header, _, content = raw.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in header.lower():
        content = _dechunk(content)
    try:
        return status, json.loads(content) if content else None
    except ValueError:
        return status, None


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out, data = out + rest[:n], rest[n + 2 :]
    return out


# --- one phase ----------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, answered with 201
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu: float | None = None  # gunicorn workers' CPU seconds during the phase

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def line(self) -> str:
        done = len(self.latencies)
        lat = sorted(self.latencies)

        def pct(p):
            return f"{1000 * lat[min(done - 1, int(p / 100 * done))]:7.0f}" if done else "      -"

        cpu = f"{1000 * self.cpu / done:6.1f}" if self.cpu is not None and done else "     -"
        errors = sum(self.errors.values())
        return (
            f"{self.name:>16} {done:7d} {done / self.elapsed if self.elapsed else 0:8.1f} "
            f"{pct(50)} {pct(95)} {pct(99)} {errors:7d} {cpu}"
            + (f"  {self.errors}" if errors else "")
        )


HEADER = (
    f"{'phase':>16} {'votes':>7} {'votes/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
    f"{'errors':>7} {'cpu ms/vote':>11}"
)


class Load:
    """Sends votes and remembers every one the server acknowledged."""

    def __init__(self, world: World, host: str, port: int, seed: int):
        self.world, self.host, self.port = world, host, port
        self.timeout = 30.0  # seconds per request
        self.rng = random.Random(seed)
        self.sent: dict[str, dict] = {}  # client_id -> what was sent, with the user
        self.acked: dict[str, dict] = {}  # client_id -> the server's answer
        self.path = f"/api/grids/{world.grid_id}/votes/"

    def _vote(self, annotator: int) -> tuple[str, dict]:
        w, rng = self.world, self.rng
        client_id = uuid.uuid4().hex
        body = {"row": rng.randrange(w.rows), "col": rng.randrange(w.cols), "client_id": client_id}
        if rng.random() < RETRACT_SHARE:
            body.update({"class": None, "schema": w.schema_id})
        else:
            body["class"] = rng.choice(w.classes)
        self.sent[client_id] = {**body, "user": w.user_ids[annotator]}
        return client_id, body

    async def one(self, phase: Phase, annotator: int, planned: float | None = None) -> None:
        client_id, body = self._vote(annotator)
        start = time.perf_counter() if planned is None else planned
        try:
            status, answer = await http(
                self.host,
                self.port,
                "POST",
                self.path,
                self.world.tokens[annotator],
                body,
                timeout=self.timeout,
            )
        except TimeoutError:
            phase.error("timeout")
            return
        except OSError as err:
            phase.error(type(err).__name__)
            return
        if status != 201 or not isinstance(answer, dict):
            phase.error(str(status))
            return
        phase.latencies.append(time.perf_counter() - start)
        self.acked[client_id] = answer

    async def closed(self, phase: Phase, concurrency: int, seconds: float, limit: int) -> None:
        """``concurrency`` annotators, each voting again as soon as it is answered."""
        deadline, budget = time.perf_counter() + seconds, [limit]

        async def annotator(i: int) -> None:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                await self.one(phase, i % len(self.world.tokens))

        await asyncio.gather(*(annotator(i) for i in range(concurrency)))

    async def steady(self, phase: Phase, rate: float, seconds: float, limit: int) -> None:
        """Votes planned at a fixed rate, sent on time whether or not earlier ones returned."""
        n = min(limit, int(rate * seconds))
        start, tasks = time.perf_counter(), []
        for i in range(n):
            planned = start + i / rate
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            annotator = self.rng.randrange(len(self.world.tokens))
            tasks.append(asyncio.create_task(self.one(phase, annotator, planned)))
        await asyncio.gather(*tasks)


# --- the server ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(workers: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {**os.environ, "DJANGO_DEBUG": "false", "CHIPLAB_BIND_HOST": "127.0.0.1"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--chdir",
            str(ROOT / "platform"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        env=env,
        start_new_session=True,  # its own process group: stopped with its workers
    )
    return process, port


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def workers_cpu(master: int) -> float:
    """CPU seconds (user + system) of the gunicorn master's live children, from /proc."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


async def settle(master: int, timeout: float = 120) -> None:
    """Wait until the workers use under 5 % of a core (their first requests are done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = workers_cpu(master)
        await asyncio.sleep(1)
        if workers_cpu(master) - before < 0.05:
            return


async def wait_ready(host: str, port: int, world: World, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _ = await http(
                host, port, "GET", f"/api/grids/{world.grid_id}/", world.tokens[0], timeout=10
            )
            if status == 200:
                return
        except (OSError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"The server on {host}:{port} did not answer within {timeout} s.")
        await asyncio.sleep(0.5)


# --- checks -------------------------------------------------------------------------------
def check_votes(load: Load) -> list[str]:
    """Every acknowledged vote stored once, as sent; nothing stored that was not sent."""
    from labeling.models import Vote

    world = load.world
    stored = {
        v["client_id"]: v
        for v in Vote.objects.filter(grid_id=world.grid_id).values(
            "id", "client_id", "user_id", "row", "col", "label_class_id"
        )
    }
    total = Vote.objects.filter(grid_id=world.grid_id).count()
    lost = [c for c in load.acked if c not in stored]
    wrong = [
        c
        for c, answer in load.acked.items()
        if c in stored
        and (
            stored[c]["id"] != answer.get("id")
            or (stored[c]["row"], stored[c]["col"]) != (load.sent[c]["row"], load.sent[c]["col"])
            or str(stored[c]["user_id"]) != load.sent[c]["user"]
            or (str(stored[c]["label_class_id"]) if stored[c]["label_class_id"] else None)
            != load.sent[c]["class"]
        )
    ]
    unknown = [c for c in stored if c not in load.sent]
    unacked = [c for c in stored if c in load.sent and c not in load.acked]
    print(
        f"\nvotes: {len(load.sent)} sent, {len(load.acked)} acknowledged, {total} stored "
        f"({len(unacked)} stored but not acknowledged: requests that timed out or failed after "
        f"the commit); lost {len(lost)}, duplicated {total - len(stored)}, stored differently "
        f"{len(wrong)}, stored but never sent {len(unknown)}"
    )
    problems = []
    if lost:
        problems.append(f"{len(lost)} acknowledged votes are not stored")
    if total != len(stored):
        problems.append(f"{total - len(stored)} votes are stored twice")
    if wrong:
        problems.append(f"{len(wrong)} votes are stored differently from what was sent")
    if unknown:
        problems.append(f"{len(unknown)} stored votes were never sent")
    return problems


def sql_counts(world: World) -> dict[tuple[int, int], dict[str, int]]:
    """Per chip: how many annotators' current label is each class, recomputed in SQL (the
    latest vote of each annotator on each chip; a retraction leaves no label)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT "row", col, label_class_id::text, count(*) FROM (
                SELECT DISTINCT ON (user_id, "row", col) "row", col, label_class_id, negative
                FROM labeling_vote WHERE grid_id = %s AND schema_id = %s
                ORDER BY user_id, "row", col, id DESC
            ) AS latest
            WHERE label_class_id IS NOT NULL AND NOT negative
            GROUP BY 1, 2, 3
            """,
            [world.grid_id, world.schema_id],
        )
        counts: dict[tuple[int, int], dict[str, int]] = {}
        for row, col, label, n in cursor.fetchall():
            counts.setdefault((row, col), {})[label.replace("-", "")] = n
    return counts


def check_counts(host: str, port: int, world: World) -> list[str]:
    status, answer = asyncio.run(
        http(
            host,
            port,
            "GET",
            f"/api/grids/{world.grid_id}/votes/?user=all&schema={world.schema_id}",
            world.owner_token,
            timeout=120,
        )
    )
    if status != 200:
        return [f"GET votes?user=all answered {status}"]
    api = {
        (c["row"], c["col"]): {k.replace("-", ""): n for k, n in c["counts"].items()}
        for c in answer["chips"]
        if c["counts"]
    }
    sql = sql_counts(world)
    differ = sorted(k for k in api.keys() | sql.keys() if api.get(k) != sql.get(k))
    labels = sum(sum(c.values()) for c in sql.values())
    print(
        f"per-chip counts: {len(api)} chips from the API, {len(sql)} from SQL ({labels} current "
        f"labels); chips that differ: {len(differ)}"
    )
    return [f"per-chip counts differ on {len(differ)} chips, e.g. {differ[:3]}"] if differ else []


# --- main ---------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (loopback); default: start gunicorn")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers (default 5)")
    parser.add_argument("--annotators", type=int, default=100)
    parser.add_argument("--concurrency", default="10,50,100", help="closed-loop phases")
    parser.add_argument("--rate", type=float, default=100.0, help="steady phase, votes/s (0: none)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--max-requests", type=int, default=5000, help="per phase, at most")
    parser.add_argument("--warmup", type=int, default=200, help="votes before the phases")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.annotators <= 1000 or not 0 < args.seconds <= 120:
        parser.error("--annotators is 1..1000 and --seconds at most 120")
    if not 1 <= args.max_requests <= 100_000 or not 0 <= args.rate <= 2000:
        parser.error("--max-requests is 1..100000 and --rate at most 2000")
    concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if any(not 1 <= c <= 1000 for c in concurrency):
        parser.error("--concurrency values are 1..1000")

    django_setup()
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("DATABASE_URL must name the Postgres database the server uses.")
    process = None
    if args.url:
        parts = urlsplit(args.url)
        if parts.hostname not in LOOPBACK:
            raise SystemExit("Loopback only: --url must be on 127.0.0.1, localhost or ::1.")
        host, port = parts.hostname, parts.port or 80
    else:
        process, port = start_gunicorn(args.workers)
        host = "127.0.0.1"
    try:
        world = build_world(annotators=args.annotators)
        server = f"gunicorn, {args.workers} workers" if process else args.url
        print(
            f"world: lab {world.lab_id}, grid {world.grid_id} ({world.rows} x {world.cols} "
            f"chips), {len(world.classes)} classes, {args.annotators} annotators with tokens; "
            f"server: {server}"
        )
        load = asyncio.run(_run(args, world, host, port, concurrency, process))
        problems = check_votes(load) + check_counts(host, port, world)
        for problem in problems:
            print(f"FAILED: {problem}")
        if not problems:
            print("checks: 0 lost, 0 duplicated, per-chip counts from the API equal SQL's")
        return 1 if problems else 0
    finally:
        if process is not None:
            stop_gunicorn(process)


async def _run(args, world, host, port, concurrency, process) -> Load:
    await wait_ready(host, port, world)
    load = Load(world, host, port, args.seed)
    # Each worker imports the URL conf (and with it torch) on its first request: seconds of
    # CPU that belong to no phase. Warm them all, then wait until they are idle.
    warm = Phase("warm-up")
    start, load.timeout = time.perf_counter(), 120.0
    await load.closed(warm, min(2 * args.workers, args.annotators), 120, args.warmup)
    warm.elapsed, load.timeout = time.perf_counter() - start, 30.0
    if process:
        await settle(process.pid)
    print(GOALS)
    print(HEADER)
    print(warm.line(), flush=True)
    phases = [(f"{c} concurrent", c) for c in concurrency]
    if args.rate:
        phases.append((f"{args.rate:g}/s steady", None))
    for name, c in phases:
        phase = Phase(name)
        cpu = workers_cpu(process.pid) if process else None
        start = time.perf_counter()
        if c is None:
            await load.steady(phase, args.rate, args.seconds, args.max_requests)
        else:
            await load.closed(phase, c, args.seconds, args.max_requests)
        phase.elapsed = time.perf_counter() - start
        if process:
            phase.cpu = workers_cpu(process.pid) - cpu
        print(phase.line(), flush=True)
    return load


if __name__ == "__main__":
    sys.exit(main())
