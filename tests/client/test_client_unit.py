"""The client's HTTP behaviour with a fake transport: retries, redirects, job polling."""

import json

import pytest
from chiplab_client import ChiplabError, Client
from chiplab_client._http import Response
from chiplab_client.cli import main

BASE = "https://chiplab.example.org"


class Fake:
    """Answers requests from a script of (status, body, headers) or exceptions, in order."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def send(self, request):
        body = request.body() if callable(request.body) else request.body
        if body is not None and not isinstance(body, bytes):
            body = b"".join(body)
        self.requests.append((request.method, request.url, dict(request.headers), body))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, payload, *headers = answer
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Response(status, headers[0] if headers else {}, data)


def client(fake, **kwargs):
    delays = []
    return Client(BASE, "chl_t", transport=fake, sleep=delays.append, **kwargs), delays


def test_gets_are_retried_with_growing_delays_on_5xx_429_and_connection_errors():
    fake = Fake(
        (503, {"error": {"code": "x", "message": "busy"}}),
        ConnectionResetError("reset"),
        (502, b"<html>bad gateway</html>"),
        (429, {"error": {"code": "too_many", "message": "slow down"}}),
        (200, [{"id": "lab"}]),
    )
    chiplab, delays = client(fake, retries=4, backoff=1.0)

    assert chiplab.labs.list() == [{"id": "lab"}]
    assert len(fake.requests) == 5 and len(delays) == 4
    # exponential: attempt n waits between 2^n / 2 and 2^n seconds (backoff 1 s)
    for n, delay in enumerate(delays):
        assert 2**n / 2 <= delay <= 2**n
    assert all(h["Authorization"] == "Token chl_t" for _, _, h, _ in fake.requests)


def test_retries_are_bounded_and_the_last_error_body_is_raised():
    fake = Fake(*[(500, {"error": {"code": "server_error", "message": "boom"}})] * 3)
    chiplab, delays = client(fake, retries=2)

    with pytest.raises(ChiplabError) as caught:
        chiplab.labs.list()

    assert (caught.value.status, caught.value.code, caught.value.message) == (
        500,
        "server_error",
        "boom",
    )
    assert len(fake.requests) == 3 and len(delays) == 2


def test_a_post_is_not_repeated_after_a_500_but_is_after_a_429_with_retry_after():
    fake = Fake((500, {"error": {"code": "e", "message": "m"}}))
    chiplab, delays = client(fake)
    with pytest.raises(ChiplabError):
        chiplab.labs.create("New lab")
    assert len(fake.requests) == 1 and delays == []

    fake = Fake(
        (429, {"error": {"code": "too_many", "message": "m"}}, {"Retry-After": "7"}),
        (201, {"id": "lab", "name": "New lab"}),
    )
    chiplab, delays = client(fake)
    assert chiplab.labs.create("New lab")["id"] == "lab"
    assert delays == [7.0]
    assert [json.loads(r[3]) for r in fake.requests] == [{"name": "New lab"}] * 2


def test_a_post_is_not_repeated_after_a_reset_connection_but_is_after_a_refused_one():
    chiplab, _ = client(Fake(ConnectionResetError("reset")))
    with pytest.raises(ChiplabError) as caught:
        chiplab.tokens.create("ci")
    assert caught.value.code == "connection_error" and caught.value.status is None

    fake = Fake(ConnectionRefusedError("refused"), (201, {"key": "chl_new"}))
    chiplab, _ = client(fake)
    assert chiplab.tokens.create("ci")["key"] == "chl_new"


def test_a_redirect_to_the_object_store_drops_the_token(tmp_path):
    presigned = "https://s3.example.org/bucket/key?X-Amz-Signature=abc"
    fake = Fake(
        (302, b"", {"Location": presigned}),
        (200, b"PNGDATA", {"Content-Disposition": 'attachment; filename="../x/sto.mask.png"'}),
    )
    chiplab, _ = client(fake)

    path = chiplab.results.download_export("r1", "mask.png", tmp_path)

    assert path == tmp_path / "sto.mask.png" and path.read_bytes() == b"PNGDATA"
    (_, first, h1, _), (_, second, h2, _) = fake.requests
    assert first == f"{BASE}/api/segmentation-results/r1/export/mask.png"
    assert h1["Authorization"] == "Token chl_t"
    assert second == presigned and "Authorization" not in h2


def test_an_error_that_is_not_the_apis_json_keeps_the_text():
    chiplab, _ = client(Fake((413, b"<html><h1>413 Request Entity Too Large</h1></html>")))
    with pytest.raises(ChiplabError) as caught:
        chiplab.images.upload("d1", b"x" * 10, filename="a.png")
    err = caught.value
    assert err.status == 413 and err.code == "http_413"
    assert "Request Entity Too Large" in err.message and err.body.startswith("<html>")


def test_next_links_are_followed_on_the_clients_own_server():
    page1 = {
        "count": 3,
        "next": "http://internal:8000/api/datasets/?limit=2&offset=2",
        "previous": None,
        "results": [{"id": "a"}, {"id": "b"}],
    }
    page2 = {"count": 3, "next": None, "previous": None, "results": [{"id": "c"}]}
    fake = Fake((200, page1), (200, page2))
    chiplab, _ = client(fake)

    assert [d["id"] for d in chiplab.datasets.list(page_size=2)] == ["a", "b", "c"]
    assert fake.requests[1][1] == f"{BASE}/api/datasets/?limit=2&offset=2"


def job(status, done, total=4, **extra):
    return {
        "id": "j1",
        "status": status,
        "progress": {"done": done, "total": total, "fraction": done / total},
        "results": [],
        **extra,
    }


def test_job_wait_polls_with_progress_until_it_has_finished():
    fake = Fake(
        (201, job("queued", 0)),
        (200, job("queued", 0)),
        (200, job("running", 2)),
        (200, job("succeeded", 4, results=[{"id": "r1"}])),
    )
    chiplab, delays = client(fake)
    seen = []

    created = chiplab.jobs.create(images=["i1"], support_set="v1")
    done = created.wait(progress=lambda j: seen.append((j.status, j.fraction)), interval=0.5)

    assert done is created and done.status == "succeeded" and done.results == [{"id": "r1"}]
    assert seen == [("queued", 0.0), ("queued", 0.0), ("running", 0.5), ("succeeded", 1.0)]
    assert delays == [0.5, 0.5, 0.5]  # nothing changed twice: the interval would grow
    assert json.loads(fake.requests[0][3]) == {"images": ["i1"], "support_set": "v1"}


def test_job_wait_raises_on_failure_and_on_time_out():
    fake = Fake((200, job("running", 1)), (200, job("failed", 1, error="out of memory")))
    chiplab, _ = client(fake)
    with pytest.raises(ChiplabError) as caught:
        chiplab.jobs.get("j1").wait()
    assert caught.value.code == "job_failed" and "out of memory" in caught.value.message
    assert caught.value.body["status"] == "failed"

    fake = Fake((200, job("running", 1)))
    chiplab, _ = client(fake)
    with pytest.raises(ChiplabError) as caught:
        chiplab.jobs.get("j1").wait(timeout=0)
    assert caught.value.code == "timeout" and caught.value.status is None

    fake = Fake((200, job("cancelled", 1)))
    chiplab, _ = client(fake)
    assert chiplab.jobs.get("j1").wait(check=False).status == "cancelled"


def test_training_jobs_wait_too():
    fake = Fake(
        (201, {"id": "t1", "status": "running", "progress": 0.25}),
        (200, {"id": "t1", "status": "succeeded", "progress": 1.0}),
    )
    chiplab, _ = client(fake)
    seen = []
    chiplab.training.create("lab1", ["v1"]).wait(progress=lambda j: seen.append(j.fraction))
    assert seen == [0.25, 1.0]


def test_cli_segment_wait_prints_fractions_and_exits_1_when_the_job_fails(
    monkeypatch, config_home, capsys
):
    from chiplab_client import config

    config.store_token(BASE, "chl_t")
    result = {
        "id": "r1",
        "image": "i1",
        "frame": 0,
        "classes": [{"index": 0, "name": "Ge"}, {"index": 1, "name": "STO"}],
        "counts": [3, 1],
        "fractions": [0.75, 0.25],
        "fraction_std": [0.05, 0.05],
        "links": {},
    }
    fake = Fake((201, job("queued", 0)), (200, job("succeeded", 4, results=[result])))
    monkeypatch.setattr("chiplab_client._http.UrllibTransport", lambda: fake)

    code = main(["segment", "--images", "i1", "--support-set", "v1", "--wait"])

    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == "j1"
    assert "image i1: Ge 0.750 ± 0.050, STO 0.250 ± 0.050" in err

    fake.answers = [(201, job("queued", 0)), (200, job("failed", 0, error="no champion"))]
    assert main(["segment", "--images", "i1", "--support-set", "v1", "--wait"]) == 1
    assert "job j1 failed: no champion" in capsys.readouterr().err


def test_an_interrupted_upload_stops_starting_files(tmp_path):
    """Ctrl-C during an upload: the files being sent finish, no other file is started (they
    used to be sent all the same while the command said 'interrupted')."""
    import threading
    import time
    from types import SimpleNamespace

    from chiplab_client.uploads import upload_many

    files = []
    for i in range(40):
        path = tmp_path / f"m{i}.tif"
        path.write_bytes(b"micrograph %d" % i)
        files.append(path)
    sent, lock = [], threading.Lock()

    def upload(dataset_id, path):
        with lock:
            sent.append(path)
        time.sleep(0.05)  # a file takes a while to send
        return {"id": f"image-{path.name}"}

    client = SimpleNamespace(
        images=SimpleNamespace(list=lambda *a, **k: [], upload=upload),
    )

    def on_outcome(outcome):
        raise KeyboardInterrupt  # the user presses Ctrl-C after the first file

    with pytest.raises(KeyboardInterrupt):
        upload_many(client, "dataset", files, parallel=2, on_outcome=on_outcome)
    assert len(sent) < len(files), len(sent)
    assert len(sent) <= 2 + 2  # the ones in flight and at most one round more
