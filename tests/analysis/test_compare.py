"""Comparing two results of an image: per chip on one grid, per pixel across grids; fraction
deltas, the confusion table, errors and isolation."""

import numpy as np
import pytest

from analysis.artefacts import npz_bytes, npz_load
from analysis.models import SegmentationResult
from common import storage
from tests.analysis.helpers import chip_mask, run_job, upload_ready_image

pytestmark = pytest.mark.django_db

JOBS = "/api/segmentation-jobs/"


def url(a, b):
    return f"/api/segmentation-results/{a.pk}/compare/{b.pk}"


def _run(client, segmentable, **params):
    return run_job(client, segmentable["version"], [segmentable["image"]], params=params)


@pytest.fixture
def two(client_for, world, segmentable):
    client = client_for(world.annotator)
    a = _run(client, segmentable)
    b = _run(client, segmentable, smooth=3.0, pixel_vote=False, boundary=False)
    return {**segmentable, "client": client, "a": a, "b": b}


def _flip(result, rows_cols):
    """Change the stored labels of some chips (to the next class)."""
    arrays = npz_load(result.arrays_key)
    labels = arrays["labels"].copy()
    k = len(result.classes)
    for r, c in rows_cols:
        labels[r, c] = (labels[r, c] + 1) % k
    key = result.arrays_key.replace(".npz", "-edited.npz")
    storage.put_bytes(key, npz_bytes(**{**arrays, "labels": labels}))
    SegmentationResult.objects.filter(pk=result.pk).update(arrays_key=key)
    return labels


def test_same_grid_compares_chips(two):
    a, b = two["a"], two["b"]
    labels_b = _flip(b, [(0, 0), (1, 2), (3, 3)])
    labels_a = npz_load(a.arrays_key)["labels"]
    body = two["client"].get(url(a, b)).json()
    assert body["level"] == "chip" and body["unit_px"] == 32
    expected = labels_a != labels_b
    assert body["compared"] == labels_a.size
    assert body["differing"] == int(expected.sum()) >= 3
    assert body["differing_fraction"] == pytest.approx(expected.mean())
    assert np.array_equal(np.array(body["map"]["values"]), expected.astype(int))
    assert body["map"]["cell_px"] == 32 and body["map"]["origin"] == [0, 0]
    confusion = np.array(body["confusion"])
    assert confusion.sum() == labels_a.size
    assert np.trace(confusion) == labels_a.size - int(expected.sum())
    for i, c in enumerate(body["classes"]):
        assert c["name"] == a.classes[i]["name"] and c["in_a"] and c["in_b"]
        assert c["delta"] == pytest.approx(b.fractions[i] - a.fractions[i])
    assert body["a"]["id"] == str(a.pk) and body["b"]["support_set"]["number"] >= 1
    # a result with itself: nothing differs
    same = two["client"].get(url(a, a)).json()
    assert same["differing"] == 0 and all(c["delta"] == 0 for c in same["classes"])


@pytest.mark.parametrize("chip,oy,ox", [(16, 3, 5), (48, 16, 0)])
def test_different_grids_compare_pixels(world, two, chip, oy, ox):
    """b moved onto another grid: the labels are painted on pixels and compared where both
    grids cover the image; the counts are exact pixel counts also when blocks of pixels (the
    greatest common divisor of chip sizes and offsets: 1, then 16) are compared."""
    import math

    from labeling.services import grid_create

    a, b = two["a"], two["b"]
    image = a.image
    grid, _ = grid_create(
        user=world.annotator, image=image, chip_size=chip, offset_x=ox, offset_y=oy
    )
    labels_a = npz_load(a.arrays_key)["labels"].astype(np.uint8)
    rng = np.random.default_rng(0)
    labels_b = rng.integers(0, len(b.classes), size=(grid.rows, grid.cols)).astype(np.uint8)
    arrays = npz_load(b.arrays_key)
    key = b.arrays_key.replace(".npz", f"-{chip}.npz")
    storage.put_bytes(key, npz_bytes(**{**arrays, "labels": labels_b}))
    SegmentationResult.objects.filter(pk=b.pk).update(
        arrays_key=key, grid=grid, rows=grid.rows, cols=grid.cols
    )
    shape = (image.height, image.width)
    pa = chip_mask(labels_a, chip_size=32, shape=shape)
    pb = chip_mask(labels_b, chip_size=chip, offset=(oy, ox), shape=shape)
    both = (pa != 255) & (pb != 255)
    expected = both & (pa != pb)

    body = two["client"].get(url(a, b)).json()
    g = math.gcd(32, chip, oy, ox)
    assert body["level"] == "pixel" and body["unit_px"] == g
    assert body["compared"] == int(both.sum())
    assert body["differing"] == int(expected.sum()) > 0
    assert np.array(body["confusion"]).sum() == int(both.sum())
    # 256 px fit the map: one cell per block of g x g pixels
    values = np.array(body["map"]["values"])
    assert body["map"]["cell_px"] == g and values.shape == (256 // g, 256 // g)
    assert np.array_equal(values == 1, expected[::g, ::g])
    assert np.array_equal(values == -1, ~both[::g, ::g])


def test_results_of_two_images_are_refused(world, two):
    from labeling.services import grid_create

    other, _ = upload_ready_image(world, dataset=two["image"].dataset, seed=2)
    grid, _ = grid_create(user=world.annotator, image=other, chip_size=32)
    b = two["b"]
    SegmentationResult.objects.filter(pk=b.pk).update(image=other, grid=grid)
    response = two["client"].get(url(two["a"], b))
    assert response.status_code == 400
    assert "same image" in response.json()["error"]["message"]


def test_outsiders_get_404_and_viewers_read(client_for, world, two):
    outsider = client_for(world.outsider)
    response = outsider.get(url(two["a"], two["b"]))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client_for(world.viewer).get(url(two["a"], two["b"])).status_code == 200
