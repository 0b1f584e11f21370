"""API round-trip benchmark of segmentation: job creation -> finished result, through the
REST API and a real worker, for a simulated 1024 x 1024 micrograph with 32 px chips.

Run with ``python manage.py chiplab_bench_segment`` in either mode; the environment decides
(embedded: SQLite + filesystem broker + local disk; services: ``DATABASE_URL``,
``CELERY_BROKER_URL``, ``CHIPLAB_STORAGE=s3`` + ``S3_*``). It creates its own lab, users and
dataset (named ``bench-…``), starts a worker unless ``--no-worker`` and prints figures:

1. cold: the first job on the image (decode + embed + classify + exports);
2. edit: the support set changes (one more chip voted, frozen again) and a job runs — the
   interactive loop, which re-uses the cached embeddings and only re-classifies;
3. rerun: ``POST /rerun`` of the first job.

Each with two times from the POST: "shown", until the job lists its result (the page draws
the map then), and "done", until the job succeeded (every download written too).

``--chip-sizes 32,64,...`` repeats the round trip per chip size; ``--frames N --round-trips``
runs them on an N-frame series (each job classifies every frame; the next one's first map is
what the user waits for); ``--stages`` instead times
the worker's steps in this process, without a database, broker or worker
(``analysis.bench_stages.stages``): read the original, normalise + embed, store the
embeddings, fit, classify, every export and the result arrays, per (image size, chip size);
"cold" is a first Segment click, "rerun" one after a support-set edit (embeddings cached).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings

from workers.celery_app import QUEUES
from workers.fewshot import sim
from workers.local_worker import start_worker

from .bench_stages import chip_truth_of, stages

__all__ = ["run", "stages"]


def api_ok(response, status=(200, 201)):
    if response.status_code not in (status if isinstance(status, tuple) else (status,)):
        raise RuntimeError(f"{response.status_code}: {response.content[:400]!r}")
    return response.json()


def sim_tiff(size: int, frames: int = 1) -> tuple[bytes, object]:
    s = sim.generate("sto_ge_interface", seed=0, size=(size, size))
    return sim.tiff_bytes(s, frames=frames), s


#: the workers ``make run`` starts (infra/run-embedded.sh), but for training: name -> queues
SPLIT_WORKERS = {"interactive": ("gpu",), "background": ("default",)}


def start_workers(log_dir: Path, tag: str, processes: int) -> list[subprocess.Popen]:
    """``processes`` 0: ``make run``'s workers (:data:`SPLIT_WORKERS`, one process each);
    else one worker of that many processes on every queue."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
    }
    layout = SPLIT_WORKERS if processes == 0 else {"shared": QUEUES}
    procs = [
        start_worker(
            env=env,
            log_path=log_dir / f"bench-worker-{tag}-{name}.log",
            name=f"bench-{name}-{os.getpid()}",
            concurrency=processes or 1,
            queues=queues,
        )
        for name, queues in layout.items()
    ]
    time.sleep(3)  # let the pool processes finish their warm-up
    return procs


@contextmanager
def workers_running(tag: str, processes: int, *, start: bool = True) -> Iterator[None]:
    """:func:`start_workers` (unless not ``start``) for the time inside, then stopped."""
    workers = start_workers(Path(settings.DATA_DIR), tag, processes) if start else []
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


def ensure_bucket() -> None:
    if settings.CHIPLAB_STORAGE != "s3":
        return
    # benchmark only: boto3 when the bench has to make its bucket
    import boto3

    opts = settings.STORAGES["default"]["OPTIONS"]
    s3 = boto3.client(
        "s3",
        endpoint_url=opts["endpoint_url"],
        aws_access_key_id=opts["access_key"],
        aws_secret_access_key=opts["secret_key"],
        region_name=opts["region_name"],
    )
    if opts["bucket_name"] not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=opts["bucket_name"])


def _wait(
    client, job_id: str, *, poll: float, timeout: float = 600, shown_only: bool = False
) -> tuple[dict, float, float | None]:
    """Poll a job to its end -> (its body, when its first result was listed, when it ended):
    the page shows the map once the result is listed, while the downloads are written. With
    ``shown_only`` it returns once the result is listed (when it ended: None)."""
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        body = client.get(f"/api/segmentation-jobs/{job_id}/").json()
        if shown is None and body.get("results"):
            shown = time.perf_counter()
            if shown_only:
                return body, shown, None
        if body["status"] not in ("queued", "running"):
            if body["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {body['status']}: {body['error']}")
            now = time.perf_counter()
            return body, shown or now, now
        time.sleep(poll)
    raise RuntimeError(f"job {job_id} did not finish in {timeout}s")


def _measure(client, post, *, poll: float, after: str = "done") -> dict:
    """POST a job and poll it: seconds (``shown``: until the result is listed and the page can
    draw its map; ``until_done``: until the job ended, None with ``after="shown"``, where the
    next job may start while this one writes its downloads). :func:`_finish` adds the worker
    timings and the labels once the job has ended."""
    t0 = time.perf_counter()
    job = post()
    _, t_shown, t_done = _wait(client, job["id"], poll=poll, shown_only=after == "shown")
    return {
        "job": job["id"],
        "shown": t_shown - t0,
        "until_done": None if t_done is None else t_done - t0,
    }


def _finish(client, run: dict, *, poll: float) -> dict:
    """``run`` with its ended job's worker timings and result labels."""
    body, _, _ = _wait(client, run["job"], poll=poll)
    result = api_ok(client.get(f"/api/segmentation-results/{body['results'][0]['id']}/"))
    return {**run, "timings": body["timings"], "labels": result["labels"]}


def run(
    *,
    size: int = 1024,
    chip: int = 32,
    frames: int = 1,
    edits: int = 5,
    poll: float = 0.02,
    pause: float = 0.0,
    after: str = "done",
    processes: int = 0,
    start_worker: bool = True,
    out=print,
) -> list[dict]:
    """The round trips (see the module's docstring); ``after``: whether each pause starts once
    the previous job is done ("done") or once its map is shown ("shown": a user who edits and
    segments again at once, while the worker still writes the downloads and runs the chip-size
    check); ``processes``: 0 for ``make run``'s workers, else one worker of that many;
    ``frames``: the image is a series of that many frames."""
    ensure_bucket()
    tag = uuid.uuid4().hex[:8]
    dataset, curator, labeller, model = bench_lab(tag)
    out(
        f"mode: db={settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
        f"broker={settings.CELERY_BROKER_URL.split(':', 1)[0]} storage={settings.CHIPLAB_STORAGE}"
        f"; image {size}x{size}"
        + (f" x {frames} frames" if frames > 1 else "")
        + f", {chip} px chips ({(size // chip) ** 2} chips); "
        f"model {model.name} v{model.version} ({model.encoder_kind}); pause {pause} s after "
        f"each job is {after}; workers: "
        + (" + ".join(SPLIT_WORKERS) if processes == 0 else f"one of {processes} process(es)")
    )
    with workers_running(tag, processes, start=start_worker):
        data, s = sim_tiff(size, frames)
        image = ingest_upload(curator, dataset, data, poll=poll, out=out)
        schema, vote, n_classes = labelling(
            curator, labeller, dataset, image, s, chip=chip, edits=edits
        )
        runs = _round_trips(
            labeller,
            schema,
            image,
            vote,
            n_classes,
            edits=edits,
            poll=poll,
            pause=pause,
            after=after,
        )
        truth = chip_truth_of(s, chip)
        for r in runs:
            r["accuracy"] = float((np.asarray(r["labels"]) == truth).mean())
        _report(runs, out)
        return runs


def bench_lab(tag: str):
    """A new lab (an owner and an annotator), its dataset, the two API clients and the model
    a job of the lab runs with: (dataset, curator client, labeller client, model version)."""
    # benchmark only: the test client and the apps it drives, loaded when it runs
    from rest_framework.test import APIClient

    from accounts.models import Membership, Role, User
    from accounts.services import lab_create
    from catalog.services import dataset_create
    from registry.selectors import model_version_resolve
    from registry.services import builtins_ensure

    owner = User.objects.create_user(username=f"bench-{tag}", password=uuid.uuid4().hex)
    lab = lab_create(user=owner, name=f"bench {tag}", slug=f"bench-{tag}")
    annotator = User.objects.create_user(username=f"bench-{tag}-a", password=uuid.uuid4().hex)
    Membership.objects.create(user=annotator, lab=lab, role=Role.ANNOTATOR)
    dataset = dataset_create(user=owner, lab=lab, title=f"Segmentation benchmark {tag}")
    curator, labeller = APIClient(), APIClient()
    curator.force_authenticate(owner)
    labeller.force_authenticate(annotator)
    builtins_ensure()  # registers the built-ins once, untimed
    return dataset, curator, labeller, model_version_resolve(user=owner, lab=lab)


def ingest_upload(curator, dataset, data: bytes, *, poll: float, out) -> dict:
    """Upload the micrograph and wait until it is ready (the time is printed)."""
    # benchmark only
    from django.core.files.uploadedfile import SimpleUploadedFile

    image = api_ok(
        curator.post(
            f"/api/datasets/{dataset.pk}/images/",
            {"file": SimpleUploadedFile("bench.tif", data)},
            format="multipart",
        )
    )
    t0 = time.perf_counter()
    while (body := curator.get(f"/api/images/{image['id']}/").json())["status"] == "pending":
        if time.perf_counter() - t0 > 300:
            raise RuntimeError("ingest did not finish")
        time.sleep(poll)
    if body["status"] != "ready":
        raise RuntimeError(f"ingest failed: {body['error']}")
    out(f"ingest (upload -> ready): {time.perf_counter() - t0:.2f} s")
    return image


def labelling(curator, labeller, dataset, image: dict, s, *, chip: int, edits: int):
    """A schema with the scene's classes, a grid and 3 pure chips voted per class: (schema,
    ``vote(k, i)`` that votes the ``i``-th pure chip of class ``k``, the number of classes)."""
    schema = api_ok(curator.post(f"/api/datasets/{dataset.pk}/schemas/", {}, format="json"))
    classes = [
        api_ok(curator.post(f"/api/schemas/{schema['id']}/classes/", {"name": name}, format="json"))
        for name in s.class_names
    ]
    grid = api_ok(
        labeller.post(f"/api/images/{image['id']}/grids/", {"chip_size": chip}, format="json")
    )
    chips = sim.pure_chips(s, chip=chip, per_class=3 + edits)

    def vote(k: int, i: int) -> None:
        r, c = chips[k][i]
        api_ok(
            labeller.post(
                f"/api/grids/{grid['id']}/votes/",
                {"row": r, "col": c, "class": classes[k]["id"]},
                format="json",
            )
        )

    for k in chips:
        for i in range(3):
            vote(k, i)
    return schema, vote, len(chips)


def _round_trips(
    labeller, schema: dict, image: dict, vote, n_classes: int, *, edits, poll, pause, after
):
    """The cold job, ``edits`` support-set edits each followed by a job, and a re-run of
    the first job (whose labels must equal the first run's). ``pause`` seconds pass before each
    job (a user picks examples or looks at the map before the next edit, while the worker
    embeds the new grid or runs the previous job's chip-size check): with none, each job also
    waits for that work. ``after``: the pause starts once the previous job is "done" or once
    its map is "shown" (its downloads and chip-size check may then run beside the next job)."""

    def post_working_set() -> dict:
        body = {"schema": schema["id"], "rule": "single_owner", "images": [image["id"]]}
        return api_ok(labeller.post("/api/segmentation-jobs/", body, format="json"))

    time.sleep(pause)  # the user picks the examples (the worker embeds the new grid meanwhile)
    runs = [{"kind": "cold", **_measure(labeller, post_working_set, poll=poll, after=after)}]
    first_job = runs[0]["job"]
    for e in range(edits):
        time.sleep(pause)
        # the user adds a chip, then re-segments
        vote(e % n_classes, 3 + e // n_classes)
        runs.append(
            {"kind": "edit", **_measure(labeller, post_working_set, poll=poll, after=after)}
        )
    time.sleep(pause)
    rerun = _measure(
        labeller,
        lambda: api_ok(labeller.post(f"/api/segmentation-jobs/{first_job}/rerun")),
        poll=poll,
        after=after,
    )
    runs.append({"kind": "rerun", **rerun})
    runs = [_finish(labeller, r, poll=poll) for r in runs]
    if runs[-1]["labels"] != runs[0]["labels"]:
        raise RuntimeError("re-run labels differ from the first run")
    return runs


def _report(runs: list[dict], out) -> None:
    stages = [
        "queue_wait",
        "load",
        "embed",
        "classify",
        "exports",
        "save",
        "hand_over",
        "downloads",
        "total",
    ]
    out(
        f"{'run':<6} {'shown':>7} {'done':>7} "
        + " ".join(f"{s:>10}" for s in stages)
        + "  cache     accuracy"
    )
    for r in runs:
        t = r["timings"]
        cache = t.get("embeddings_cache", {})
        hit = next((k for k in ("memory", "storage", "miss") if cache.get(k)), "-")
        done = "-" if r["until_done"] is None else f"{r['until_done']:.3f}s"
        out(
            f"{r['kind']:<6} {r['shown']:>6.3f}s {done:>7} "
            + " ".join(f"{t.get(s, 0.0):>9.3f}s" for s in stages)
            + f"  {hit:<8}  {r['accuracy']:.3f}"
        )
    edits = [r["shown"] for r in runs if r["kind"] == "edit"]
    if edits:
        out(
            f"support-set edit -> map shown: median {statistics.median(edits):.3f} s, "
            f"max {max(edits):.3f} s over {len(edits)} edits (cold: {runs[0]['shown']:.3f} s)"
            + (
                f"; job done: median {statistics.median(r['until_done'] for r in runs[1:-1]):.3f} s"
                if runs[1]["until_done"] is not None
                else ""
            )
        )
