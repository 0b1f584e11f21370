"""A result's layer profile across a chosen direction, through a job and the API (and the
client's operation): along the axes it is the stored profile; a bad angle is a 400, another
lab's result a 404."""

import numpy as np
import pytest

from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from tests.support.segmentation import segmentation_run


@pytest.fixture
def result(client_for, world, segmentable):
    client = client_for(world.annotator)
    body = {"support_set": str(segmentable["version"].pk), "images": [str(segmentable["image"].pk)]}
    job_id = client.post("/api/segmentation-jobs/", body, format="json").json()["id"]
    segmentation_run(job_id=job_id)
    assert SegmentationJob.objects.get(pk=job_id).status == JobStatus.SUCCEEDED
    return SegmentationResult.objects.get(job_id=job_id)


@pytest.mark.django_db
def test_profile_across_a_direction_matches_the_stored_axes_and_is_in_nm(
    client_for, world, segmentable, result
):
    client = client_for(world.annotator)
    url = f"/api/segmentation-results/{result.pk}/profile"
    image = segmentable["image"]
    for angle, axis in ((0, "x"), (-90, "y")):
        answer = client.get(url, {"angle": angle, "band": 1})
        assert answer.status_code == 200, answer.content
        got, stored = answer.json(), result.stats["layers"][axis]
        assert got["angle"] == angle and got["band_px"] == 1
        assert got["classes"] == [c["name"] for c in result.classes]
        assert got["positions_px"] == pytest.approx(stored["positions_px"])
        assert np.allclose(
            np.array(got["fractions"], float), np.array(stored["fractions"], float), atol=1e-4
        )
        assert got["unit"] == image.pixel_unit == "nm"
        assert got["positions"] == pytest.approx(
            [p * image.pixel_size for p in got["positions_px"]]
        )
        positions = [i["position_px"] for i in got["interfaces"]]
        assert positions == pytest.approx([i["position_px"] for i in stored["interfaces"]])
        for item in got["interfaces"]:
            assert set(item["between"]) <= set(got["classes"])
            assert item["position"] == pytest.approx(item["position_px"] * image.pixel_size)
    tilted = client.get(url, {"angle": 30}).json()
    extent = 255 * (np.cos(np.radians(30)) + np.sin(np.radians(30)))
    assert tilted["positions_px"][-1] == pytest.approx(extent, abs=1.0)


@pytest.mark.django_db
def test_bad_directions_and_other_labs_are_refused(client_for, world, result):
    client = client_for(world.annotator)
    url = f"/api/segmentation-results/{result.pk}/profile"
    bad = ({}, {"angle": 400}, {"angle": "nan"}, {"angle": 0, "band": 0})
    for query in (*bad, {"angle": 0, "band": 10**6}):
        answer = client.get(url, query)
        assert answer.status_code == 400, (query, answer.status_code)
    assert client_for(world.outsider).get(url, {"angle": 0}).status_code == 404
    result.artefacts = {k: v for k, v in result.artefacts.items() if k != "mask.png"}
    result.save(update_fields=["artefacts"])
    answer = client.get(url, {"angle": 0})
    assert answer.status_code == 404 and "pixel map" in answer.json()["error"]["message"]
