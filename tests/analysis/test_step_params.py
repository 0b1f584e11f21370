"""Steps of the core that came after the first jobs, as job parameters: recorded on in new jobs,
off for jobs from before them (a re-run or re-derivation of an old job gives what it first
gave)."""

import pytest

from analysis.runner.frames import options_from_params
from analysis.serializers import JobParamsSerializer
from analysis.services.params import DEFAULT_PARAMS

#: a class table with two kinds of particle on a support film
CLASSES = [
    {"index": 0, "name": "carbon", "kind": "region"},
    {"index": 1, "name": "round", "kind": "objects"},
    {"index": 2, "name": "rod", "kind": "objects"},
]


def _on(options, param: str) -> bool:
    """Whether ``options`` (SegmentOptions) runs the step of job param ``param``."""
    return {
        "peaks": options.peaks,
        "metric": options.metric is not None,
        "object_kinds": options.object_kinds == (1, 2),
        "texture_view": options.texture_view,
        "support_shifts": options.support_shifts,
        "object_edges": options.object_edges,
    }[param]


@pytest.mark.parametrize(
    "param", ["peaks", "metric", "texture_view", "support_shifts", "object_edges"]
)
def test_new_jobs_record_the_step_and_old_jobs_rerun_without_it(param):
    assert DEFAULT_PARAMS[param] is True
    assert _on(options_from_params(DEFAULT_PARAMS, CLASSES), param)
    old = {k: v for k, v in DEFAULT_PARAMS.items() if k != param}
    assert not _on(options_from_params(old, CLASSES), param)
    assert not _on(options_from_params({**DEFAULT_PARAMS, param: False}, CLASSES), param)
    assert JobParamsSerializer(data={param: False}).is_valid()
    assert not JobParamsSerializer(data={param: "sideways"}).is_valid()


def test_the_metric_param_gives_the_library_default():
    from workers.fewshot.pipeline import SegmentOptions

    assert options_from_params(DEFAULT_PARAMS).metric == SegmentOptions().metric


def test_one_kind_per_particle_is_opt_in_with_the_classes_marked_as_objects():
    assert DEFAULT_PARAMS["object_kinds"] is False
    assert not _on(options_from_params(DEFAULT_PARAMS, CLASSES), "object_kinds")
    old = {k: v for k, v in DEFAULT_PARAMS.items() if k != "object_kinds"}
    assert not _on(options_from_params(old, CLASSES), "object_kinds")
    on = {**DEFAULT_PARAMS, "object_kinds": True}
    assert options_from_params(on, CLASSES).object_kinds == (1, 2)
    regions = [{**c, "kind": "region"} for c in CLASSES]
    assert options_from_params(on, regions).object_kinds == ()
    assert options_from_params(on).object_kinds == ()  # no class table
    assert JobParamsSerializer(data={"object_kinds": True}).is_valid()
    assert not JobParamsSerializer(data={"object_kinds": "sideways"}).is_valid()


def test_the_classes_marked_as_objects_reach_the_core_whatever_the_kinds_param():
    """They keep the texture view off (``pipeline.taskspace``) with or without one kind per
    particle."""
    assert options_from_params(DEFAULT_PARAMS, CLASSES).object_classes == (1, 2)
    regions = [{**c, "kind": "region"} for c in CLASSES]
    assert options_from_params(DEFAULT_PARAMS, regions).object_classes == ()
    assert options_from_params(DEFAULT_PARAMS).texture_view
