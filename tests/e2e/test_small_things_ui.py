"""E2E: issue 14's small things: areas with ± in a readable unit, a side panel that does not
scroll sideways, a failed upload that does not show a full bar, Profile in the menu."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import make_dataset, mark_objects, segment_and_wait, sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIDEWAYS = """(el) => {
  const box = el.getBoundingClientRect();
  const wide = [...el.querySelectorAll('*')].filter((c) => {
    const r = c.getBoundingClientRect();
    return r.width && r.right > box.right - el.clientLeft + 0.5;
  }).map((c) => `${c.tagName}.${c.className}[${c.dataset.testid || ''}]`);
  return {overflow: el.scrollWidth - el.clientWidth, wide: wide.slice(0, 8)};
}"""


def test_areas_have_a_plus_minus_in_um2_and_the_panel_does_not_scroll_sideways(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    from analysis.models import SegmentationResult
    from catalog.models import Image

    d = make_dataset(lab_owner, tmp_path, case="particles_round_faceted", title="Particles")
    # 5 nm per pixel: a 512 px field is 2.56 µm wide, areas are millions of nm²
    Image.objects.filter(pk=d["image"].pk).update(pixel_size=5.0, pixel_unit="nm")
    vote(lab_owner, d, per_class=3)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    mark_objects(page, 1, 2)  # particles: the particle table is the widest thing in the panel
    page.get_by_test_id("step-segment").click()
    segment_and_wait(page)
    table = page.get_by_test_id("stats-table")
    expect(table.locator("th").nth(3)).to_have_text("Area (µm²)")
    result = SegmentationResult.objects.get()
    areas_nm2 = result.areas
    shown = page.get_by_test_id("stats-area").all_inner_texts()
    for text, nm2 in zip(shown, areas_nm2, strict=True):
        # ± when the interval is about symmetric, else +above / −below: never a negative area
        match = re.fullmatch(r"([\d.]+) (?:± ([\d.]+)|\+([\d.]+) / −([\d.]+))", text)
        assert match, text
        value = float(match.group(1))
        # the value is rounded to the decimals its uncertainty supports (2.25 ± 0.26, 1.0 ± 1.0)
        decimals = len(match.group(1).partition(".")[2])
        assert abs(value - nm2 / 1e6) <= 0.5 * 10**-decimals + 1e-9, text
        below = float(match.group(2) or match.group(4))
        assert 0 < below <= value + 0.006, text
    assert "e+" not in " ".join(shown)
    table.scroll_into_view_if_needed()
    page.shot("areas-um2")
    expect(page.get_by_test_id("particle-table")).to_be_visible()
    panel = page.get_by_test_id("side-panel")
    measured = panel.evaluate(SIDEWAYS)
    assert measured["overflow"] <= 0, measured
    assert not page.errors, page.errors


def test_a_refused_upload_does_not_show_a_full_bar(page, lab_owner, tmp_path):
    from catalog.models import Dataset

    lab = lab_owner.memberships.get().lab
    dataset = Dataset.objects.create(lab=lab, title="Uploads", created_by=lab_owner)
    bad = tmp_path / "notes.tif"
    bad.write_bytes(b"this is not a TIFF at all" * 40)
    sign_in(page, lab_owner.username)
    expect(page.get_by_test_id("nav-profile")).to_be_visible()  # Profile in the menu
    page.goto(f"/#/datasets/{dataset.pk}")
    page.get_by_test_id("file-input").set_input_files([str(bad)])
    row = page.get_by_test_id("upload-row")
    expect(row.get_by_test_id("upload-error")).to_be_visible(timeout=60_000)
    expect(row.get_by_test_id("upload-not-stored")).to_have_text("not stored")
    expect(row.locator("progress")).to_have_count(0)
    page.shot("upload-refused")
