"""The worker stage benchmark (``chiplab_bench_segment --stages``) times the runner's own
export functions: it cannot drift from what a job writes."""

import pytest

from analysis import bench_stages
from analysis.runner import downloads, results


def test_stage_bench_times_what_a_job_writes(monkeypatch):
    written = {}
    for module, name in ((results, "map_exports"), (downloads, "download_exports")):
        real = getattr(module, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            blobs = _real(*args, **kwargs)
            written[_name] = set(blobs)
            return blobs

        monkeypatch.setattr(bench_stages, name, spy)
    lines = []
    (report,) = bench_stages.stages(sizes=(256,), chips=(32,), repeats=1, out=lines.append)
    assert written["map_exports"] == {"mask.png"}
    assert {"overlay.png", "coco.json", "mask.ome.zarr.zip", results.LAST_EXPORT} <= set(
        written["download_exports"]
    )
    after_map = report["downloads"] + report["hand-over"]
    assert report["shown"] == pytest.approx(report["cold"] - after_map)
    assert 0 < report["rerun"] < report["shown"] < report["cold"]
    assert "downloads" in lines[0] and len(lines) == 2
