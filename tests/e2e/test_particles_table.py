"""E2E: the particle table is tied to the map: hovering or clicking a particle on the map
highlights its row; hovering a row outlines the particle on the map; the table is virtualised."""

import io
import json
import re

import numpy as np
import pytest
from playwright.sync_api import expect
from scipy import ndimage

from analysis.exports import read_instances_png
from tests.e2e.conftest import make_dataset, mark_objects, segment_and_wait, sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _screen(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image point (x, y), from the viewer's published transform."""
    canvas = page.get_by_test_id("viewer-canvas")
    box = canvas.bounding_box()
    t = canvas.evaluate("c => ({s: +c.dataset.scale, x: +c.dataset.tx, y: +c.dataset.ty})")
    return box["x"] + t["x"] + x * t["s"], box["y"] + t["y"] + y * t["s"]


def _inside(ids: np.ndarray, k: int) -> tuple[float, float]:
    """The pixel of particle k farthest from its border (x + 0.5, y + 0.5)."""
    dist = ndimage.distance_transform_edt(np.pad(ids == k, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(np.argmax(dist), dist.shape)
    return x + 0.5, y + 0.5


def _region(page, box, pad=10):
    """A screenshot (as an array) of the page around image box [x0, y0, x1, y1)."""
    from PIL import Image

    (ax, ay), (bx, by) = _screen(page, box[0], box[1]), _screen(page, box[2], box[3])
    clip = {"x": ax - pad, "y": ay - pad, "width": bx - ax + 2 * pad, "height": by - ay + 2 * pad}
    return np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB"), np.int16)


def test_hovering_a_particle_finds_its_row_and_a_row_outlines_its_particle(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    d = make_dataset(lab_owner, tmp_path, case="particles_round_faceted", title="Particles")
    vote(lab_owner, d, per_class=3)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(3)
    mark_objects(page, 1, 2)  # round and faceted particles are objects
    page.get_by_test_id("step-segment").click()
    canvas = segment_and_wait(page)
    table = page.get_by_test_id("particle-table")
    expect(table).to_be_visible()
    table.scroll_into_view_if_needed()  # the side panel scrolls; the map stays in place
    wrap = page.get_by_test_id("particles")

    # what the page loaded: the table (with boxes) and the instance map, as the API gives them
    result = canvas.get_attribute("data-result")
    base = f"/api/segmentation-results/{result}/export/"
    doc = json.loads(page.request.get(base + "particles.json").body())
    ids = read_instances_png(page.request.get(base + "instances.png").body())
    col = doc["columns"].index
    n = len(doc["rows"])
    assert n == doc["n_total"] >= 5
    expect(page.get_by_test_id("particles-note")).to_contain_text(f"{n} particles")
    header = table.locator("thead th").all_inner_texts()
    assert header[:3] == ["#", "Class", "Area (nm²)"] and "Eq. diam. (nm)" in header
    # virtualised: only the rows in view (and a few more) are in the document
    shown = page.get_by_test_id("particle-row")
    assert shown.count() <= min(n, 24)

    # hover the largest particle away from the edge on the map: its row is found and marked
    rows = sorted(doc["rows"], key=lambda r: -r[col("area_px")])
    big = next(r for r in rows if not r[col("edge")])
    k = big[col("id")]
    page.mouse.move(5, 5)
    page.mouse.move(*_screen(page, *_inside(ids, k)))
    row = table.locator(f"tr[data-id='{k}']")
    expect(row).to_have_class(re.compile(r"\bhover\b"))
    rb, tb = row.bounding_box(), table.bounding_box()
    assert tb["y"] <= rb["y"] and rb["y"] + rb["height"] <= tb["y"] + tb["height"] + 1  # in view
    expect(wrap).to_have_attribute("data-hover", str(k))
    expect(canvas).to_have_attribute("data-particle", str(k))
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == str(k) and cells[1] == big[col("class")]
    page.shot("hover-particle-on-map")

    # a click pins it (selected), and moving off the map keeps it
    page.mouse.click(*_screen(page, *_inside(ids, k)))
    expect(row).to_have_attribute("aria-selected", "true")
    page.mouse.move(5, 5)
    expect(wrap).to_have_attribute("data-hover", "")
    expect(canvas).to_have_attribute("data-particle", str(k))

    # hovering another row outlines its particle on the map (the pixels around it change)
    other = next(r for r in rows if r[col("id")] != k)
    j = other[col("id")]
    box = doc["boxes"][[r[col("id")] for r in doc["rows"]].index(j)]
    table.evaluate(f"(t) => {{ t.scrollTop = {max(0, (j - 3) * 26)}; }}")
    target = table.locator(f"tr[data-id='{j}']")
    expect(target).to_be_attached()
    before = _region(page, box)
    target.hover()
    expect(canvas).to_have_attribute("data-particle", str(j))
    expect(target).to_have_class(re.compile(r"\bhover\b"))
    after = _region(page, box)
    changed = (np.abs(after - before).sum(axis=2) > 60).mean()
    assert changed > 0.03, changed  # the outline and its frame are drawn
    page.shot("hover-row-outlines-particle")

    # scrolling to the end brings the last particles' rows in
    table.evaluate("(t) => { t.scrollTop = t.scrollHeight; }")
    last = doc["rows"][-1][col("id")]
    expect(table.locator(f"tr[data-id='{last}']")).to_be_attached()
    assert page.get_by_test_id("particle-row").count() <= min(n, 24)
    expect(page.get_by_test_id("export-mask.ome.zarr.zip")).to_be_visible()
    assert not page.errors, page.errors
