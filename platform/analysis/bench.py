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

``--chip-sizes 32,64,...`` repeats the round trip per chip size; ``--stages`` instead times
the worker's steps in this process, without a database, broker or worker (``stages``): read
the original, normalise + embed, store the embeddings, fit, classify, every export and the
result arrays, per (image size, chip size); "cold" is a first Segment click, "rerun" one
after a support-set edit (embeddings cached).
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
from django.conf import settings

from workers.fewshot import sim
from workers.local_worker import start_worker


def _ok(response, status=(200, 201)):
    if response.status_code not in (status if isinstance(status, tuple) else (status,)):
        raise RuntimeError(f"{response.status_code}: {response.content[:400]!r}")
    return response.json()


def _sim_tiff(size: int) -> tuple[bytes, object]:
    s = sim.generate("sto_ge_interface", seed=0, size=(size, size))
    return sim.tiff_bytes(s), s


def _start_worker(log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
    }
    proc = start_worker(env=env, log_path=log_path, name=f"bench-{os.getpid()}", concurrency=1)
    time.sleep(3)  # let the pool process finish its warm-up
    return proc


def _ensure_bucket() -> None:
    if settings.CHIPLAB_STORAGE != "s3":
        return
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


def _wait(client, job_id: str, *, poll: float, timeout: float = 600) -> tuple[dict, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/segmentation-jobs/{job_id}/").json()
        if body["status"] not in ("queued", "running"):
            if body["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {body['status']}: {body['error']}")
            return body, time.perf_counter()
        time.sleep(poll)
    raise RuntimeError(f"job {job_id} did not finish in {timeout}s")


def _measure(client, post, *, poll: float) -> dict:
    """POST a job, poll it to the end and fetch the result JSON: seconds and worker timings."""
    t0 = time.perf_counter()
    job = post()
    body, t_done = _wait(client, job["id"], poll=poll)
    result = _ok(client.get(f"/api/segmentation-results/{body['results'][0]['id']}/"))
    t_result = time.perf_counter()
    return {
        "job": body["id"],
        "round_trip": t_result - t0,
        "until_done": t_done - t0,
        "timings": body["timings"],
        "labels": result["labels"],
    }


def run(
    *,
    size: int = 1024,
    chip: int = 32,
    edits: int = 5,
    poll: float = 0.02,
    start_worker: bool = True,
    out=print,
) -> list[dict]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from accounts.models import Membership, Role, User
    from accounts.services import lab_create
    from catalog.services import dataset_create

    _ensure_bucket()
    tag = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(username=f"bench-{tag}", password=uuid.uuid4().hex)
    lab = lab_create(user=owner, name=f"bench {tag}", slug=f"bench-{tag}")
    annotator = User.objects.create_user(username=f"bench-{tag}-a", password=uuid.uuid4().hex)
    Membership.objects.create(user=annotator, lab=lab, role=Role.ANNOTATOR)
    dataset = dataset_create(user=owner, lab=lab, title=f"Segmentation benchmark {tag}")
    curator, labeller = APIClient(), APIClient()
    curator.force_authenticate(owner)
    labeller.force_authenticate(annotator)

    from registry.selectors import model_version_resolve
    from registry.services import builtins_ensure

    builtins_ensure()  # registers the built-ins once, untimed
    model = model_version_resolve(user=owner, lab=lab)
    out(
        f"mode: db={settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
        f"broker={settings.CELERY_BROKER_URL.split(':', 1)[0]} storage={settings.CHIPLAB_STORAGE}"
        f"; image {size}x{size}, {chip} px chips ({(size // chip) ** 2} chips); "
        f"model {model.name} v{model.version} ({model.encoder_kind})"
    )
    worker = None
    if start_worker:
        worker = _start_worker(Path(settings.DATA_DIR) / f"bench-worker-{tag}.log")
    try:
        data, s = _sim_tiff(size)
        image = _ok(
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
        schema = _ok(curator.post(f"/api/datasets/{dataset.pk}/schemas/", {}, format="json"))
        classes = [
            _ok(
                curator.post(f"/api/schemas/{schema['id']}/classes/", {"name": name}, format="json")
            )
            for name in s.class_names
        ]
        grid = _ok(
            labeller.post(f"/api/images/{image['id']}/grids/", {"chip_size": chip}, format="json")
        )
        chips = sim.pure_chips(s, chip=chip, per_class=3 + edits)

        def vote(k: int, i: int) -> None:
            r, c = chips[k][i]
            _ok(
                labeller.post(
                    f"/api/grids/{grid['id']}/votes/",
                    {"row": r, "col": c, "class": classes[k]["id"]},
                    format="json",
                )
            )

        for k in chips:
            for i in range(3):
                vote(k, i)

        def post_working_set() -> dict:
            return _ok(
                labeller.post(
                    "/api/segmentation-jobs/",
                    {
                        "schema": schema["id"],
                        "rule": "single_owner",
                        "images": [image["id"]],
                    },
                    format="json",
                )
            )

        runs = [{"kind": "cold", **_measure(labeller, post_working_set, poll=poll)}]
        first_job = runs[0]["job"]
        for e in range(edits):
            vote(e % len(chips), 3 + e // len(chips))  # the user adds a chip, then re-segments
            runs.append({"kind": "edit", **_measure(labeller, post_working_set, poll=poll)})
        rerun = _measure(
            labeller,
            lambda: _ok(labeller.post(f"/api/segmentation-jobs/{first_job}/rerun")),
            poll=poll,
        )
        runs.append({"kind": "rerun", **rerun})
        if rerun["labels"] != runs[0]["labels"]:
            raise RuntimeError("re-run labels differ from the first run")
        truth = _chip_truth(s, chip)
        for r in runs:
            r["accuracy"] = float((np.asarray(r["labels"]) == truth).mean())
        _report(runs, out)
        return runs
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)


def _median_times(run_once, repeats: int) -> dict[str, float]:
    """Median seconds per stage over ``repeats`` calls of ``run_once() -> {stage: seconds}``."""
    runs = [run_once() for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def stages(
    *,
    sizes: tuple[int, ...] = (4096, 3042, 1024),
    chips: tuple[int, ...] = (32, 64, 107, 128, 214, 256),
    repeats: int = 3,
    out=print,
) -> list[dict]:
    """Seconds of each step a segmentation job's worker takes, in this process (no database,
    broker or storage round trips): what ``analysis.runner`` does per image and frame.

    load: decode the original (16-bit TIFF); embed: normalise + embed every chip; save: the
    embeddings' npz; fit: prototypes + the support chips' spectral peaks; classify: labels,
    boundary refinement, statistics; preview: decode the stored 2048 px preview PNG; each
    export as the runner writes it; arrays: the result's npz. Medians of ``repeats`` runs
    after one untimed run per setting.
    """
    import tempfile

    from catalog import formats
    from workers.fewshot.bench.sampling import sample_support
    from workers.fewshot.encoders import build_encoder

    encoder = build_encoder("default")
    reports = []
    stages_order = ("load", "embed", "save", "fit", "classify", "pixels", "preview")
    stages_order += ("overlay.png", "mask.png", "mask.ome.tif", "json+csv+charts", "arrays")
    out(
        f"{'size':>5} {'chip':>4} {'chips':>6} "
        + " ".join(f"{k[:12]:>12}" for k in stages_order)
        + f" {'rerun':>7} {'cold':>7}"
    )
    for size in sizes:
        scene = sim.generate("sto_ge_interface", seed=0, size=(size, size))
        with tempfile.NamedTemporaryFile(suffix=".tif") as fh:
            fh.write(sim.tiff_bytes(scene))
            fh.flush()
            data = formats.read(fh.name, fmt="tiff").data
            preview_png = formats.encode_png(formats.preview(data))
            classes = [
                {"index": i, "id": str(i), "name": n, "colour": c}
                for i, (n, c) in enumerate(
                    zip(scene.class_names, ("#e41a1c", "#377eb8", "#4daf4a"), strict=False)
                )
            ]
            for chip in (c for c in chips if c <= size):
                # 3 chips per class drawn by majority (a 107 px grid has few pure chips)
                support = sample_support(_chip_truth(scene, chip), 3, np.random.default_rng(0))

                once = functools.partial(
                    _job_steps,
                    path=fh.name,
                    scene=scene,
                    preview_png=preview_png,
                    classes=classes,
                    encoder=encoder,
                    chip=chip,
                    support=support,
                )
                once()  # untimed: FFT plans, caches
                t = _median_times(once, repeats)
                t["cold"] = sum(t.values())
                t["rerun"] = t["cold"] - t["load"] - t["embed"] - t["save"]
                report = {"size": size, "chip_size": chip, "chips": (size // chip) ** 2, **t}
                reports.append(report)
                out(
                    f"{size:>5} {chip:>4} {report['chips']:>6} "
                    + " ".join(f"{t[k]:>12.3f}" for k in stages_order)
                    + f" {t['rerun']:>7.3f} {t['cold']:>7.3f}"
                )
    return reports


def _job_steps(*, path, scene, preview_png, classes, encoder, chip, support) -> dict:
    """One image through the runner's steps (see :func:`stages`): {step: seconds}."""
    from catalog import formats
    from workers.fewshot.pipeline import Segmenter, SegmentOptions, embed

    from . import artefacts, exports, maps

    t: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        t[stage] = now - clock
        clock = now

    pixels = formats.read(path, fmt="tiff").data
    lap("load")
    embedded = embed(pixels, encoder=encoder, chip_size=chip)
    lap("embed")
    artefacts.npz_bytes(embeddings=embedded.embeddings)
    lap("save")
    segmenter = Segmenter.fit(
        [embedded],
        [support],
        encoder=encoder,
        options=SegmentOptions(),
    )
    lap("fit")
    result = segmenter.classify(
        embedded.embeddings[0],
        grid=embedded.grid,
        pixels=embedded.frames[0],
        pixel_size=scene.pixel_size,
        pixel_unit=scene.pixel_unit,
    )
    lap("classify")
    outputs = maps.pixel_outputs(
        embedded.frames[0],
        result,
        classes,
        frequencies=segmenter.frequencies,
        support=support,
        spectrum=None,
        intensity=pixels.astype(np.float32),
        pixel_size=scene.pixel_size,
        pixel_unit=scene.pixel_unit,
    )
    lap("pixels")
    preview = _decode_png(preview_png)
    lap("preview")
    geometry = {"chip_size": chip, "offset": (0, 0)}
    exports.overlay_png(preview, outputs.mask, classes)
    lap("overlay.png")
    exports.mask_png(outputs.mask, classes, **geometry, provenance={})
    exports.confidence_png(outputs.confidence)
    lap("mask.png")
    exports.mask_ome_tiff(outputs.mask, classes, **geometry, pixel_size=scene.pixel_size)
    lap("mask.ome.tif")
    document = exports.result_document(
        labels=result.labels,
        probs=result.probs,
        confidence=result.confidence,
        stats=result.stats,
        classes=classes,
        grid={**embedded.grid.to_dict(), "id": "bench"},
        provenance={},
    )
    exports.result_json(document)
    exports.counts_csv(result.stats, classes)
    exports.chart_svg(result.stats, classes)
    exports.chart_png(result.stats, classes)
    lap("json+csv+charts")
    artefacts.npz_bytes(
        labels=result.labels.astype(np.int16), probs=result.probs, confidence=result.confidence
    )
    lap("arrays")
    return t


def _decode_png(data: bytes) -> np.ndarray:
    """The grey preview as the runner reads it from storage."""
    import io

    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"))


def _chip_truth(s, chip: int) -> np.ndarray:
    from workers.fewshot.chipping import ChipGrid, chip_truth

    return chip_truth(s.truth, ChipGrid.for_shape(s.truth.shape, chip))


def _report(runs: list[dict], out) -> None:
    stages = ["queue_wait", "load", "embed", "classify", "exports", "save", "total"]
    out(
        f"{'run':<6} {'round trip':>10} {'done':>7} "
        + " ".join(f"{s:>10}" for s in stages)
        + "  cache     accuracy"
    )
    for r in runs:
        t = r["timings"]
        cache = t.get("embeddings_cache", {})
        hit = next((k for k in ("memory", "storage", "miss") if cache.get(k)), "-")
        out(
            f"{r['kind']:<6} {r['round_trip']:>9.3f}s {r['until_done']:>6.3f}s "
            + " ".join(f"{t.get(s, 0.0):>9.3f}s" for s in stages)
            + f"  {hit:<8}  {r['accuracy']:.3f}"
        )
    edits = [r["round_trip"] for r in runs if r["kind"] == "edit"]
    if edits:
        out(
            f"support-set edit -> result: median {statistics.median(edits):.3f} s, "
            f"max {max(edits):.3f} s over {len(edits)} edits (cold: {runs[0]['round_trip']:.3f} s)"
        )
