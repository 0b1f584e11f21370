"""Upload → real Celery worker → metadata, calibration, preview and thumbnail."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from catalog.models import Image
from tests.factories import UnreadableImageFactory
from tests.support.micrographs import (
    GMS_TAGS,
    JEOL_TIFF,
    LSFO_JPEG,
    calibrated_tiff_bytes,
    dm_bytes,
    gradient,
    png_bytes,
    tiff_bytes,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# A dim 16-bit image: a divide-by-256 preview would be nearly black.
DIM16 = (gradient((96, 128), np.uint16) // 16).astype(np.uint16)


def _ready(client, image_id, wait):
    def done():
        body = client.get(f"/api/images/{image_id}/").json()
        return body if body["status"] != "pending" else None

    body = wait(done, timeout=120, what=f"ingest of {image_id}")
    assert body["status"] == "ready", body["error"]
    return body


def _upload(client, dataset, content, name):
    response = client.post(
        f"/api/datasets/{dataset.pk}/images/",
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _png(client, url) -> np.ndarray:
    import requests

    response = client.get(url)
    if response.status_code == 302:  # S3: presigned redirect
        content = requests.get(response["Location"], timeout=30).content
    else:
        assert response.status_code == 200
        content = b"".join(response.streaming_content)
    return np.asarray(PILImage.open(io.BytesIO(content)))


CASES = {
    "png8": (lambda: png_bytes(), "a.png", dict(format="png", dtype="uint8", frames=1)),
    "jpeg (real LSFO HAADF)": (
        LSFO_JPEG.read_bytes,
        "lsfo.jpg",
        dict(format="jpeg", width=787, height=790),
    ),
    "tiff16 calibrated": (
        lambda: calibrated_tiff_bytes(DIM16, nm_per_px=0.05),
        "c.tif",
        dict(format="tiff", dtype="uint16", pixel_size=0.05, pixel_unit="nm"),
    ),
    "tiff float32": (
        lambda: tiff_bytes(gradient((50, 60), np.float32)),
        "f.tif",
        dict(dtype="float32", width=60, height=50),
    ),
    "tiff stack": (
        lambda: tiff_bytes(np.stack([gradient((32, 40), np.uint16, s) for s in range(5)])),
        "series.tif",
        dict(frames=5, width=40, height=32),
    ),
    "dm3": (
        lambda: dm_bytes(DIM16, version=3, scale=0.02, tags=GMS_TAGS),
        "a.dm3",
        dict(format="dm3", pixel_size=0.02, pixel_unit="nm"),
    ),
    "dm4": (
        lambda: dm_bytes(DIM16, version=4, scale=0.5, units="Å", tags=GMS_TAGS),
        "a.dm4",
        dict(format="dm4", pixel_size=0.05, pixel_unit="nm"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_format_is_ingested_by_a_real_worker(celery_worker, client_for, world, wait, case):
    make, name, expected = CASES[case]
    dataset = world.dataset()
    curator = client_for(world.curator)
    body = _ready(curator, _upload(curator, dataset, make(), name), wait)
    for key, value in expected.items():
        if isinstance(value, float):
            assert body[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert body[key] == value, key
    preview = _png(curator, body["links"]["preview"])
    assert preview.dtype == np.uint8
    assert preview.shape[:2] == (body["height"], body["width"])
    # percentile stretch: the preview uses the full 8-bit range even for dim data
    assert preview.min() <= 5 and preview.max() >= 250
    thumb = _png(curator, body["links"]["thumbnail"])
    assert max(thumb.shape[:2]) <= 256


def test_dm_instrument_metadata(celery_worker, client_for, world, wait):
    dataset = world.dataset()
    curator = client_for(world.curator)
    body = _ready(
        curator, _upload(curator, dataset, dm_bytes(DIM16, version=4, tags=GMS_TAGS), "m.dm4"), wait
    )
    assert body["instrument"]["voltage_kv"] == pytest.approx(300.0)
    assert body["instrument"]["magnification"] == pytest.approx(2_000_000.0)
    assert body["instrument"]["mode"].startswith("STEM")


def test_real_jeol_tiff_metadata(celery_worker, client_for, world, wait):
    dataset = world.dataset()
    curator = client_for(world.curator)
    body = _ready(curator, _upload(curator, dataset, JEOL_TIFF.read_bytes(), JEOL_TIFF.name), wait)
    assert (body["width"], body["height"], body["dtype"]) == (512, 512, "uint16")
    instrument = body["instrument"]
    assert "ARM300" in instrument["microscope"]
    assert instrument["voltage_kv"] == pytest.approx(300.0)
    assert instrument["magnification"] == pytest.approx(20000)
    assert "DF" in instrument["mode"]
    assert instrument["acquired_at"].startswith("20")
    stored = Image.objects.get(pk=body["id"])
    assert stored.metadata_raw  # the original tag tree is kept


def test_unreadable_original_ends_failed_with_reason(celery_worker, client_for, world, wait):
    """If the stored bytes cannot be decoded at ingest, the image fails with a reason."""
    curator = client_for(world.curator)
    image = UnreadableImageFactory(dataset=world.dataset(), uploaded_by=world.curator)
    from workers.tasks.ingest import ingest_image

    ingest_image.delay(str(image.pk))
    body = wait(
        lambda: (b := curator.get(f"/api/images/{image.pk}/").json())["status"] != "pending" and b,
        timeout=120,
        what="failed ingest",
    )
    assert body["status"] == "failed"
    assert body["error"]


def test_time_series_has_a_preview_per_frame(celery_worker, client_for, world, wait):
    rng = np.random.default_rng(3)
    # 5 frames: tifffile reads a leading axis of 3 or 4 as colour samples
    frames = np.stack([rng.integers(0, 4000, (32, 40)).astype(np.uint16) for _ in range(5)])
    dataset = world.dataset()
    curator = client_for(world.curator)
    body = _ready(curator, _upload(curator, dataset, tiff_bytes(frames), "series.tif"), wait)
    assert (body["frames"], body["preview_frames"]) == (5, 5)
    url = body["links"]["preview"]
    shown = [_png(curator, f"{url}?frame={i}") for i in range(5)]
    assert np.array_equal(shown[0], _png(curator, url))  # frame 0 is the usual preview
    for i, png in enumerate(shown):
        # each preview is its own frame: it tracks that frame's pixels, not another's
        corr = [np.corrcoef(png.ravel(), f.ravel())[0, 1] for f in frames]
        assert int(np.argmax(corr)) == i and corr[i] > 0.99
    viewer = client_for(world.viewer)
    for bad in ("5", "-1", "x"):
        response = viewer.get(f"{url}?frame={bad}")
        assert (
            response.status_code == 400 and "frame" in response.json()["error"]["message"].lower()
        )
    assert client_for(world.outsider).get(f"{url}?frame=1").status_code == 404
