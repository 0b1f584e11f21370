"""A worker keeps each frame's support-independent features (the spectrum and
``pixels.PixelFeatures``) and the shifted examples' embeddings between jobs: a re-run after a
support-set edit only classifies, and gives what a fresh worker gives."""

import numpy as np
import pytest
from PIL import Image as PILImage

import workers.fewshot.pixels.features as pixel_features
from analysis import artefacts
from common import storage
from tests.analysis.helpers import run_job
from workers.fewshot.encoders import Encoder
from workers.fewshot.memo import ChipMemo
from workers.fewshot.pixels import PixelFeatures

pytestmark = pytest.mark.django_db


def _segment(client, segmentable) -> tuple[dict, np.ndarray, object]:
    """Run a job on the fixture's image in-process: its arrays, its decoded mask, the result."""
    result = run_job(client, segmentable["version"], [segmentable["image"]])
    with storage.open_(result.artefacts["mask.png"]) as fh, PILImage.open(fh) as img:
        mask = np.asarray(img)
    return artefacts.npz_load(result.arrays_key), mask, result


def test_a_segment_rerun_reads_the_frame_features_from_the_runner_cache(
    client_for, world, segmentable, monkeypatch
):
    client = client_for(world.annotator)
    artefacts.MEMORY_CACHE.clear()
    arrays, mask, result = _segment(client, segmentable)
    kept = artefacts.MEMORY_CACHE.get(f"pixels:{segmentable['image'].sha256}:32:0:0:0")
    assert isinstance(kept, PixelFeatures) and kept.nbytes > 0
    job = result.job
    grid_key = artefacts.embeddings_key(
        lab_id=job.lab_id,
        model_version_id=job.model_version_id,
        sha256=segmentable["image"].sha256,
        chip_size=32,
        offset=(0, 0),
    )
    memo = artefacts.MEMORY_CACHE.get(f"chip-memo:{grid_key}")
    assert isinstance(memo, ChipMemo)  # the shifted examples' embeddings, kept with the rest
    assert any(key[0] == "off-grid" for key in memo)

    def recomputed(*args, **kwargs):
        raise AssertionError("a support-independent feature was computed again")

    for name in ("gabor_amplitudes", "chip_features", "_intensity_features"):
        monkeypatch.setattr(pixel_features, name, recomputed)
    monkeypatch.setattr(Encoder, "embed_at", recomputed)
    again, again_mask, _ = _segment(client, segmentable)
    assert set(again) == set(arrays)
    for name in arrays:
        np.testing.assert_array_equal(again[name], arrays[name])
    np.testing.assert_array_equal(again_mask, mask)
