"""Full-resolution tiles of images larger than the preview (real pixels in the viewer)."""

import io

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from catalog import tiles
from catalog.formats.preview import stretch
from tests.analysis.helpers import sim_tiff, upload_ready_image

pytestmark = pytest.mark.django_db


def test_levels_until_the_preview_has_every_pixel():
    assert tiles.levels(2048, 1024) == []
    assert tiles.levels(2600, 2100) == [
        {"z": 0, "width": 2600, "height": 2100, "rows": 5, "cols": 6}
    ]
    assert [lv["z"] for lv in tiles.levels(8192, 300)] == [0, 1]
    assert tiles.levels(8192, 300)[1]["width"] == 4096


def test_tiles_are_the_originals_pixels_with_the_previews_contrast(client_for, world):
    image, _ = upload_ready_image(world, size=(2100, 2600))
    client = client_for(world.viewer)
    index = client.get(f"/api/images/{image.pk}/tiles").json()
    assert index["tile_size"] == 512 and index["preview_max_side"] == 2048
    assert index["levels"] == [{"z": 0, "width": 2600, "height": 2100, "rows": 5, "cols": 6}]

    data, _ = sim_tiff(size=(2100, 2600))
    expected = np.rint(stretch(tifffile.imread(io.BytesIO(data))) * 255).astype(np.uint8)

    def tile(z, row, col):
        response = client.get(f"/api/images/{image.pk}/tiles/{z}/{row}/{col}")
        if response.status_code == 302:  # S3: a presigned URL
            import urllib.request

            with urllib.request.urlopen(response["Location"]) as fh:
                body = fh.read()
        else:
            assert response.status_code == 200, response.content[:200]
            body = b"".join(response.streaming_content)
        with PILImage.open(io.BytesIO(body)) as img:
            return np.asarray(img)

    np.testing.assert_array_equal(tile(0, 0, 0), expected[:512, :512])
    # the last column and row are the rest of the image: 2600 - 5 x 512 = 40, 2100 - 4 x 512 = 52
    corner = tile(0, 4, 5)
    assert corner.shape == (52, 40)
    np.testing.assert_array_equal(corner, expected[2048:, 2560:])
    for bad in ("0/5/0", "0/0/6", "1/0/0"):
        response = client.get(f"/api/images/{image.pk}/tiles/{bad}")
        assert response.status_code == 404, bad
        assert response.json()["error"]["code"] == "no_tile"
    assert client_for(world.outsider).get(f"/api/images/{image.pk}/tiles").status_code == 404


def test_a_small_image_has_no_tiles(client_for, world):
    image, _ = upload_ready_image(world)  # 256 px: the preview is the image
    client = client_for(world.viewer)
    assert client.get(f"/api/images/{image.pk}/tiles").json()["levels"] == []
    assert client.get(f"/api/images/{image.pk}/tiles/0/0/0").status_code == 404


def test_cutting_tiles_on_request_is_bounded(client_for, world, settings):
    image, _ = upload_ready_image(world, size=(2100, 2600))
    settings.CHIPLAB_TILES_MAX_PIXELS = 1000
    from common import storage

    storage.delete(f"{tiles.tiles_prefix(image)}/index.json")  # as if ingested before tiles
    response = client_for(world.viewer).get(f"/api/images/{image.pk}/tiles/0/0/0")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "tiles_too_large"


def test_a_tile_request_costs_no_storage_round_trip_once_tiles_are_known(
    client_for, world, monkeypatch
):
    from django.core.cache import cache

    from common import storage

    image, _ = upload_ready_image(world, size=(2100, 2600))
    client = client_for(world.viewer)
    cache.clear()
    checks = []
    exists = storage.exists
    monkeypatch.setattr(storage, "exists", lambda key: checks.append(key) or exists(key))
    assert client.get(f"/api/images/{image.pk}/tiles").status_code == 200
    assert len(checks) == 1 and checks[0].endswith("/tiles/index.json")  # once per image
    for col in range(3):
        assert client.get(f"/api/images/{image.pk}/tiles/0/0/{col}").status_code in (200, 302)
    assert len(checks) == 1
