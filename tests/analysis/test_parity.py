"""A job through the API and the library on the same file give the same result: the platform
runs the library's segmentation core (``workers.fewshot.pipeline``), not a copy of it, so every
figure the benchmarks report is what users get."""

import io

import numpy as np
import pytest
import tifffile

from analysis import artefacts
from tests.analysis.helpers import run_job, sim_tiff
from workers.fewshot.encoders import build_encoder
from workers.fewshot.pipeline import SegmentOptions, segment

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "params", [{}, {"boundary": False, "weighting": False, "smooth": 0.5, "bootstrap": 50}]
)
def test_a_job_and_the_library_give_identical_labels_and_fractions(
    client_for, world, segmentable, params
):
    version = segmentable["version"]
    result = run_job(client_for(world.annotator), version, [segmentable["image"]], params=params)
    job_params = result.job.params

    # the library, as a notebook user would call it: the same file, chips and options
    data, s = sim_tiff()
    pixels = tifffile.imread(io.BytesIO(data))
    index = {c["id"]: c["index"] for c in result.classes}
    support: dict[int, list[tuple[int, int]]] = {}
    for chip in version.chips:
        support.setdefault(index[str(chip["class"])], []).append((chip["row"], chip["col"]))
    lib = segment(
        pixels,
        chip_size=job_params["chip_size"],
        support=support,
        encoder=build_encoder("fourier"),
        pixel_size=s.pixel_size,
        pixel_unit=s.pixel_unit,
        options=SegmentOptions(
            smooth=params.get("smooth", 0.0),
            bootstrap=params.get("bootstrap", 200),
            boundary=SegmentOptions().boundary if params.get("boundary", True) else None,
            weighting="loo" if params.get("weighting", True) else None,
        ),
    )

    arrays = artefacts.npz_load(result.arrays_key)
    np.testing.assert_array_equal(arrays["labels"], lib.labels)
    np.testing.assert_array_equal(arrays["probs"], lib.probs)
    assert result.counts == lib.stats["counts"]
    assert result.fractions == lib.stats["fractions"]
    for key in ("fractions_ci_low", "fractions_ci_high", "soft_fractions"):
        assert result.stats[key] == lib.stats[key], key
    assert result.stats["temperature"] == lib.temperature
