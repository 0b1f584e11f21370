"""E2E: particles in the browser: a class marked as objects is counted and sized, the map is
the pixel map, and the particle table downloads."""

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect
from scipy import ndimage

from analysis import exports
from tests.e2e.conftest import make_dataset, mark_objects, segment_and_wait, sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SVG = "{http://www.w3.org/2000/svg}"


def test_particles_counted_with_a_size_histogram_on_the_pixel_map(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    d = make_dataset(lab_owner, tmp_path, case="particles_round_faceted", title="Particles")
    vote(lab_owner, d, per_class=3)
    s = d["sim"]
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(3)
    mark_objects(page, 1, 2)  # round and faceted particles are objects; carbon support is a region
    page.get_by_test_id("step-segment").click()
    canvas = segment_and_wait(page)

    # a scale bar in the image's unit, whose drawn length is its length at the current zoom
    bar = page.get_by_test_id("scale-bar")
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("nm")
    scale = float(canvas.get_attribute("data-scale"))
    width = page.locator("[data-testid=scale-bar] .scale-line").bounding_box()["width"]
    assert width == pytest.approx(
        float(bar.get_attribute("data-length")) / s.pixel_size * scale, abs=2.5
    )

    # the default view is the pixel map; the chip map is one click away
    expect(page.get_by_test_id("view-classes")).to_be_checked()
    expect(page.get_by_test_id("view-chips")).to_be_attached()
    expect(page.get_by_test_id("stats-pixel-fraction")).to_have_count(3)
    expect(page.get_by_test_id("pixel-map-note")).to_contain_text("of its pixels are below")

    # objects: one section per object class, with a count, sizes in nm and a histogram
    sections = page.get_by_test_id("objects-class")
    expect(sections).to_have_count(2)
    expect(page.get_by_test_id("size-histogram")).to_have_count(2)
    expect(page.get_by_test_id("objects-sizes").first).to_contain_text(" nm")
    page.get_by_test_id("histogram-bar").first.hover()
    expect(page.get_by_test_id("histogram-tooltip").first).to_contain_text("particle")
    page.shot("particles")

    # the count shown is the table's, and near the simulator's number of particles
    with page.expect_download() as info:
        page.get_by_test_id("export-particles.csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    shown = sum(
        int(t.split(" ")[0]) for t in page.get_by_test_id("objects-count").all_inner_texts()
    )
    assert shown == len(rows)
    _, truth = ndimage.label(s.truth > 0)
    assert 0.6 * truth <= len(rows) <= 1.5 * truth, (len(rows), truth)
    assert {r["class"] for r in rows} <= {"round", "faceted"}
    assert all(float(r["equivalent_diameter_nm"]) > 0 for r in rows)

    _exports_a_paper_can_use(page, s)

    page.locator("label", has=page.get_by_test_id("view-confidence")).click()
    expect(canvas).to_have_attribute("data-overlay", "drawn")
    page.shot("particles-confidence")
    page.locator("label", has=page.get_by_test_id("view-chips")).click()
    page.shot("particles-chips")
    assert not page.errors, page.errors


def _exports_a_paper_can_use(page, s) -> None:
    """The download menu offers the paper exports; the overlay is at the image's own size with
    a scale bar of (label / pixel size) px, the size histogram is the page's, in nm."""
    menu = page.get_by_test_id("exports")
    menu.scroll_into_view_if_needed()
    kinds = ("overlay.png", "mask.png", "mask.ome.tif", "chart.svg", "histogram.svg")
    for kind in (*kinds, "histogram.png", "particles.csv"):
        expect(page.get_by_test_id(f"export-{kind}")).to_be_visible()
    page.shot("exports")
    with page.expect_download() as info:
        page.get_by_test_id("export-overlay.png").click()
    with Image.open(info.value.path()) as img:
        rgb = np.asarray(img.convert("RGB"))
    height, width = s.truth.shape
    assert rgb.shape[1] == width and rgb.shape[0] > height
    black = (rgb[height:] == 0).all(-1)
    runs = [np.diff(np.flatnonzero(np.diff(np.r_[0, row, 0]))) for row in black.astype(int)]
    drawn = max((int(r[::2].max()) for r in runs if r.size), default=0)
    _length, label = exports.scale_bar(width, s.pixel_size, "nm")
    assert abs(drawn - float(label.split()[0]) / s.pixel_size) <= 1.5, (drawn, label)
    with page.expect_download() as info:
        page.get_by_test_id("export-histogram.svg").click()
    svg = ET.parse(info.value.path()).getroot()
    bars = [el for el in svg.iter(f"{SVG}rect") if el.get("class") == "bar"]
    shown = page.get_by_test_id("histogram-bar")
    assert len(bars) == shown.count()
    assert [b.get("data-count") for b in bars] == [
        shown.nth(i).get_attribute("data-count") for i in range(shown.count())
    ]
    labels = {el.text for el in svg.iter(f"{SVG}text") if el.get("class") == "x-label"}
    assert labels == {"equivalent diameter (nm)"}
    # the map for COCO tools (CVAT, FiftyOne): one category per class, at the image's size
    with page.expect_download() as info:
        page.get_by_test_id("export-coco.json").click()
    coco = json.loads(Path(info.value.path()).read_text())
    assert (coco["images"][0]["height"], coco["images"][0]["width"]) == s.truth.shape
    assert len(coco["categories"]) == len(s.class_names)
    assert {a["category_id"] for a in coco["annotations"]} <= {c["id"] for c in coco["categories"]}
    assert coco["annotations"]
