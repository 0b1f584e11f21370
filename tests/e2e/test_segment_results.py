"""E2E: what the Segment step offers and shows: dataset-wide classes, areas and intervals."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import make_dataset, sign_in, vote

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
