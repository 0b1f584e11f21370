"""E2E: the segment step's extras: cancelling a job, and segmenting with a lab consensus."""

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.common.held_jobs import held_jobs
from tests.e2e.conftest import image_box, overlaps, pure_chips, segment_and_wait, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHIP = 32
JOB_DETAIL = re.compile(r".*/api/segmentation-jobs/[0-9a-f-]+/(\?.*)?$")  # ?wait= too


def _vote(user, d, per_class=2):
    from labeling.services import votes_cast_many

    chips = pure_chips(d["sim"], chip=CHIP, per_class=per_class)
    votes_cast_many(
        user=user,
        grid=d["grid"],
        schema=d["schema"],
        votes=[
            {"row": r, "col": c, "class": d["classes"][k].pk}
            for k, rc in chips.items()
            for r, c in rc
        ],
    )


def _open_segment(page, d):
    page.goto(f"/#/images/{d['image'].pk}/segment")
    expect(page.get_by_test_id("segment")).to_be_enabled()
    expect(page.get_by_test_id("toasts")).not_to_contain_text("Loading results")


def test_cancel_queued_job(page, lab_owner, champion_model, labelled_dataset, hold_jobs):
    """No worker takes the job (enqueueing is switched off), so it stays queued: Cancel stops it.

    A champion is registered up front, as ``make run`` does at start-up: otherwise the first job
    registers the built-in encoders in MLflow, which can take longer than the UI checks wait.
    """
    from analysis.models import SegmentationJob

    hold_jobs("workers.tasks.segment.segment_job")
    d = labelled_dataset
    _vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    _open_segment(page, d)
    page.get_by_test_id("segment").click()
    cancel = page.get_by_test_id("cancel-job")
    expect(cancel).to_be_visible()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    page.shot("queued")
    cancel.click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    expect(page.get_by_test_id("job-progress")).to_contain_text("The job was cancelled.")
    expect(cancel).to_be_hidden()
    expect(page.get_by_test_id("segment")).to_be_enabled()
    page.shot("cancelled")
    assert SegmentationJob.objects.get().status == "cancelled"
    assert not page.errors, page.errors


def test_cancel_finished_job_shows_the_api_message(
    page, lab_owner, champion_model, labelled_dataset, hold_jobs
):
    """The page still thinks the job runs (its status polls are rewritten) while the server
    knows it has failed: Cancel shows the server's 409 message."""
    from analysis.models import SegmentationJob

    hold_jobs("workers.tasks.segment.segment_job")
    d = labelled_dataset
    _vote(lab_owner, d)

    def running(route):
        response = route.fetch()
        body = response.json()
        body["status"] = "running"
        route.fulfill(response=response, json=body)

    sign_in(page, lab_owner.username)
    _open_segment(page, d)
    page.route(JOB_DETAIL, running)
    page.get_by_test_id("segment").click()
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    SegmentationJob.objects.update(status="failed", error="stopped by the test")
    page.get_by_test_id("cancel-job").click()
    expect(page.get_by_test_id("cancel-error")).to_contain_text("already failed")
    page.shot("cancel-409")
    # wait for a status poll still in the handler: unrouting under it made fulfill() fail
    page.unroute_all(behavior="wait")
    expect(page.get_by_test_id("job-progress")).to_contain_text("stopped by the test")
    expect(page.get_by_test_id("cancel-job")).to_be_hidden()
    assert not page.errors, page.errors


def test_segment_with_majority_consensus(
    page, new_page, celery_worker, lab_owner, champion_model, labelled_dataset
):
    """Two lab members label the same chips; the owner segments with their majority."""
    from accounts.models import Role
    from analysis.models import SegmentationJob
    from tests.factories import MembershipFactory

    d = labelled_dataset
    mate = MembershipFactory(lab=d["lab"], role=Role.ANNOTATOR).user
    _vote(lab_owner, d)
    _vote(mate, d)

    sign_in(page, lab_owner.username)
    _open_segment(page, d)
    source = page.get_by_test_id("support-source")
    expect(source.locator("option")).to_have_count(3)
    source.select_option("majority")
    expect(page.get_by_test_id("min-votes")).to_have_value("2")
    expect(page.get_by_test_id("support-summary")).to_contain_text("STO 2 · Ge 2 · vacuum 2")

    # three votes per chip are more than anyone gave: the server's message is shown
    page.get_by_test_id("min-votes").fill("3")
    page.get_by_test_id("min-votes").dispatch_event("change")
    expect(source.locator("option:checked")).to_have_text("Lab consensus — majority (min votes 3)")
    expect(page.get_by_test_id("support-summary")).to_contain_text("STO 0 · Ge 0 · vacuum 0")
    page.get_by_test_id("segment").click()
    expect(page.get_by_test_id("job-progress").get_by_test_id("error-box")).to_contain_text(
        "at least 2 classes"
    )
    page.shot("majority-too-strict")
    assert not SegmentationJob.objects.exists()

    page.get_by_test_id("min-votes").fill("2")
    page.get_by_test_id("min-votes").dispatch_event("change")
    expect(page.get_by_test_id("support-summary")).to_contain_text("STO 2 · Ge 2 · vacuum 2")
    canvas = segment_and_wait(page)
    expect(page.get_by_test_id("chart-bar")).to_have_count(3)
    page.shot("majority-result")
    # the map comes before the downloads: the job succeeds once they are written
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
    job = SegmentationJob.objects.get()
    assert job.status == "succeeded"
    assert job.support_set.rule == "majority"
    assert job.support_set.params.get("min_votes") == 2, job.support_set.params
    assert len(job.support_set.chips) == 6
    # reopened later, the selector names the support set the shown result was made with
    page.reload()
    expect(canvas).to_have_attribute("data-overlay", "drawn")
    expect(source).to_have_value("majority")
    expect(page.get_by_test_id("min-votes")).to_have_value("2")
    expect(page.get_by_test_id("result-meta")).to_contain_text("(lab majority)")
    expect(page.get_by_test_id("support-summary")).to_contain_text("Lab consensus")
    assert not page.errors, page.errors

    # an annotator only has their own chips
    other = new_page()
    sign_in(other, mate.username)
    _open_segment(other, d)
    expect(other.get_by_test_id("support-summary")).to_contain_text("STO 2")
    expect(other.get_by_test_id("support-source")).to_have_count(0)
    assert not other.errors, other.errors


def test_time_series_frame_selector(page, celery_worker, lab_owner, champion_model, tmp_path):
    """A three-frame stack: the job gives one result per frame; the frame selector shows each
    frame's overlay over that frame's own preview, and the per-frame fractions."""
    import numpy as np
    import tifffile
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.models import Dataset
    from catalog.services import image_ingest, image_upload
    from labeling.services import (
        class_create,
        grid_create,
        schema_get_or_create_default,
        votes_cast_many,
    )
    from tests.e2e.conftest import simulated_tiff

    s = simulated_tiff(tmp_path / "one.tif", size=256)
    frame = tifffile.imread(tmp_path / "one.tif")
    stack = np.stack([frame, frame, np.flipud(frame)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "TYX"})
    lab = lab_owner.memberships.get().lab
    dataset = Dataset.objects.create(lab=lab, title="Series", created_by=lab_owner)
    with held_jobs("workers.tasks.ingest.ingest_image"):  # ingested below
        image = image_upload(
            user=lab_owner,
            dataset=dataset,
            upload=SimpleUploadedFile("stack.tif", (tmp_path / "stack.tif").read_bytes()),
        )
    image = image_ingest(image_id=image.pk)
    assert image.status == "ready", image.error
    assert image.frames == 3
    schema, _ = schema_get_or_create_default(user=lab_owner, dataset=dataset)
    classes = [
        class_create(user=lab_owner, schema=schema, name=name, colour=colour)
        for name, colour in [("STO", "#0072b2"), ("Ge", "#e69f00"), ("vacuum", "#009e73")]
    ]
    grid, _ = grid_create(user=lab_owner, image=image, chip_size=CHIP)
    chips = pure_chips(s, chip=CHIP, per_class=2)
    votes_cast_many(
        user=lab_owner,
        grid=grid,
        schema=schema,
        votes=[
            {"row": r, "col": c, "class": classes[k].pk} for k, rc in chips.items() for r, c in rc
        ],
    )

    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{image.pk}/segment")
    expect(page.get_by_test_id("segment")).to_be_enabled()
    expect(page.get_by_test_id("frame-selector")).to_be_hidden()
    canvas = segment_and_wait(page)
    expect(page.get_by_test_id("frame-selector")).to_be_visible()
    expect(page.get_by_test_id("frame-row")).to_have_count(3)
    expect(canvas).to_have_attribute("data-frame", "0")
    # one CSV holds every frame's table
    with page.expect_download() as info:
        page.get_by_test_id("export-series.csv").click()
    # the image's name, the job's time and the result's short id (unique per result)
    name = info.value.suggested_filename
    assert re.fullmatch(r"stack\.\d{8}-\d{6}-[0-9a-f]{8}\.series\.csv", name), name
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    assert sorted({int(r["frame"]) for r in rows}) == [0, 1, 2], rows
    assert len(rows) == 9, rows
    # the frame bar sits beside the image, not on it
    page.get_by_test_id("zoom-fit").click()
    assert not overlaps(
        page.get_by_test_id("frame-selector").bounding_box(), image_box(page, 256, 256)
    )
    expect(canvas).to_have_attribute("data-src", f"/api/images/{image.pk}/preview")
    first = canvas.get_attribute("data-result")
    page.get_by_test_id("frame-slider").fill("2")
    expect(canvas).to_have_attribute("data-frame", "2")
    expect(canvas).not_to_have_attribute("data-result", first)
    expect(page.get_by_test_id("frame-preview-note")).to_have_text(
        "Overlay and background: frame 2."
    )
    # the background is frame 2's own preview (frame 0 when the overlay is frame 0)
    expect(canvas).to_have_attribute("data-src", f"/api/images/{image.pk}/preview?frame=2")
    expect(page.get_by_test_id("frame-row").nth(2)).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("frame-number")).to_have_value("2")
    page.shot("frame-2")
    page.get_by_test_id("frame-number").fill("1")
    page.get_by_test_id("frame-number").press("Enter")
    page.get_by_test_id("frame-number").blur()
    expect(canvas).to_have_attribute("data-frame", "1")
    expect(page.get_by_test_id("result-meta")).to_contain_text("frame 1")
    expect(page.get_by_test_id("toasts")).not_to_contain_text("Loading")
    # the Segment tab reopens the newest job at its first frame, not its last
    page.get_by_test_id("step-history").click()
    expect(page.get_by_test_id("history-result")).to_have_count(3)
    page.get_by_test_id("step-segment").click()
    expect(canvas).to_have_attribute("data-result", first)
    expect(canvas).to_have_attribute("data-frame", "0")
    expect(page.get_by_test_id("frame-slider")).to_have_value("0")
    assert not page.errors, page.errors
