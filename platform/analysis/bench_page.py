"""Browser benchmark of segmentation: the Segment step in headless Chromium against a running
server, timed as the page times itself (click -> overlay drawn: its progress box's ``data-ms``).
Run with ``python manage.py chiplab_bench_page`` on the server's own database and storage (the
same ``CHIPLAB_DATA_DIR`` as ``make run``, or a lab server's environment): like
``chiplab_bench_segment`` it creates its own lab, users, dataset, simulated image and 3 example
chips per class (named ``bench-…``) through the API in this process, then signs the annotator
in, opens the image's Segment step, clicks Segment once ("cold") and, per support-set edit, votes
one more example through the API ``pause`` s after the previous map was drawn and clicks Segment
again ``reach`` s later ("edit"; 0: at once, which leaves no time for the re-run made ahead of
the click, ``analysis.runner.ahead``). Each run's line: click -> overlay, the worker's part
(the job's creation -> its map saved, from the database) and the rest, the page's (the POST
that freezes the working set and queues the job, learning of the map, fetching and drawing
it). Needs Playwright (a dev dependency) and a Chromium (``--chromium``, Debian's
``/usr/bin/chromium`` by default); it never downloads a browser.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
import uuid

from django.db import connections

from .bench import bench_lab, ingest_upload, labelling, sim_tiff
from .models import SegmentationJob

__all__ = ["run"]

#: Chromium's flags: no sandbox (containers, root) and no background traffic
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: the Segment step's progress box: its ``data-ms`` is set once the job's map is drawn
PROGRESS = "[data-testid=job-progress]"


def run(
    *,
    url: str,
    size: int = 4096,
    chip: int = 32,
    frames: int = 1,
    edits: int = 8,
    pause: float = 1.0,
    reach: float = 0.0,
    settle: float = 5.0,
    chromium: str = "/usr/bin/chromium",
    timeout: float = 120.0,
    out=print,
) -> list[dict]:
    """The runs (see the module): [{"kind", "ms", "worker", "page", "job"}], printed as they go
    and summed up; ``settle``: seconds between the examples and the first click (a user
    picking them: the worker embeds the new grid meanwhile); ``reach``: seconds from each
    edit's vote to its Segment click; ``frames``: the image is a series
    of that many (each job classifies them all; the page shows frame 0 first)."""
    # benchmark only: the browser driver and the user model, loaded when it runs
    from playwright.sync_api import sync_playwright

    from accounts.models import User

    # Playwright's sync API runs an event loop on this thread, which Django takes for an
    # async context; this single-threaded process serves no requests (as in tests/e2e)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    tag = uuid.uuid4().hex[:8]
    dataset, curator, labeller, _ = bench_lab(tag)
    annotator, password = User.objects.get(username=f"bench-{tag}-a"), secrets.token_urlsafe(12)
    annotator.set_password(password)
    annotator.save(update_fields=["password"])
    data, scene = sim_tiff(size, frames)
    image = ingest_upload(curator, dataset, data, poll=0.05, out=out)
    _, vote, n_classes = labelling(curator, labeller, dataset, image, scene, chip=chip, edits=edits)
    series = f" x {frames} frames" if frames > 1 else ""
    out(
        f"image {size}x{size}{series}, {chip} px chips; {url}; pause {pause} s after each map, "
        f"{reach} s from each example to Segment"
    )
    time.sleep(settle)
    runs = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(timeout * 1000)
            _sign_in(page, url, annotator.username, password)
            page.goto(f"{url.rstrip('/')}/#/images/{image['id']}/segment")
            runs.append(_segment(page, "cold", out))
            for e in range(edits):
                time.sleep(pause)
                vote(e % n_classes, 3 + e // n_classes)  # the user adds an example
                time.sleep(reach)  # and reaches for Segment
                runs.append(_segment(page, "edit", out))
        finally:
            browser.close()
            # the queries made while Playwright's loop ran used connections of their own
            connections.close_all()
    _summary(runs, out)
    return runs


def _sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("who").filter(has_text=username).wait_for()


def _segment(page, kind: str, out) -> dict:
    """Click Segment and wait until the page has drawn the job's map -> the run."""
    page.locator(PROGRESS).wait_for(state="attached")
    page.evaluate(f"() => {{ delete document.querySelector('{PROGRESS}').dataset.ms; }}")
    page.get_by_test_id("segment").click()
    page.wait_for_function(f"() => !!document.querySelector('{PROGRESS}').dataset.ms")
    box = page.locator(PROGRESS)
    ms, job_id = int(box.get_attribute("data-ms")), box.get_attribute("data-job")
    job = SegmentationJob.objects.get(pk=job_id)
    first = job.results.order_by("created").first()
    worker = (first.created - job.created).total_seconds()
    run = {"kind": kind, "ms": ms, "worker": worker, "page": ms / 1000 - worker, "job": job_id}
    out(f"{kind:<5} click -> overlay {ms:>5} ms; worker {worker:.3f} s, page {run['page']:.3f} s")
    return run


def _summary(runs: list[dict], out) -> None:
    edits = [r for r in runs if r["kind"] == "edit"]
    if not edits:
        return

    def median(key: str) -> float:
        return statistics.median(r[key] for r in edits)

    ms = [r["ms"] for r in edits]
    out(
        f"edit -> map drawn: median {median('ms'):.0f} ms ({min(ms)}-{max(ms)}) over "
        f"{len(edits)} edits; worker {median('worker'):.3f} s, page {median('page'):.3f} s "
        f"(cold: {runs[0]['ms']} ms)"
    )
