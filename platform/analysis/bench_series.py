"""Series benchmark (``chiplab_bench_segment --frames N``): one job over an N-frame simulated
series through the API and real workers, the maps' pace and how many frames' pixel outputs
wait for their downloads at once (``analysis.runner.downloads``: at most
``CHIPLAB_PENDING_DOWNLOADS_BYTES`` of them per job). It creates its own lab, users, dataset,
series and 3 example chips per class on frame 0 (named ``bench-…``), as the round trips do."""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from .bench import (
    api_ok,
    bench_lab,
    ensure_bucket,
    ingest_upload,
    labelling,
    sim_tiff,
    workers_running,
)
from .models import SegmentationJob
from .runner.downloads import pending

__all__ = ["series"]


def series(
    *,
    size: int = 2048,
    frames: int = 24,
    chip: int = 32,
    processes: int = 0,
    start_worker: bool = True,
    poll: float = 0.05,
    timeout: float = 1800.0,
    out=print,
) -> dict:
    """Run the job and print (and return) seconds from its POST to its first map listed, to
    its last, to its end, and the most frames waiting for their downloads at once."""
    ensure_bucket()
    tag = uuid.uuid4().hex[:8]
    dataset, curator, labeller, _ = bench_lab(tag)
    with workers_running(tag, processes, start=start_worker):
        data, scene = sim_tiff(size, frames)
        image = ingest_upload(curator, dataset, data, poll=poll, out=out)
        schema, _, _ = labelling(curator, labeller, dataset, image, scene, chip=chip, edits=0)
        body = {"schema": schema["id"], "rule": "single_owner", "images": [image["id"]]}
        t0 = time.perf_counter()
        job = api_ok(labeller.post("/api/segmentation-jobs/", body, format="json"))
        waiting = pending(SegmentationJob.objects.get(pk=job["id"]))
        report = {"frames": frames, "size": size, "first": None, "last": None, "peak": 0}
        while time.perf_counter() - t0 < timeout:
            now = api_ok(labeller.get(f"/api/segmentation-jobs/{job['id']}/"))
            listed, at = len(now.get("results") or []), time.perf_counter() - t0
            report["first"] = report["first"] or (at if listed else None)
            report["last"] = report["last"] or (at if listed == frames else None)
            report["peak"] = max(report["peak"], waiting.count())
            if now["status"] not in ("queued", "running"):
                break
            time.sleep(poll)
        else:
            raise RuntimeError(f"the series job did not end in {timeout:.0f} s")
        if now["status"] != "succeeded":
            raise RuntimeError(f"the series job {now['status']}: {now['error']}")
        report["done"] = time.perf_counter() - t0
        out(
            f"series of {frames} frames of {size}x{size}, {chip} px chips: first map "
            f"{report['first']:.1f} s, last map {report['last']:.1f} s, "
            f"done {report['done']:.1f} s;"
            f" at most {report['peak']} frames waiting for their downloads at once"
            f" (CHIPLAB_PENDING_DOWNLOADS_BYTES {settings.CHIPLAB_PENDING_DOWNLOADS_BYTES:,})"
        )
        return report
