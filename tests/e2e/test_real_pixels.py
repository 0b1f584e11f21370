"""E2E: real pixels. Zoomed in past the preview (2048 px) the viewer draws the original's
pixels from full-resolution tiles; "1:1" shows one image pixel per screen pixel."""

import re
import time

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import make_dataset, run_job, sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_one_to_one_draws_the_originals_pixels(page, artifacts, lab_owner, tmp_path):
    d = make_dataset(lab_owner, tmp_path, size=2304, title="Large")
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    canvas = page.get_by_test_id("viewer-canvas")
    expect(canvas).to_have_attribute("data-src", re.compile("preview"))
    page.screenshot(path=str(artifacts / "01-fit.png"))
    assert canvas.get_attribute("data-tiles") == "0"  # the preview is enough at fit zoom

    with page.expect_response(re.compile(r"/tiles/0/\d+/\d+")) as first_tile:
        page.get_by_test_id("zoom-actual").click()
    assert first_tile.value.ok or first_tile.value.status == 302
    expect(page.get_by_test_id("zoom-label")).to_have_text("100 %")
    expect(canvas).not_to_have_attribute("data-tiles", "0")
    # every tile in view arrived and drawn (whatever the machine's speed)
    page.wait_for_function(
        "c => c.dataset.tiles !== '0' && c.dataset.tiles === c.dataset.tilesWanted",
        arg=canvas.element_handle(),
        timeout=60_000,
    )
    page.screenshot(path=str(artifacts / "02-one-to-one.png"))

    # the centre of the canvas shows the original's pixel there (preview contrast), not the
    # preview's upsampled value: compare a small patch with the stretched original
    box = canvas.bounding_box()
    scale = float(canvas.get_attribute("data-scale"))
    tx, ty = float(canvas.get_attribute("data-tx")), float(canvas.get_attribute("data-ty"))
    assert scale == pytest.approx(1.0)
    cx, cy = int(box["width"] // 2), int(box["height"] // 2)
    shot = page.screenshot(
        clip={"x": box["x"] + cx - 8, "y": box["y"] + cy - 8, "width": 16, "height": 16}
    )
    from io import BytesIO

    from PIL import Image as PILImage

    from catalog.formats.preview import stretch

    seen = np.asarray(PILImage.open(BytesIO(shot)).convert("L")).astype(int)
    truth = np.rint(stretch(d["sim"].image) * 255).astype(int)

    def best_match(patch, reference) -> float:
        """Share of the patch's pixels equal (within 2 grey levels) to the reference at the
        best alignment within 2 px of where the transform says the patch is."""
        x0, y0 = round(cx - 8 - tx), round(cy - 8 - ty)
        return max(
            np.mean(np.abs(patch - reference[y : y + 16, x : x + 16]) <= 2)
            for y in range(y0 - 2, y0 + 3)
            for x in range(x0 - 2, x0 + 3)
        )

    # a grid line may cross the patch: most pixels match exactly, as only real pixels do
    assert best_match(seen, truth) > 0.8

    # the display settings apply to the tiles too
    page.get_by_test_id("display-toggle").click()
    page.get_by_test_id("display-invert").check()

    def inverted_match() -> float:
        # the display panel opened above the image: it moved down
        nonlocal cx, cy, tx, ty
        box = canvas.bounding_box()
        tx, ty = float(canvas.get_attribute("data-tx")), float(canvas.get_attribute("data-ty"))
        cx, cy = int(box["width"] // 2), int(box["height"] // 2)
        shot = page.screenshot(
            clip={"x": box["x"] + cx - 8, "y": box["y"] + cy - 8, "width": 16, "height": 16}
        )
        inverted = np.asarray(PILImage.open(BytesIO(shot)).convert("L")).astype(int)
        return best_match(inverted, 255 - truth)

    # the redraw with the inverted tiles comes a frame or more later (the machine's speed)
    deadline, match = time.monotonic() + 30, inverted_match()
    while match <= 0.8 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        match = inverted_match()
    assert match > 0.8
    page.screenshot(path=str(artifacts / "03-inverted.png"))
    assert not page.errors, page.errors


def test_a_large_images_map_comes_at_the_previews_size_until_zoomed_in(
    page, lab_owner, champion_model, tmp_path
):
    """A pixel map larger than 1024 px is drawn from mask.preview-1024.png (a fraction of the
    pixels to decode and draw) at fit zoom on a screen that shows fewer pixels, and from
    mask.preview.png (2048 px), then the whole mask.png, as it is zoomed in past each."""
    d = make_dataset(lab_owner, tmp_path, size=2304, title="Large map")
    vote(lab_owner, d, per_class=2)
    job = run_job(lab_owner, d)
    assert job.status == "succeeded", job.error
    assert {"mask.preview.png", "mask.preview-1024.png"} <= set(job.results.get().artefacts)
    sign_in(page, lab_owner.username)
    with page.expect_response(re.compile(r"/export/mask\.preview-1024\.png")) as preview:
        page.goto(f"/#/images/{d['image'].pk}/segment")
    assert preview.value.ok or preview.value.status == 302  # S3: the presigned object
    canvas = page.get_by_test_id("viewer-canvas")
    expect(canvas).to_have_attribute("data-overlay", "drawn", timeout=60_000)
    # the canvas shows the 2304 px map in fewer than 1024 screen pixels at fit zoom
    assert 2304 * float(canvas.get_attribute("data-scale")) <= 1024
    expect(canvas).to_have_attribute("data-overlay-width", "1024")
    page.shot("large-map-fit")
    with (
        page.expect_response(re.compile(r"/export/mask\.preview\.png")) as larger,
        page.expect_response(re.compile(r"/export/mask\.png")) as whole,
    ):
        page.get_by_test_id("zoom-actual").click()
    assert larger.value.ok or larger.value.status == 302
    assert whole.value.ok or whole.value.status == 302
    expect(canvas).to_have_attribute("data-overlay-width", "2304", timeout=30_000)
    page.shot("large-map-one-to-one")
    assert not page.errors, page.errors
