"""The spatial prior as a job parameter: recorded on in new jobs, off for jobs from before it."""

from analysis.runner.frames import options_from_params
from analysis.serializers import JobParamsSerializer
from analysis.services.params import DEFAULT_PARAMS
from workers.fewshot.pipeline import SegmentOptions


def test_new_jobs_record_the_spatial_prior_and_old_jobs_rerun_without_it():
    assert DEFAULT_PARAMS["spatial"] is True
    assert options_from_params(DEFAULT_PARAMS).mean_field == SegmentOptions().mean_field > 0
    old = {k: v for k, v in DEFAULT_PARAMS.items() if k != "spatial"}
    assert options_from_params(old).mean_field == 0.0
    assert options_from_params({**DEFAULT_PARAMS, "spatial": False}).mean_field == 0.0
    assert JobParamsSerializer(data={"spatial": False}).is_valid()
    assert not JobParamsSerializer(data={"spatial": "sideways"}).is_valid()
