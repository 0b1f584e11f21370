"""Steps of the core that came after the first jobs, as job parameters: recorded on in new jobs,
off for jobs from before them (a re-run or re-derivation of an old job gives what it first
gave)."""

import pytest

from analysis.runner.frames import options_from_params
from analysis.serializers import JobParamsSerializer
from analysis.services.params import DEFAULT_PARAMS


def _on(options, param: str) -> bool:
    """Whether ``options`` (SegmentOptions) runs the step of job param ``param``."""
    return {"peaks": options.peaks, "metric": options.metric is not None}[param]


@pytest.mark.parametrize("param", ["peaks", "metric"])
def test_new_jobs_record_the_step_and_old_jobs_rerun_without_it(param):
    assert DEFAULT_PARAMS[param] is True
    assert _on(options_from_params(DEFAULT_PARAMS), param)
    old = {k: v for k, v in DEFAULT_PARAMS.items() if k != param}
    assert not _on(options_from_params(old), param)
    assert not _on(options_from_params({**DEFAULT_PARAMS, param: False}), param)
    assert JobParamsSerializer(data={param: False}).is_valid()
    assert not JobParamsSerializer(data={param: "sideways"}).is_valid()


def test_the_metric_param_gives_the_library_default():
    from workers.fewshot.pipeline import SegmentOptions

    assert options_from_params(DEFAULT_PARAMS).metric == SegmentOptions().metric
