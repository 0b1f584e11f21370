"""E2E: what the Segment step offers and shows: dataset-wide classes, areas and intervals."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import make_dataset, segment_and_wait, sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_classes_without_chips_here_are_left_out(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    """Classes belong to the dataset: a class with no chips on this grid (added for another
    image, say) does not block Segment; the page says it is left out, and the result has the
    two classes that have chips."""
    d = make_dataset(lab_owner, tmp_path)
    vote(lab_owner, d, classes=[0, 1])  # STO and Ge; vacuum has no chips here

    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    segment = page.get_by_test_id("segment")
    expect(segment).to_be_enabled()
    expect(page.get_by_test_id("support-left-out")).to_have_text(
        "vacuum has no chips here and is left out of this segmentation."
    )
    page.shot("left-out")
    segment.click()
    expect(page.get_by_test_id("viewer-canvas")).to_have_attribute(
        "data-overlay", "drawn", timeout=180_000
    )
    expect(page.get_by_test_id("chart-bar")).to_have_count(2)
    expect(page.get_by_test_id("stats-table")).not_to_contain_text("vacuum")
    assert not page.errors, page.errors


def test_one_class_with_chips_is_not_enough(page, lab_owner, labelled_dataset):
    vote(lab_owner, labelled_dataset, classes=[0])
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{labelled_dataset['image'].pk}/segment")
    expect(page.get_by_test_id("support-missing")).to_contain_text("at least two classes")
    expect(page.get_by_test_id("segment")).to_be_disabled()
    expect(page.get_by_test_id("support-left-out")).to_have_count(0)
    assert not page.errors, page.errors


def test_uncalibrated_areas_in_pixels_and_fraction_intervals(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    """A PNG has no pixel size: areas are shown in px² (not "–"). Fractions carry the
    bootstrap interval, in the table and as the chart's error bars."""
    import re

    from analysis.models import SegmentationResult

    d = make_dataset(lab_owner, tmp_path, png=True)
    assert not d["image"].pixel_size
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    segment_and_wait(page)
    page.shot("uncalibrated-result")
    result = SegmentationResult.objects.get()
    stats = result.stats
    table = page.get_by_test_id("stats-table")
    expect(table.locator("th").nth(3)).to_have_text("Area (px²)")
    expect(table).to_contain_text("95 % interval")
    expect(page.get_by_test_id("area-note")).to_contain_text("Areas are in pixels")
    table.scroll_into_view_if_needed()
    page.shot("stats-table")
    areas = page.get_by_test_id("stats-area").all_inner_texts()
    # each area with ± (or +above / −below): its fraction's interval, as area
    assert [a.split(" ")[0] for a in areas] == [f"{a:,}" for a in stats["areas_px"]], areas
    assert all(re.fullmatch(r"[\d,]+ (± [\d,]+|\+[\d,]+ / −[\d,]+)", a) for a in areas), areas
    fractions = page.get_by_test_id("stats-fraction").all_inner_texts()
    for i, text in enumerate(fractions):
        lo, hi = stats["fractions_ci_low"][i], stats["fractions_ci_high"][i]
        assert text == (f"{stats['fractions'][i] * 100:.1f} % ({lo * 100:.1f}–{hi * 100:.1f} %)"), (
            text
        )
        assert re.fullmatch(r"\d+\.\d % \(\d+\.\d–\d+\.\d %\)", text), text
    bars = page.get_by_test_id("error-bar")
    expect(bars).to_have_count(3)
    for i in range(3):
        assert float(bars.nth(i).get_attribute("data-lo")) == pytest.approx(
            max(0, stats["fractions_ci_low"][i])
        )
        assert float(bars.nth(i).get_attribute("data-hi")) == pytest.approx(
            min(1, stats["fractions_ci_high"][i])
        )
    assert not page.errors, page.errors


def test_manual_pixel_size_gives_physical_areas(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    """A curator sets a PNG's pixel size by hand (0.5 Å = 0.05 nm): the next segmentation
    reports nm², the earlier result keeps px², and clearing goes back to the file's (none)."""
    d = make_dataset(lab_owner, tmp_path, png=True)
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    canvas = segment_and_wait(page)
    area_header = page.get_by_test_id("stats-table").locator("th").nth(3)
    expect(area_header).to_have_text("Area (px²)")
    first = canvas.get_attribute("data-result")

    page.get_by_test_id("image-metadata").locator("summary").click()
    meta = page.get_by_test_id("meta-image")
    expect(meta).to_contain_text("not calibrated")
    page.get_by_test_id("pixel-size").fill("0.5")
    page.get_by_test_id("pixel-unit").select_option("Å")
    page.get_by_test_id("pixel-size-save").click()
    expect(meta).to_contain_text("0.05 nm / px")
    expect(meta).to_contain_text("set by hand")
    expect(page.get_by_test_id("toasts")).to_contain_text("New segmentations report areas in nm²")
    expect(page.get_by_test_id("calibration-form")).to_contain_text("results made before keep")
    page.shot("calibrated")
    d["image"].refresh_from_db()
    assert d["image"].pixel_size == pytest.approx(0.05)
    assert d["image"].pixel_unit == "nm"

    page.get_by_test_id("segment").click()
    expect(canvas).not_to_have_attribute("data-result", first, timeout=180_000)
    expect(canvas).to_have_attribute("data-overlay", "drawn")
    expect(area_header).to_have_text("Area (nm²)")
    expect(page.get_by_test_id("area-note")).to_have_count(0)
    # the earlier result keeps the pixel areas it was made with
    page.get_by_test_id("step-history").click()
    page.locator(f'[data-testid="history-result"][data-id="{first}"]').get_by_test_id(
        "history-open-result"
    ).click()
    expect(canvas).to_have_attribute("data-result", first)
    expect(area_header).to_have_text("Area (px²)")
    expect(page.get_by_test_id("area-note")).to_contain_text("segment again for physical areas")

    page.get_by_test_id("pixel-size-clear").click()
    expect(meta).to_contain_text("not calibrated")
    d["image"].refresh_from_db()
    assert d["image"].pixel_size is None
    assert not page.errors, page.errors


def test_a_wrong_example_is_flagged_on_the_map_and_listed(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    """A vacuum chip clicked as Ge: the result lists it with the class it looks like and
    outlines it on the map, instead of silently painting it in vacuum's colour."""
    from labeling.services import votes_cast_many

    d = make_dataset(lab_owner, tmp_path)
    chips = vote(lab_owner, d, per_class=3)
    names = [c.name for c in d["classes"]]
    ge, vacuum = names.index("Ge"), names.index("vacuum")
    row, col = chips[vacuum][0]
    votes_cast_many(
        user=lab_owner,
        grid=d["grid"],
        schema=d["schema"],
        votes=[{"row": row, "col": col, "class": d["classes"][ge].pk}],
    )
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    segment_and_wait(page)
    box = page.get_by_test_id("support-check")
    expect(box).to_contain_text("of your 9 examples disagree")
    # what to do either way: remove a wrong example, or show more of a varied class
    expect(box).to_contain_text("a wrong example pulls its class")
    expect(box).to_contain_text("add a few more like it")
    # and how far to trust the list: what the percentage is, how often a right example is listed
    expect(page.get_by_test_id("support-check-rate")).to_contain_text(
        "not the chance that it was mis-clicked"
    )
    expect(page.get_by_test_id("support-check-rate")).to_contain_text("4–6 % of correct examples")
    expect(page.get_by_test_id("support-disagreement").first).to_have_text(
        re.compile(rf"chip \({row}, {col}\) was clicked as Ge, looks like vacuum \(\d+(\.\d)? %\)")
    )
    # then the same support at 16 and 64 px chips, compared with the interval
    expect(page.get_by_test_id("chip-size-sensitivity")).to_contain_text(
        re.compile(r"At 16 px and 64 px chips|Chip size matters here"), timeout=60_000
    )
    page.shot("wrong-example-flagged")
    assert not page.errors, page.errors


def test_one_example_per_class_says_the_examples_could_not_be_checked(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    """With one example per class no example can be held out against its class: the page
    says so and what to do, rather than that "all 0 examples agree"."""
    d = make_dataset(lab_owner, tmp_path)
    vote(lab_owner, d, per_class=1)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    segment_and_wait(page)
    box = page.get_by_test_id("support-check")
    expect(box).to_have_text(
        "Your examples could not be checked: with one example per class none can be held out. "
        "Add a second example of a class to have them checked."
    )
    page.shot("one-example-per-class")
    assert not page.errors, page.errors
