"""E2E: one kind per particle is offered once two classes count as objects, and a job run with
it gives every particle of the map one kind."""

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import make_dataset, mark_objects, segment_and_wait, sign_in, vote
from workers.fewshot.objects import instances

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_one_kind_per_particle_from_the_segment_panel(
    page, celery_worker, lab_owner, champion_model, tmp_path
):
    from analysis.models import SegmentationJob

    d = make_dataset(lab_owner, tmp_path, case="particles_round_rod", title="Round and rods")
    vote(lab_owner, d, per_class=3)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(3)

    # no class counted as objects: Segment suggests marking particles
    page.get_by_test_id("step-segment").click()
    expect(page.get_by_test_id("objects-tip")).to_be_visible()
    expect(page.get_by_test_id("objects-tip")).to_contain_text("objects")
    expect(page.get_by_test_id("object-kinds")).to_be_hidden()
    page.shot("objects-tip")
    page.get_by_test_id("step-support").click()
    mark_objects(page, 1)

    # one class of objects: nothing to choose between
    page.get_by_test_id("step-segment").click()
    expect(page.get_by_test_id("segment")).to_be_enabled()
    expect(page.get_by_test_id("job-options")).to_be_hidden()

    page.get_by_test_id("step-support").click()
    mark_objects(page, 2)
    page.get_by_test_id("step-segment").click()
    option = page.get_by_test_id("object-kinds")
    expect(option).to_be_visible()
    expect(page.get_by_test_id("objects-tip")).to_be_hidden()
    expect(option).not_to_be_checked()  # off by default
    label = page.locator("label", has=option)
    assert "shape" in (label.get_attribute("title") or "")
    option.check()
    page.shot("job-options")
    segment_and_wait(page)
    page.shot("one-kind-per-particle")

    assert SegmentationJob.objects.get().params["object_kinds"] is True
    page.get_by_test_id("exports").scroll_into_view_if_needed()
    with page.expect_download() as info:
        page.get_by_test_id("export-mask.png").click()
    with Image.open(info.value.path()) as img:
        mask = np.asarray(img).astype(np.int64)
    mask[mask == 255] = -1
    particles = instances(mask, [1, 2], min_area_px=1)
    assert particles.n > 0 and (particles.class_fraction == 1.0).all()
    expect(page.get_by_test_id("objects-class")).to_have_count(2)
    assert not page.errors, page.errors
