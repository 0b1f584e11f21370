"""E2E: sign in, create a dataset, upload micrographs, inspect status/metadata, lab isolation."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, simulated_tiff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_upload_and_grid_slider(page, celery_worker, lab_owner, tmp_path):
    tif = tmp_path / "sto_ge.tif"
    simulated_tiff(tif, size=1024)
    bad = tmp_path / "notes.tif"
    bad.write_bytes(b"this is not a micrograph")

    sign_in(page, lab_owner.username)
    page.shot("datasets-empty")
    page.get_by_test_id("new-dataset").click()
    page.get_by_test_id("dataset-title").fill("STO/Ge interfaces")
    page.get_by_test_id("dataset-description").fill("HAADF-STEM of Ge on SrTiO3")
    page.shot("create-dataset")
    page.get_by_test_id("dataset-create").click()
    expect(page.get_by_test_id("dataset-heading")).to_have_text("STO/Ge interfaces")

    page.get_by_test_id("file-input").set_input_files([str(tif), str(bad)])
    tiles = page.get_by_test_id("image-tile")
    expect(page.locator('[data-testid="image-tile"][data-status="ready"]')).to_have_count(
        1, timeout=120_000
    )
    page.shot("uploaded")
    # The unreadable file is refused at upload or fails ingestion; either way the user sees why.
    expect(
        page.get_by_test_id("upload-error").or_(page.get_by_test_id("image-error")).first
    ).to_be_visible(timeout=60_000)
    assert tiles.count() >= 1

    page.locator('[data-testid="image-tile"][data-status="ready"]').click()
    expect(page.get_by_test_id("viewer-canvas")).to_be_visible()
    page.get_by_test_id("chip-size-input").fill("64")
    expect(page.get_by_test_id("chip-total")).to_have_text("256")
    page.shot("grid-64")
    page.get_by_test_id("chip-size-input").fill("32")
    expect(page.get_by_test_id("chip-total")).to_have_text("1,024")
    page.get_by_test_id("image-metadata").locator("summary").click()
    expect(page.get_by_test_id("meta-image")).to_contain_text("nm / px")
    page.shot("grid-32-metadata")
    assert not page.errors, page.errors


def test_other_lab_sees_none_of_the_datasets(new_page, lab_owner, other_lab_owner, artifacts):
    from catalog.models import Dataset

    lab = lab_owner.memberships.get().lab
    Dataset.objects.create(lab=lab, title="Secret interfaces", created_by=lab_owner)
    mine = new_page()
    sign_in(mine, lab_owner.username)
    expect(mine.get_by_test_id("dataset-card")).to_have_count(1)
    expect(mine.get_by_test_id("dataset-card")).to_contain_text("Secret interfaces")
    mine.screenshot(path=str(artifacts / "00-first-lab.png"))
    theirs = new_page()
    sign_in(theirs, other_lab_owner.username)
    expect(theirs.get_by_test_id("datasets-empty")).to_be_visible()
    expect(theirs.get_by_test_id("lab-select")).to_contain_text("Particles lab")
    expect(theirs.get_by_test_id("lab-select")).not_to_contain_text("Interfaces lab")
    theirs.screenshot(path=str(artifacts / "01-other-lab.png"))
    # Even a direct link to the first lab's dataset shows nothing of it.
    dataset = Dataset.objects.get(title="Secret interfaces")
    theirs.goto(f"/#/datasets/{dataset.pk}")
    expect(theirs.get_by_test_id("page-error")).to_be_visible()
    expect(theirs.locator("body")).not_to_contain_text("Secret interfaces")
    theirs.screenshot(path=str(artifacts / "02-other-lab-direct-link.png"))


def test_double_submit_creates_one_dataset_and_one_upload(page, lab_owner, tmp_path):
    """A double click on Create sends one request; a file chosen twice is uploaded once."""
    from catalog.models import Dataset, Image

    tif = tmp_path / "sto_ge.tif"
    simulated_tiff(tif, size=256)
    sign_in(page, lab_owner.username)
    page.get_by_test_id("new-dataset").click()
    page.get_by_test_id("dataset-title").fill("Once only")
    page.get_by_test_id("dataset-create").dblclick()
    expect(page.get_by_test_id("dataset-heading")).to_have_text("Once only")
    assert Dataset.objects.filter(title="Once only").count() == 1

    page.get_by_test_id("file-input").set_input_files([str(tif), str(tif)])
    expect(page.get_by_test_id("toasts")).to_contain_text(
        "sto_ge.tif is already in the upload list"
    )
    expect(page.get_by_test_id("image-tile")).to_have_count(1)
    expect(page.get_by_test_id("upload-error")).to_have_count(0)
    assert Image.objects.count() == 1
    assert not page.errors, page.errors
