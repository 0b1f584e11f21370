"""A result's thumbnail (the chip map as a small PNG) and the model named in result lists."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from analysis import artefacts, exports
from analysis.models import JobStatus, SegmentationResult
from tests.support.segmentation import segmentation_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def result(client_for, world, segmentable):
    artefacts.MEMORY_CACHE.clear()
    client = client_for(world.annotator)
    body = {"support_set": str(segmentable["version"].pk), "images": [str(segmentable["image"].pk)]}
    job_id = client.post("/api/segmentation-jobs/", body, format="json").json()["id"]
    segmentation_run(job_id=job_id)
    result = SegmentationResult.objects.get(job_id=job_id)
    assert result.job.status == JobStatus.SUCCEEDED, result.job.error
    return result


def test_thumbnail_is_the_chip_map_in_class_colours(client_for, world, result):
    labels = artefacts.npz_load(result.arrays_key)["labels"]
    rows, cols = labels.shape
    response = client_for(world.viewer).get(f"/api/segmentation-results/{result.pk}/thumbnail")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    img = PILImage.open(io.BytesIO(response.content)).convert("RGB")
    k = 96 // max(rows, cols)  # a grid smaller than the thumbnail: whole pixels per chip
    assert img.size == (cols * k, rows * k)
    pixels = np.asarray(img)
    for row, col in [(0, 0), (rows // 2, cols // 2), (rows - 1, cols - 1)]:
        colour = exports.hex_to_rgb(result.classes[int(labels[row, col])]["colour"])
        assert tuple(pixels[row * k + k // 2, col * k + k // 2]) == colour


def test_thumbnail_size_is_bounded(client_for, world, result):
    client = client_for(world.annotator)
    url = f"/api/segmentation-results/{result.pk}/thumbnail"
    img = PILImage.open(io.BytesIO(client.get(url, {"size": 16}).content))
    assert max(img.size) <= 16
    assert client.get(url, {"size": 5000}).status_code == 400


def test_large_grids_are_sampled_down_to_the_size():
    labels = np.arange(300 * 200).reshape(300, 200) % 3
    classes = [{"colour": c} for c in ("#ff0000", "#00ff00", "#0000ff")]
    img = PILImage.open(io.BytesIO(exports.thumbnail_png(labels, classes, size=64)))
    assert img.size == (43, 64)


def test_result_lists_name_the_model(client_for, world, result):
    body = client_for(world.annotator).get(f"/api/images/{result.image_id}/results/").json()
    model = result.job.model_version
    assert body["results"][0]["model"] == {
        "id": str(model.pk),
        "name": model.name,
        "version": model.version,
    }


def test_another_lab_gets_no_thumbnail(client_for, world, result):
    response = client_for(world.outsider).get(f"/api/segmentation-results/{result.pk}/thumbnail")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
