"""E2E: the support-set step: dataset-wide classes, roles, keyboard focus, grid inputs."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import click_chip, pure_chips, sign_in, vote

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
    assert "offers Undo" in messages[0], messages[0]
    expect(page.get_by_test_id("toasts")).to_contain_text("removed from every image")
    d["classes"][2].refresh_from_db()
    assert d["classes"][2].removed_at is not None
    assert not page.errors, page.errors


def test_undo_brings_a_removed_class_back_with_its_chips(page, lab_owner, labelled_dataset):
    """Undo in the removal's message restores the class, and its chips count again."""
    d = labelled_dataset
    vote(lab_owner, d, per_class=2)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(3)
    expect(items.nth(1).get_by_test_id("class-chips").locator("canvas")).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    items.nth(1).get_by_test_id("remove-class").click()
    expect(items).to_have_count(2)
    expect(page.get_by_test_id("class-name").nth(1)).to_have_value("vacuum")
    page.shot("removed")

    page.get_by_test_id("undo-remove-class").click()
    expect(items).to_have_count(3)
    expect(page.get_by_test_id("class-name").nth(1)).to_have_value("Ge")
    expect(items.nth(1).get_by_test_id("class-count")).to_have_text("2 chips")
    expect(items.nth(1).get_by_test_id("class-chips").locator("canvas")).to_have_count(2)
    expect(page.get_by_test_id("toasts")).to_contain_text("“Ge” restored")
    expect(page.get_by_test_id("undo-remove-class")).to_have_count(0)
    page.shot("restored")
    d["classes"][1].refresh_from_db()
    assert d["classes"][1].removed_at is None
    # still there after a reload: the server has it back
    page.reload()
    expect(items).to_have_count(3)
    expect(items.nth(1).get_by_test_id("class-count")).to_have_text("2 chips")
    expect(page.get_by_test_id("toast-error")).to_have_count(0)
    assert not page.errors, page.errors


def test_undo_says_when_the_name_is_taken_again(page, lab_owner, labelled_dataset):
    """A class of the same name added after the removal blocks the undo: the API's 409
    message is shown and nothing changes."""
    d = labelled_dataset
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(3)
    page.once("dialog", lambda dialog: dialog.accept())
    items.nth(2).get_by_test_id("remove-class").click()
    expect(items).to_have_count(2)
    page.get_by_test_id("new-class-name").fill("vacuum")
    page.get_by_test_id("add-class").click()
    expect(items).to_have_count(3)
    page.get_by_test_id("undo-remove-class").click()
    expect(page.get_by_test_id("toast-error")).to_contain_text("already an active class")
    expect(items).to_have_count(3)
    page.shot("name-taken")
    d["classes"][2].refresh_from_db()
    assert d["classes"][2].removed_at is not None
    assert not page.errors, page.errors


def _member(d, role):
    from tests.factories import MembershipFactory

    return MembershipFactory(lab=d["lab"], role=role).user


def test_annotator_sees_no_curator_controls(page, labelled_dataset):
    """Annotators label and segment; datasets, uploads and the classes are the curators'."""
    from accounts.models import Role

    d = labelled_dataset
    annotator = _member(d, Role.ANNOTATOR)
    sign_in(page, annotator.username)
    expect(page.get_by_test_id("dataset-card")).to_have_count(1)
    expect(page.get_by_test_id("new-dataset")).to_have_count(0)
    page.get_by_test_id("dataset-card").click()
    expect(page.get_by_test_id("dataset-heading")).to_have_text("Crowd set")
    expect(page.get_by_test_id("upload-note")).to_be_visible()
    expect(page.get_by_test_id("dropzone")).to_have_count(0)

    page.goto(f"/#/images/{d['image'].pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(3)
    expect(page.get_by_test_id("new-class-name")).to_have_count(0)
    expect(page.get_by_test_id("add-class")).to_have_count(0)
    expect(page.get_by_test_id("remove-class")).to_have_count(0)
    expect(items.first.get_by_test_id("class-name")).to_have_attribute("readonly", "")
    expect(items.first.get_by_test_id("class-colour")).to_be_disabled()
    # labelling is theirs
    row, col = pure_chips(d["sim"], chip=32, per_class=1)[0][0]
    click_chip(page, row, col, chip=32)
    expect(items.first.get_by_test_id("class-count")).to_have_text("1 chip")
    page.get_by_test_id("step-segment").click()
    expect(page.get_by_test_id("segment")).to_be_visible()
    expect(page.get_by_test_id("support-source")).to_have_count(0)
    page.get_by_test_id("image-metadata").locator("summary").click()
    expect(page.get_by_test_id("meta-image")).to_be_visible()
    expect(page.get_by_test_id("calibration-form")).to_have_count(0)
    page.shot("annotator")
    expect(page.get_by_test_id("toast-error")).to_have_count(0)
    assert not page.errors, page.errors


def test_viewer_sees_no_write_controls(page, lab_owner, labelled_dataset):
    from accounts.models import Role
    from labeling.models import Vote

    d = labelled_dataset
    vote(lab_owner, d)
    viewer = _member(d, Role.VIEWER)
    sign_in(page, viewer.username)
    expect(page.get_by_test_id("dataset-card")).to_have_count(1)
    expect(page.get_by_test_id("new-dataset")).to_have_count(0)

    page.goto(f"/#/images/{d['image'].pk}/support")
    expect(page.get_by_test_id("class-item")).to_have_count(3)
    expect(page.get_by_test_id("read-only-note")).to_contain_text("viewer")
    expect(page.get_by_test_id("add-class")).to_have_count(0)
    expect(page.get_by_test_id("remove-class")).to_have_count(0)
    expect(page.get_by_test_id("guidance")).to_be_hidden()
    click_chip(page, 0, 0, chip=32)
    expect(page.get_by_test_id("class-item").first.get_by_test_id("class-count")).to_have_text(
        "0 chips"
    )
    page.get_by_test_id("step-segment").click()
    expect(page.get_by_test_id("read-only-note")).to_contain_text("look at the results")
    expect(page.get_by_test_id("segment")).to_have_count(0)
    page.get_by_test_id("step-grid").click()
    page.get_by_test_id("chip-size-input").fill("40")
    expect(page.get_by_test_id("use-grid")).to_be_disabled()
    page.get_by_test_id("chip-size-input").fill("32")
    expect(page.get_by_test_id("use-grid")).to_be_enabled()
    page.get_by_test_id("nav-crowd").click()
    expect(page.get_by_test_id("crowd-read-only")).to_be_visible()
    page.shot("viewer")
    expect(page.get_by_test_id("toast-error")).to_have_count(0)
    assert not Vote.objects.filter(user=viewer).exists()
    assert not page.errors, page.errors


def test_viewer_controls_leave_the_image_free(new_page, artifacts, lab_owner, labelled_dataset):
    """At fit zoom the image can fill the whole stage (here a square one): the zoom controls sit
    beside it, so a click on the top-right chip labels that chip."""
    import re

    from tests.e2e.conftest import image_box, overlaps

    d = labelled_dataset
    page = new_page(width=1180, height=900)  # a square stage: the image fills it
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    expect(page.get_by_test_id("class-item")).to_have_count(3)
    canvas = page.get_by_test_id("viewer-canvas")
    expect(canvas).to_have_attribute("data-src", re.compile("preview"))
    # the label is the magnification: 100 % = one image pixel per screen pixel
    fit_label = f"{round(float(canvas.get_attribute('data-scale')) * 100)} %"
    assert fit_label != "100 %"  # a 512 px image fills more than 512 screen pixels here
    expect(page.get_by_test_id("zoom-label")).to_have_text(fit_label)
    image = image_box(page, 512, 512)
    for control in ("zoom-in", "zoom-out", "zoom-fit", "zoom-label"):
        assert not overlaps(page.get_by_test_id(control).bounding_box(), image), control
    cols = d["grid"].cols
    click_chip(page, 0, cols - 1, chip=32)
    expect(page.get_by_test_id("class-item").first.get_by_test_id("class-count")).to_have_text(
        "1 chip"
    )
    expect(page.get_by_test_id("zoom-label")).to_have_text(fit_label)  # a click does not zoom
    page.screenshot(path=str(artifacts / "01-top-right-chip.png"))
    assert not page.errors, page.errors


def test_after_adding_a_class_number_keys_switch_class(page, lab_owner, labelled_dataset):
    """Focus returns to the image after Add class, so 1–9 switch class instead of typing."""
    d = labelled_dataset
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(3)
    name = page.get_by_test_id("new-class-name")
    name.fill("Pt")
    name.press("Enter")
    expect(items).to_have_count(4)
    expect(items.nth(3)).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("viewer-canvas")).to_be_focused()
    page.keyboard.press("1")
    expect(items.nth(0)).to_have_attribute("aria-current", "true")
    expect(name).to_have_value("")
    assert not page.errors, page.errors


def test_out_of_range_grid_values_are_clamped_visibly(page, lab_owner, labelled_dataset):
    """A typed chip size or offset out of range is set to the nearest allowed value in the
    box itself, with a hint saying why (the 512 px image allows 8-256 px chips)."""
    d = labelled_dataset
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/grid")
    size = page.get_by_test_id("chip-size-input")
    slider = page.get_by_test_id("chip-size-slider")
    hint = page.get_by_test_id("grid-hint")
    expect(size).to_have_value("32")
    size.fill("5000")
    size.press("Enter")
    expect(size).to_have_value("256")
    expect(slider).to_have_value("1000")  # the slider's end (it is logarithmic: 0-1000)
    expect(hint).to_have_text(
        "Chip size: at most 256 px for this image (half the image's shorter side)."
    )
    expect(page.get_by_test_id("chip-total")).to_have_text("4")
    size.fill("3")
    size.press("Enter")
    expect(size).to_have_value("8")
    expect(hint).to_have_text("Chip size: at least 8 px.")
    size.fill("32")
    size.press("Enter")
    expect(hint).to_be_hidden()
    # logarithmic: the slider's middle is the geometric mean of 8 and 256 px, 45 px
    slider.fill("500")
    expect(size).to_have_value("45")
    size.fill("32")
    size.press("Enter")

    page.locator(".offsets summary").click()
    ox = page.get_by_test_id("offset-x")
    ox.fill("1000")
    ox.press("Enter")
    expect(ox).to_have_value("31")
    expect(hint).to_contain_text("x offset: at most 31 px with 32 px chips")
    oy = page.get_by_test_id("offset-y")
    oy.fill("-5")
    oy.press("Enter")
    expect(oy).to_have_value("0")
    expect(hint).to_have_text("y offset: at least 0 px.")
    # a smaller chip size takes the offset down with it, and says so
    size.fill("16")
    size.press("Enter")
    expect(ox).to_have_value("15")
    expect(hint).to_contain_text("x offset: at most 15 px with 16 px chips")
    page.shot("clamped")
    assert not page.errors, page.errors


def test_clicks_made_while_labels_load_are_applied(page, lab_owner, labelled_dataset, wait):
    """The board's "my labels" answer is held back here: chips clicked meanwhile are applied
    once the labels are in, against them (a labelled chip clicked again is retracted), never
    dropped."""
    from labeling.models import Vote

    d = labelled_dataset
    labelled = vote(lab_owner, d, per_class=1, classes=[0])[0][0]
    fresh = next(c for c in pure_chips(d["sim"], chip=32, per_class=3, seed=1)[0] if c != labelled)
    mine_url = re.compile(r"/api/grids/[^/]+/votes/\?.*user=me")
    held = []
    page.route(mine_url, lambda route: held.append(route))
    sign_in(page, lab_owner.username)
    with page.expect_request(mine_url):
        page.goto(f"/#/images/{d['image'].pk}/support")
    expect(page.get_by_test_id("viewer-canvas")).to_have_attribute("data-scale", re.compile(r"\d"))
    expect(page.get_by_test_id("class-item")).to_have_count(0)  # the board still loads
    assert len(held) == 1, held
    click_chip(page, *labelled, chip=32)
    click_chip(page, *fresh, chip=32)
    held[0].continue_()
    page.unroute(mine_url)
    first = page.get_by_test_id("class-item").first
    expect(first.get_by_test_id("class-count")).to_have_text("1 chip")
    crops = first.get_by_test_id("class-chips").locator("canvas")
    expect(crops).to_have_count(1)
    expect(crops.first).to_have_attribute("title", re.compile(rf"^Chip \({fresh[0]}, {fresh[1]}\)"))
    page.shot("clicks-applied")

    def latest():
        state = {}
        for v in Vote.objects.filter(user=lab_owner, grid=d["grid"]).order_by("id"):
            state[(v.row, v.col)] = v.label_class_id
        return state

    wait(lambda: latest() == {labelled: None, fresh: d["classes"][0].pk}, timeout=10, what="votes")
    assert not page.errors, page.errors
