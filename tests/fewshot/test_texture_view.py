"""The texture view: the chips' local binary patterns, with a metric of their own, beside the
task space where no class is an object."""

import numpy as np
import pytest
import torch

from tests.fewshot.synthetic import chip_accuracy
from workers.fewshot.bench.methods import EncoderMethod
from workers.fewshot.bench.suites import SETS
from workers.fewshot.encoders import build_encoder
from workers.fewshot.pipeline import SegmentOptions, taskspace
from workers.fewshot.pipeline.taskspace import TEXTURE_GROUP, fit_task_space

# a learned group that reads brightness, and the texture group
GROUPS = [("learned", slice(0, 8)), (TEXTURE_GROUP, slice(8, 12))]


def _support(seed=0, k=3):
    rng = np.random.default_rng(seed)
    return {c: torch.as_tensor(rng.normal(c, 1.0, (k, 12)), dtype=torch.float32) for c in (0, 1)}


def _fit(support, groups=GROUPS, **options):
    opts = SegmentOptions(weighting=None, **options)
    return fit_task_space(support, opts, groups)[:3]


def test_the_view_reads_the_texture_group_only_and_averages_the_distances():
    support = _support()
    space, mapped, checked = _fit(support)
    main, _, _ = _fit(support, texture_view=False)
    assert space.view is not None and main.view is None
    for c in support:  # the support check reads the same as before
        torch.testing.assert_close(checked[c], main_checked(support)[c])
    x = torch.as_tensor(np.random.default_rng(1).normal(size=(20, 12)), dtype=torch.float32)
    y = space(x)
    assert y.shape == (20, 12 + 4)  # the main space, then the texture group's view
    # the main part is the space without the view; squared distances are the mean of both
    torch.testing.assert_close(y[:, :12] * np.sqrt(2), main(x), rtol=1e-5, atol=1e-5)
    moved = x.clone()
    moved[:, :8] += 5.0  # brightness, read by the learned group only
    torch.testing.assert_close(space.view(moved), space.view(x))
    torch.testing.assert_close(mapped[0], space(support[0]))
    assert space.calibration_factor < main.calibration_factor  # sharper: see VIEW_CALIBRATION


def main_checked(support):
    return _fit(support, texture_view=False)[2]


@pytest.mark.parametrize(
    "case",
    [
        {"object_classes": (1,)},  # particles: their intensity is the class
        {"texture_view": False},
        {"metric": None},  # the view is a metric of its own
        {"k": 1},  # one example per class: no within-class metric
        {"groups": [("learned", slice(0, 12))]},  # an encoder without the texture group
    ],
)
def test_no_view_where_it_cannot_or_should_not_be(case):
    case = dict(case)
    support = _support(k=case.pop("k", 3))
    groups = case.pop("groups", GROUPS)
    space, _, _ = _fit(support, groups=groups, **case)
    assert space.view is None


def test_the_view_follows_the_group_weighting():
    """Where the weighting switched the texture group off, the view has nothing to read."""
    support = _support()
    weights = torch.ones(12)
    weights[8:] = 0.0
    assert taskspace._texture_view(support, weights, 10.0, GROUPS) is None
    assert taskspace._texture_view(support, None, 10.0, GROUPS) is not None


def test_textures_whose_contrast_varies_by_region_are_told_apart_better():
    """A seen mosaic (selection set) of three textures, each region with its own contrast gain
    and brightness: the view's patterns do not change with them."""
    sample = SETS["seen"].load("textures_three_gain", 0, (512, 512), 32)
    method = EncoderMethod("default", build_encoder("default"))
    method.prepare(sample.image, sample.grid, object_classes=sample.object_classes)
    assert method.options.object_classes == ()
    on = chip_accuracy(method, sample, k=3, draws=6, texture_view=True)
    off = chip_accuracy(method, sample, k=3, draws=6, texture_view=False)
    assert on > off + 0.01, (on, off)  # chip accuracy 0.859 -> 0.880 when written
