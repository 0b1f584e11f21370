"""The original's pixels as OME-Zarr (catalog.ome_zarr): valid NGFF 0.4, the file's own
pixels and data type for every frame, the physical pixel size; private images stay private."""

import numpy as np
import pytest
import tifffile
import zarr

from catalog.ome_zarr import IMAGE_KEY
from tests.analysis.helpers import upload_ready_image
from tests.analysis.test_particle_exports import _ngff_models

pytestmark = pytest.mark.django_db


def _open(response, tmp_path):
    path = tmp_path / "image.ome.zarr.zip"
    path.write_bytes(b"".join(response.streaming_content))
    return zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")


@pytest.mark.parametrize("frames", [1, 3])
def test_an_image_exports_as_valid_ome_zarr_with_its_own_pixels(
    client_for, world, tmp_path, frames
):
    image, _ = upload_ready_image(world, frames=frames, size=(200, 300))
    response = client_for(world.viewer).get(f"/api/images/{image.pk}/ome-zarr")
    assert response.status_code == 200, response
    assert response["Content-Disposition"].endswith('.ome.zarr.zip"')
    root = _open(response, tmp_path)
    image_model, _, _ = _ngff_models()
    parsed = image_model.from_zarr(root)  # raises on anything NGFF 0.4 forbids

    from catalog.services import original_path

    with original_path(image) as path:
        original = tifffile.imread(path)
    pixels = root["0"][:]
    assert pixels.dtype == original.dtype == np.uint16
    assert np.array_equal(pixels, original)
    axes = parsed.attributes.multiscales[0].axes
    assert [a.name for a in axes] == (["t", "y", "x"] if frames > 1 else ["y", "x"])
    ms = root.attrs["multiscales"][0]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"][-2:] == pytest.approx(
        [image.pixel_size, image.pixel_size]
    )
    assert {a.get("unit") for a in ms["axes"] if a["type"] == "space"} == {"nanometer"}
    assert root.attrs[IMAGE_KEY]["sha256"] == image.sha256


def test_ome_zarr_of_an_image_follows_its_visibility(client_for, world):
    image, _ = upload_ready_image(world)
    assert client_for(world.outsider).get(f"/api/images/{image.pk}/ome-zarr").status_code == 404
    assert client_for(None).get(f"/api/images/{image.pk}/ome-zarr").status_code in (401, 403, 404)
