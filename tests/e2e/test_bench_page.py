"""The page benchmark (``chiplab_bench_page``) runs end to end against a live server: it signs
its annotator in, segments once, adds an example through the API and segments again, and
times each click -> overlay as the page measures it. The real worker made the re-run's map
ahead of its click (``analysis.runner.ahead``)."""

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from analysis import bench_page
from analysis.models import SegmentationJob
from tests.e2e.conftest import CHROMIUM

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_page_benchmark_times_a_segment_click_and_a_rerun(
    live_server, celery_worker, _session_worker, champion_model, wait
):
    lines = []

    def bench():
        try:
            return bench_page.run(
                url=live_server.url,
                size=256,
                chip=32,
                edits=1,
                pause=0.2,
                reach=2.0,  # time for the worker to make the re-run's map ahead of the click
                settle=0,
                chromium=str(CHROMIUM),
                out=lines.append,
            )
        finally:
            connections.close_all()  # the thread's own

    # on a thread of its own, as the command runs in a process of its own: the suite's browser
    # (Playwright's sync API) already runs an event loop on this one
    with ThreadPoolExecutor(1) as pool:
        runs = pool.submit(bench).result()
    assert [r["kind"] for r in runs] == ["cold", "edit"]
    first, second = (SegmentationJob.objects.get(pk=r["job"]) for r in runs)
    # the re-run froze the example added between the clicks
    assert len(second.support_set.chips) == len(first.support_set.chips) + 1
    for r, job in zip(runs, (first, second), strict=True):
        assert job.results.exists()
        # the page's measure holds the worker's part and its own
        assert r["worker"] > 0 and r["page"] > 0
        assert r["ms"] == pytest.approx(1000 * (r["worker"] + r["page"]))
    assert lines[-1].startswith("edit -> map drawn: median ")
    # both jobs end (the benchmark leaves once the map is drawn, before the downloads)
    ids = [r["job"] for r in runs]
    wait(
        lambda: (
            set(SegmentationJob.objects.filter(pk__in=ids).values_list("status", flat=True))
            == {"succeeded"}
        ),
        what="both jobs succeeded",
    )
    # the example's vote sent the re-run to the worker, which made its map ahead of the click
    # (a job takes it on the pool process that made it: one of this worker's two)
    log = _session_worker.log_path.read_text()
    assert f"made the map of job {first.pk}'s re-run ahead" in log


@pytest.mark.parametrize(
    "option",
    [
        {"size": 32},
        {"chip": 4},
        {"chip": 512, "size": 256},
        {"edits": 101},
        {"pause": -1},
        {"reach": 61},
        {"frames": 0},
    ],
)
def test_the_page_benchmark_refuses_sizes_out_of_bounds(option):
    with pytest.raises(CommandError):
        call_command("chiplab_bench_page", **option, stdout=io.StringIO())
