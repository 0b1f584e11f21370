"""E2E: the labelling workspace: example clicks carried to a new chip size, the viewer's
display settings (brightness / contrast / gamma / invert, grid lines) and "label these next"."""

import pytest
from playwright.sync_api import expect

from labeling.models import Grid, Vote
from tests.common.held_jobs import held_jobs
from tests.conftest import wait_for
from tests.e2e.conftest import sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MEAN_GREY = """c => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i];
  return s / (d.length / 4);
}"""


def frames(page, n=3):
    """Let the viewer draw (display changes are applied on the next animation frames)."""
    for _ in range(n):
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")


def test_a_new_chip_size_keeps_the_example_clicks(page, lab_owner, labelled_dataset):
    d = labelled_dataset
    vote(lab_owner, d, per_class=2)  # 6 examples on the 32 px grid
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/grid")
    size = page.get_by_test_id("chip-size-input")
    size.fill("16")
    size.dispatch_event("change")
    page.get_by_test_id("use-grid").click()

    notice = page.get_by_test_id("carried-text")
    expect(notice).to_have_text("24 examples carried over from 32 px (your 6 chips there).")
    counts = page.get_by_test_id("class-count")
    expect(counts).to_have_text(["8 chips", "8 chips", "8 chips"])
    page.shot("carried-to-16px")
    small = Grid.objects.get(image=d["image"], chip_size=16)
    assert Vote.objects.filter(grid=small, user=lab_owner).count() == 24

    # back: the 32 px grid shows the original clicks, and nothing was carried back
    page.get_by_test_id("carried-back").click()
    expect(counts).to_have_text(["2 chips", "2 chips", "2 chips"])
    expect(page.get_by_test_id("carried")).to_have_count(0)
    assert Vote.objects.filter(grid=d["grid"]).count() == 6
    # and forth again through the grid list: the 16 px grid keeps what it has
    page.get_by_test_id("step-grid").click()
    page.get_by_test_id("open-grid").filter(has_text="16 px").click()
    expect(notice).to_contain_text("keeps the examples you gave it")
    expect(counts).to_have_text(["8 chips", "8 chips", "8 chips"])
    assert Vote.objects.filter(grid=small, user=lab_owner).count() == 24
    assert not page.errors, page.errors


def test_display_settings_and_hidden_grid_persist_per_image(page, lab_owner, labelled_dataset):
    d = labelled_dataset
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    canvas = page.get_by_test_id("viewer-canvas")
    expect(page.get_by_test_id("class-item")).to_have_count(3)
    frames(page)
    plain = canvas.evaluate(MEAN_GREY)

    page.get_by_test_id("grid-toggle").click()
    frames(page)
    no_grid = canvas.evaluate(MEAN_GREY)
    assert canvas.get_attribute("data-grid") == "hidden"
    assert no_grid < plain - 0.5, (plain, no_grid)  # the white grid lines are gone

    page.get_by_test_id("display-toggle").click()
    expect(page.get_by_test_id("display-panel")).to_be_visible()
    page.get_by_test_id("display-invert").check()
    frames(page)
    inverted = canvas.evaluate(MEAN_GREY)
    # the stage around the image stays dark: compare the change, not the sum
    assert inverted > no_grid + 20, (no_grid, inverted)
    page.get_by_test_id("display-auto-wide").click()  # the preview is stretched to 0.5-99.5 %
    frames(page)
    expect(page.get_by_test_id("display-contrast-value")).not_to_have_text("0")
    page.get_by_test_id("display-gamma").fill("2")
    frames(page)
    page.shot("inverted-auto-gamma-no-grid")
    settings = canvas.get_attribute("data-display")

    page.reload()
    expect(page.get_by_test_id("class-item")).to_have_count(3)
    frames(page)
    assert canvas.get_attribute("data-display") == settings
    assert '"invert":true' in settings and '"gamma":2' in settings
    assert canvas.get_attribute("data-grid") == "hidden"
    assert abs(canvas.evaluate(MEAN_GREY) - canvas.evaluate(MEAN_GREY)) < 1e-6

    page.get_by_test_id("display-toggle").click()
    page.get_by_test_id("display-reset").click()
    page.get_by_test_id("display-toggle").click()  # closed: the image area is as tall as before
    page.get_by_test_id("grid-toggle").click()
    frames(page)
    assert canvas.get_attribute("data-grid") == "shown"
    assert abs(canvas.evaluate(MEAN_GREY) - plain) < 0.5
    assert not page.errors, page.errors


def test_label_these_next(page, lab_owner, labelled_dataset, champion_model):
    from analysis.services import segmentation_job_create
    from labeling.services import support_set_freeze
    from tests.support.segmentation import segmentation_run

    d = labelled_dataset
    examples = vote(lab_owner, d, per_class=3)
    version = support_set_freeze(user=lab_owner, schema=d["schema"], rule="single_owner")
    with held_jobs("workers.tasks.segment.segment_job"):
        job = segmentation_job_create(
            user=lab_owner, images=[d["image"].pk], support_set=version.pk
        )
    segmentation_run(job_id=job.pk)

    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    expect(page.get_by_test_id("class-item")).to_have_count(3)
    page.get_by_test_id("suggest-next").click()
    chips = page.get_by_test_id("next-chip")
    expect(chips).to_have_count(8)
    picked = [
        (int(c.get_attribute("data-row")), int(c.get_attribute("data-col"))) for c in chips.all()
    ]
    assert not {rc for rcs in examples.values() for rc in rcs} & set(picked)
    page.shot("suggestions")

    page.keyboard.press("n")  # the first suggestion, zoomed to
    expect(chips.first).to_have_class("btn btn-small btn-selected")
    page.keyboard.press("a")  # labelled with the active class (the first)
    expect(chips).to_have_count(7)
    row, col = picked[0]
    expect(page.get_by_test_id("class-count").first).to_have_text("4 chips")
    page.shot("accepted")
    # the count is shown at once; the vote reaches the server a moment later
    wait_for(
        lambda: Vote.objects.filter(
            grid=d["grid"], user=lab_owner, row=row, col=col, label_class=d["classes"][0]
        ).exists(),
        timeout=15,
        what="the accepted suggestion's vote to be stored",
    )
    assert not page.errors, page.errors
