"""The series benchmark (``chiplab_bench_segment --frames N``) runs one job over a simulated
series through the API and a real worker and reports the maps' pace and the downloads'
backlog."""

import io

import pytest
from django.core.management import CommandError, call_command

from analysis.bench_series import series
from analysis.models import SegmentationJob
from tests.factories.registry import fourier_champion

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_series_benchmark_reports_a_whole_series_job(celery_worker):
    fourier_champion()
    lines = []
    report = series(size=256, frames=3, start_worker=False, out=lines.append)
    job = SegmentationJob.objects.get()
    assert job.status == "succeeded" and job.results.count() == 3
    assert 0 < report["first"] <= report["last"] <= report["done"]
    assert 0 <= report["peak"] <= 3
    assert lines[-1].startswith("series of 3 frames of 256x256, 32 px chips: first map ")


def test_the_series_benchmark_refuses_a_frame_count_out_of_bounds():
    with pytest.raises(CommandError, match="--frames"):
        call_command("chiplab_bench_segment", frames=501, stdout=io.StringIO())
