"""E2E: following segmentation jobs across reloads and from History."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import click_chip, second_image, segment_and_wait, sign_in, vote

SEGMENT = "workers.tasks.segment.segment_job"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reload_during_a_job_follows_it(
    page, celery_worker, lab_owner, champion_model, labelled_dataset, hold_jobs
):
    """A reload while the job waits keeps following it (progress and Cancel), and its result
    is shown when it is done. No worker takes the job until the test hands it over."""
    from analysis.models import SegmentationJob

    held = hold_jobs(SEGMENT)
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

    assert held.release() == 1
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
    page, celery_worker, lab_owner, champion_model, labelled_dataset, hold_jobs
):
    """Re-run in History lists the new job at once, with its progress, and its result when
    it is done (jobs reach the worker only when the test hands them over)."""
    from analysis.models import SegmentationJob

    held = hold_jobs(SEGMENT)
    d = labelled_dataset
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    expect(page.get_by_test_id("segment")).to_be_enabled()
    page.get_by_test_id("segment").click()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    assert held.release() == 1
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
    assert held.args(SEGMENT) == [(str(rerun.pk),)]
    assert held.release() == 1
    expect(page.get_by_test_id("history-result")).to_have_count(2, timeout=180_000)
    expect(jobs.first).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("history-job-progress")).to_have_count(0)
    page.shot("rerun-done")
    assert not page.errors, page.errors


def test_controls_follow_the_jobs_permissions(
    page, lab_owner, champion_model, labelled_dataset, hold_jobs
):
    """An annotator follows the owner's job still queued on the grid, but may not cancel or
    re-run it (the owner's chips); their own job they may cancel, then re-run. Jobs on
    another grid of the image are not followed. No worker runs anything here."""
    from accounts.models import Role
    from analysis import services
    from analysis.models import SegmentationJob
    from labeling.services import grid_create
    from tests.factories import MembershipFactory

    hold_jobs(SEGMENT)
    d = labelled_dataset
    mate = MembershipFactory(lab=d["lab"], role=Role.ANNOTATOR).user
    vote(lab_owner, d)
    vote(mate, d)
    image = str(d["image"].pk)
    schema = d["schema"].pk
    # a job on another grid of the same image, made first: it is not this grid's
    other_grid, _ = grid_create(user=lab_owner, image=d["image"], chip_size=32, offset_x=8)
    theirs = services.segmentation_job_create(user=lab_owner, images=[image], schema=schema)
    assert [str(g) for g in theirs.job_images.values_list("grid_id", flat=True)] == [
        str(d["grid"].pk)
    ]
    elsewhere = services.segmentation_job_create(user=lab_owner, images=[image], schema=schema)
    elsewhere.job_images.update(grid=other_grid)

    sign_in(page, mate.username)
    # the workspace opens the newest grid unless told otherwise: open the first one
    page.evaluate(f"localStorage.setItem('chiplab.grid.{image}', '{d['grid'].pk}')")
    page.goto(f"/#/images/{image}/segment")
    progress = page.get_by_test_id("job-progress")
    expect(progress).to_have_attribute("data-job", str(theirs.pk))
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    expect(progress).to_contain_text(f"by {lab_owner.username}")
    expect(page.get_by_test_id("cancel-job")).to_be_hidden()
    page.shot("following-theirs")

    mine = services.segmentation_job_create(user=mate, images=[image], schema=schema)
    page.get_by_test_id("step-history").click()
    jobs = page.get_by_test_id("history-job")
    expect(jobs).to_have_count(3)
    row = {
        j: page.locator(f'[data-testid="history-job"][data-id="{j.pk}"]') for j in (theirs, mine)
    }
    expect(row[theirs].get_by_test_id("history-cancel")).to_have_count(0)
    expect(row[mine].get_by_test_id("history-cancel")).to_be_visible()
    row[mine].get_by_test_id("history-cancel").click()
    expect(row[mine]).to_have_attribute("data-status", "cancelled")
    expect(row[mine].get_by_test_id("history-rerun")).to_be_visible()
    SegmentationJob.objects.filter(pk=theirs.pk).update(status="cancelled")
    page.reload()
    expect(jobs).to_have_count(3)
    expect(row[theirs]).to_have_attribute("data-status", "cancelled")
    expect(row[theirs].get_by_test_id("history-rerun")).to_have_count(0)
    expect(row[mine].get_by_test_id("history-rerun")).to_be_visible()
    page.shot("history")
    assert SegmentationJob.objects.get(pk=mine.pk).status == "cancelled"
    assert not page.errors, page.errors


def _examples_and_a_second_image(owner, d, tmp_path):
    """``owner``'s examples on ``d``'s image, frozen, and a second image with a 32 px grid:
    (the second image, the support set version)."""
    from labeling.services import grid_create, support_set_freeze

    vote(owner, d)
    other = second_image(owner, d, tmp_path)
    grid_create(user=owner, image=other, chip_size=32)
    return other, support_set_freeze(user=owner, schema=d["schema"], rule="single_owner")


def test_a_job_over_several_images_shows_this_images_result(
    page, celery_worker, lab_owner, champion_model, labelled_dataset, hold_jobs, tmp_path
):
    """Followed from one of its images, a job over two images shows that image's result,
    never the other's, although the other is segmented (and listed by the running job)
    first: the page shows a result early only when it is this image's."""
    from analysis.models import SegmentationJob
    from analysis.services import segmentation_job_create

    d = labelled_dataset
    first, version = _examples_and_a_second_image(lab_owner, d, tmp_path)
    held = hold_jobs(SEGMENT)
    job = segmentation_job_create(
        user=lab_owner, images=[str(first.pk), str(d["image"].pk)], support_set=str(version.pk)
    )
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    canvas = page.get_by_test_id("viewer-canvas")
    # every result the canvas shows, from now on
    canvas.evaluate(
        """c => { window.shownResults = [];
        new MutationObserver(() => window.shownResults.push(c.dataset.result))
          .observe(c, { attributes: true, attributeFilter: ["data-result"] }); }"""
    )
    assert held.release() == 1
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=180_000)
    expect(canvas).to_have_attribute("data-overlay", "drawn")
    job = SegmentationJob.objects.get(pk=job.pk)
    mine = job.results.get(image=d["image"]).pk
    other_result = job.results.get(image=first).pk
    assert canvas.get_attribute("data-result") == str(mine)
    assert str(other_result) not in page.evaluate("window.shownResults")
    assert not page.errors, page.errors


def test_a_result_shown_while_its_job_runs_is_completed_in_place(
    page, celery_worker, lab_owner, champion_model, labelled_dataset
):
    """The map is shown as soon as the running job lists its result; when the job ends, the
    panel is completed in place (its state, the download links, the chip-size check), not
    rebuilt under the user. The job and its result are reported as running to the page until
    the test lets it see the end, so the early path is taken whatever the worker's speed."""
    import re

    d = labelled_dataset
    vote(lab_owner, d)
    running = {"hold": True}

    def report_running(field):
        def handle(route):
            response = route.fetch()
            body = response.json()
            if running["hold"] and body.get(field) == "succeeded":
                body[field] = "running"
                body.get("stats", {}).pop("chip_size_sensitivity", None)
            route.fulfill(response=response, json=body)

        return handle

    page.route(
        re.compile(r"/api/segmentation-jobs/[0-9a-f-]{36}/(\?.*)?$"), report_running("status")
    )
    page.route(
        re.compile(r"/api/segmentation-results/[0-9a-f-]{36}/$"), report_running("job_status")
    )
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    segment_and_wait(page)
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    kept = [page.get_by_test_id(t).element_handle() for t in ("exports", "layers", "result-meta")]
    running["hold"] = False
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
    assert all(e.evaluate("e => e.isConnected") for e in kept)
    expect(page.get_by_test_id("export-result.json")).to_be_visible()
    expect(page.get_by_test_id("job-timings")).to_be_visible()
    # the chip-size check starts when the job has succeeded: shown without a reload
    expect(page.get_by_test_id("chip-size-sensitivity")).to_contain_text(
        re.compile(r"At \d+ px and \d+ px chips|Chip size matters here"), timeout=120_000
    )
    assert not page.errors, page.errors


def test_segment_again_is_free_once_the_map_is_shown(
    page, celery_worker, lab_owner, champion_model, labelled_dataset
):
    """The page draws a result as soon as its job lists it, while the worker still writes the
    downloads: Segment again is free then, a correction re-runs at once and says how long the
    new map took (not the downloads after it), and the second job takes the page over; the
    first job's end does not undo it. The test holds ``common.priority.interactive``, as
    another job's map would: the worker's downloads wait meanwhile."""
    from analysis.models import JobStatus, SegmentationJob
    from common.priority import interactive
    from labeling.models import Vote
    from tests.support.waits import wait_for

    d = labelled_dataset
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    segment = page.get_by_test_id("segment")
    canvas = page.get_by_test_id("viewer-canvas")
    with interactive():
        canvas = segment_and_wait(page)
        first = canvas.get_attribute("data-result")
        expect(page.get_by_test_id("job-status")).to_have_text("running")
        expect(page.get_by_test_id("job-progress")).to_contain_text("Writing the downloads")
        expect(segment).to_be_enabled()
        expect(segment).to_have_text("Segment again")
        expect(page.get_by_test_id("cancel-job")).to_be_hidden()
        page.shot("map-shown-downloads-written")
        canvas.focus()
        page.keyboard.press("c")  # Correct mode: chip (0, 0) becomes an example of class 1
        page.keyboard.press("1")
        click_chip(page, 0, 0, chip=32)
        expect(page.get_by_test_id("correction")).to_have_count(1)
        expect(page.get_by_test_id("correct-rerun")).to_be_enabled()
        wait_for(
            lambda: Vote.objects.filter(grid=d["grid"], user=lab_owner, row=0, col=0).exists(),
            timeout=15,
            what="the correction's vote",
        )
        page.keyboard.press("r")
        expect(canvas).not_to_have_attribute("data-result", first, timeout=180_000)
        second = canvas.get_attribute("data-result")
        # the new map's time is taken when it is shown, while its job still writes the
        # downloads (each export waits up to 10 s for the test's hold)
        took = page.get_by_test_id("rerun-took")
        expect(took).to_have_attribute("data-rerun-ms", re.compile(r"^\d+$"), timeout=10_000)
        assert SegmentationJob.objects.get(results__pk=second).status == JobStatus.RUNNING
    wait_for(
        lambda: SegmentationJob.objects.filter(status=JobStatus.SUCCEEDED).count() == 2,
        timeout=180,
        what="both jobs",
    )
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
    expect(page.get_by_test_id("job-progress")).to_contain_text("Done")
    expect(canvas).to_have_attribute("data-result", second)
    assert page.get_by_test_id("job-progress").get_attribute("data-job") == str(
        SegmentationJob.objects.get(results__pk=second).pk
    )
    expect(page.get_by_test_id("export-overlay.png")).to_be_visible()  # the refreshed links
    assert not page.errors, page.errors


def test_a_job_that_gave_way_to_a_newer_one_says_so_and_finishes_after_it(
    page, celery_worker, lab_owner, champion_model, labelled_dataset, hold_jobs, tmp_path
):
    """A job over two images, with a newer job of its user queued on one of them: after its
    first map it goes back to the queue (its stage says why, in History and in the Segment
    step), and both finish on the worker, the newer taken first."""
    from analysis.runner.give_way import WAITING
    from analysis.services import segmentation_job_create
    from tests.support.segmentation import segmentation_run

    d = labelled_dataset
    other, version = _examples_and_a_second_image(lab_owner, d, tmp_path)
    held = hold_jobs(SEGMENT)

    def job(*images):
        return segmentation_job_create(
            user=lab_owner, images=[str(i.pk) for i in images], support_set=str(version.pk)
        )

    older, newer = job(d["image"], other), job(d["image"])
    segmentation_run(job_id=older.pk)  # its first image's map, then it gives way
    older.refresh_from_db()
    assert (older.status, older.stage, older.results.count()) == ("queued", WAITING, 1)
    assert held.args(SEGMENT) == [(str(older.pk),), (str(newer.pk),), (str(older.pk),)]

    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{other.pk}/history")
    jobs = page.get_by_test_id("history-job")
    expect(jobs).to_have_count(1)  # the older job: the newer is on the first image only
    row = jobs.first
    expect(row).to_have_attribute("data-status", "queued")
    expect(row.get_by_test_id("history-job-progress")).to_contain_text(f"{WAITING} · 256 / 400")
    page.shot("gave-way-history")
    page.goto(f"/#/images/{other.pk}/segment")
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    expect(page.get_by_test_id("job-progress")).to_contain_text(WAITING)
    page.shot("gave-way-segment")

    held.held = held.held[1:]  # the older job's first message: run here above
    assert held.release() == 2
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=180_000)
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.results.count() == 2 and newer.results.count() == 1
    # newest first: the newer job is taken before the older job's remaining map is saved. The
    # worker runs two jobs at once, so their maps may be saved in either order (the CI run of
    # session 21 saved the older's 0.44 s first); the broker's order is tested in test_give_way
    assert newer.started < older.results.latest("created").created
    assert not page.errors, page.errors
