"""E2E: following segmentation jobs across reloads and from History."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reload_during_a_job_follows_it(
    page, celery_worker, lab_owner, champion_model, labelled_dataset, monkeypatch
):
    """A reload while the job waits keeps following it (progress and Cancel), and its result
    is shown when it is done. No worker takes the job until the test hands it over."""
    from analysis import services
    from analysis.models import SegmentationJob

    enqueue = services._enqueue
    monkeypatch.setattr(services, "_enqueue", lambda job_id: None)
    d = labelled_dataset
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    segment = page.get_by_test_id("segment")
    expect(segment).to_be_enabled()
    segment.click()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")

    page.reload()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    expect(page.get_by_test_id("cancel-job")).to_be_visible()
    expect(segment).to_be_disabled()
    expect(page.get_by_test_id("viewer-canvas")).not_to_have_attribute("data-overlay", "drawn")
    page.shot("reattached")

    enqueue(SegmentationJob.objects.get().pk)
    canvas = page.get_by_test_id("viewer-canvas")
    expect(canvas).to_have_attribute("data-overlay", "drawn", timeout=180_000)
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded")
    expect(page.get_by_test_id("cancel-job")).to_be_hidden()
    expect(segment).to_be_enabled()
    expect(page.get_by_test_id("chart-bar")).to_have_count(3)
    assert canvas.get_attribute("data-result") == str(
        SegmentationJob.objects.get().results.get().pk
    )
    assert not page.errors, page.errors


def test_rerun_from_history_shows_the_new_job(
    page, celery_worker, lab_owner, champion_model, labelled_dataset, monkeypatch
):
    """Re-run in History lists the new job at once, with its progress, and its result when
    it is done (jobs reach the worker only when the test hands them over)."""
    from analysis import services
    from analysis.models import SegmentationJob

    enqueue = services._enqueue
    monkeypatch.setattr(services, "_enqueue", lambda job_id: None)
    d = labelled_dataset
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    expect(page.get_by_test_id("segment")).to_be_enabled()
    page.get_by_test_id("segment").click()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    enqueue(SegmentationJob.objects.get().pk)
    expect(page.get_by_test_id("viewer-canvas")).to_have_attribute(
        "data-overlay", "drawn", timeout=180_000
    )

    page.get_by_test_id("step-history").click()
    jobs = page.get_by_test_id("history-job")
    expect(jobs).to_have_count(1)
    expect(page.get_by_test_id("history-result")).to_have_count(1)
    page.get_by_test_id("history-rerun").click()
    expect(jobs).to_have_count(2)
    expect(jobs.first).to_have_attribute("data-status", "queued")
    expect(jobs.first.get_by_test_id("history-job-progress")).to_contain_text(
        "waiting for a worker"
    )
    page.shot("rerun-queued")
    rerun = SegmentationJob.objects.exclude(rerun_of=None).get()
    enqueue(rerun.pk)
    expect(page.get_by_test_id("history-result")).to_have_count(2, timeout=180_000)
    expect(jobs.first).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("history-job-progress")).to_have_count(0)
    page.shot("rerun-done")
    assert not page.errors, page.errors
