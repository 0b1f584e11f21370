"""E2E: the support-set step: dataset-wide classes, roles, keyboard focus, grid inputs."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_removing_a_class_says_it_leaves_every_image(page, lab_owner, labelled_dataset):
    """The confirmation tells the truth: the class goes from every image of the dataset."""
    d = labelled_dataset
    vote(lab_owner, d, per_class=1)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    expect(page.get_by_test_id("class-item")).to_have_count(3)
    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_test_id("class-item").nth(2).get_by_test_id("remove-class").click()
    expect(page.get_by_test_id("class-item")).to_have_count(2)
    assert len(messages) == 1
    assert "“vacuum” from the dataset “Crowd set”" in messages[0], messages[0]
    assert "removed from every image" in messages[0], messages[0]
    assert "1 of them yours on this image" in messages[0], messages[0]
    assert "cannot be undone" in messages[0], messages[0]
    expect(page.get_by_test_id("toasts")).to_contain_text("removed from every image")
    d["classes"][2].refresh_from_db()
    assert d["classes"][2].removed_at is not None
    assert not page.errors, page.errors
