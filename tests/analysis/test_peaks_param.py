"""The support-peak group as a job parameter: recorded on in new jobs, off for jobs from before
it (a re-run or re-derivation of an old job gives what it first gave)."""

from analysis.runner.frames import options_from_params
from analysis.serializers import JobParamsSerializer
from analysis.services.params import DEFAULT_PARAMS


def test_new_jobs_record_the_peak_group_and_old_jobs_rerun_without_it():
    assert DEFAULT_PARAMS["peaks"] is True
    assert options_from_params(DEFAULT_PARAMS).peaks is True
    old = {k: v for k, v in DEFAULT_PARAMS.items() if k != "peaks"}
    assert options_from_params(old).peaks is False
    assert options_from_params({**DEFAULT_PARAMS, "peaks": False}).peaks is False
    assert JobParamsSerializer(data={"peaks": False}).is_valid()
    assert not JobParamsSerializer(data={"peaks": "sideways"}).is_valid()
