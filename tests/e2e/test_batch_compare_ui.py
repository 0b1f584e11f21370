"""E2E: segment a whole dataset from the UI, read its results table (sort, filter, CSV, the
aggregate chart), follow all my jobs on one page, and compare two results of an image."""

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import second_image, sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_segment_a_dataset_then_its_table_csv_and_jobs(
    page, lab_owner, champion_model, labelled_dataset, tmp_path, hold_jobs, celery_worker
):
    """The job the button makes is held while the page shows it queued, then sent to the
    real worker."""
    from analysis.models import SegmentationJob, SegmentationResult

    held = hold_jobs("workers.tasks.segment.segment_job")
    d = labelled_dataset
    second = second_image(lab_owner, d, tmp_path)
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/datasets/{d['dataset'].pk}")
    page.get_by_test_id("dataset-results-link").click()
    expect(page.get_by_test_id("results-heading")).to_have_text("Results of Crowd set")
    expect(page.get_by_test_id("chart-empty")).to_be_visible()
    expect(page.get_by_test_id("results-row")).to_have_count(2)
    page.shot("before")

    page.get_by_test_id("segment-dataset").click()
    job = page.get_by_test_id("batch-job")
    expect(job).to_have_attribute("data-status", "queued")
    batch = SegmentationJob.objects.get()
    assert held.args("workers.tasks.segment.segment_job") == [(str(batch.pk),)]
    assert [str(i) for i in batch.job_images.values_list("image_id", flat=True)] == [
        str(d["image"].pk),
        str(second.pk),
    ]
    page.shot("queued")
    # leaving and coming back: the page finds the batch still to run and follows it
    page.reload()
    expect(job).to_have_attribute("data-job", str(batch.pk))
    expect(job).to_have_attribute("data-status", "queued")
    expect(page.get_by_role("button", name="Segment this dataset")).to_be_disabled()
    assert held.release() == 1
    expect(job).to_have_attribute("data-status", "succeeded", timeout=120_000)
    expect(page.get_by_role("button", name="Segment this dataset")).to_be_enabled()
    rows = page.get_by_test_id("results-row")
    expect(rows.filter(has=page.get_by_test_id("cell-fraction"))).to_have_count(2)
    results = {str(r.image_id): r for r in SegmentationResult.objects.all()}
    assert set(results) == {str(d["image"].pk), str(second.pk)}
    for image_id, result in results.items():
        row = page.locator(f'[data-testid="results-row"][data-image="{image_id}"]')
        expect(row).to_have_attribute("data-result", str(result.pk))
        cells = row.get_by_test_id("cell-fraction")
        values = [float(v) for v in cells.evaluate_all("cs => cs.map(c => c.dataset.value)")]
        assert values == pytest.approx(result.fractions)
        expect(cells.first).to_contain_text("–")  # the 95 % interval in brackets
    box = page.get_by_test_id("results-table-box")
    expect(box).to_contain_text("In brackets: 95 % interval")
    expect(box).not_to_contain_text("null")
    bars = page.get_by_test_id("aggregate-bar")
    expect(bars).to_have_count(3)
    means = [float(m) for m in bars.evaluate_all("bs => bs.map(b => b.dataset.mean)")]
    expected = [sum(r.fractions[i] for r in results.values()) / 2 for i in range(3)]
    assert means == pytest.approx(expected, abs=1e-9)
    page.shot("table")

    # sort by the Ge fraction, descending (the second click)
    ge = page.locator('[data-testid="sort"][data-key="fraction:Ge"]')
    ge.click()
    ge = page.locator('[data-testid="sort"][data-key="fraction:Ge"]')
    expect(ge).to_contain_text("▲")
    ge.click()
    expect(page.locator('[data-testid="sort"][data-key="fraction:Ge"]')).to_contain_text("▼")
    order = sorted(results.values(), key=lambda r: r.fractions[1], reverse=True)
    expect(rows.first).to_have_attribute("data-result", str(order[0].pk))
    expect(rows.last).to_have_attribute("data-result", str(order[1].pk))
    page.shot("sorted")

    # filter by file name, then download the CSV of what is shown
    page.get_by_test_id("results-filter").fill("second")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-image", str(second.pk))
    expect(bars).to_have_count(3)
    with page.expect_download() as download:
        page.get_by_test_id("results-csv").click()
    assert download.value.suggested_filename.endswith("-results.csv")
    lines = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [line["class"] for line in lines] == ["STO", "Ge", "vacuum"]
    assert {line["filename"] for line in lines} == {"second-area.tif"}
    fractions = [float(line["fraction"]) for line in lines]
    assert fractions == pytest.approx(results[str(second.pk)].fractions)
    page.shot("filtered")

    # all my jobs on one page
    page.get_by_test_id("nav-jobs").click()
    jobs = page.get_by_test_id("jobs-row")
    expect(jobs).to_have_count(1)
    expect(jobs.first).to_have_attribute("data-status", "succeeded")
    expect(jobs.first.get_by_test_id("jobs-image")).to_have_count(2)
    expect(jobs.first.get_by_test_id("jobs-dataset")).to_have_text("Crowd set")
    expect(jobs.first.get_by_test_id("jobs-duration")).to_contain_text(" s")
    page.shot("jobs")
    jobs.first.get_by_test_id("jobs-open").click()
    expect(page.get_by_test_id("results-heading")).to_be_visible()
    assert not page.errors, page.errors


def test_compare_two_results_of_an_image(page, lab_owner, champion_model, labelled_dataset):
    """First STO and Ge examples only, then vacuum examples too: the comparison shows where the
    chips changed, the fraction deltas (vacuum is not a class of the first) and the same
    counts as the API."""
    from analysis import services
    from tests.common.held_jobs import held_jobs
    from tests.support.segmentation import segmentation_run

    d = labelled_dataset
    image = str(d["image"].pk)
    jobs = []
    with held_jobs("workers.tasks.segment.segment_job"):
        vote(lab_owner, d, classes=[0, 1])
        jobs.append(
            services.segmentation_job_create(user=lab_owner, images=[image], schema=d["schema"].pk)
        )
    segmentation_run(job_id=jobs[0].pk)
    with held_jobs("workers.tasks.segment.segment_job"):
        vote(lab_owner, d, classes=[2])
        jobs.append(
            services.segmentation_job_create(user=lab_owner, images=[image], schema=d["schema"].pk)
        )
    segmentation_run(job_id=jobs[1].pk)
    older, newer = (job.results.get() for job in jobs)
    from analysis.comparisons import results_compare

    expected = results_compare(user=lab_owner, result_a_id=older.pk, result_b_id=newer.pk)
    assert expected["differing"] > 0

    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{image}/history")
    page.get_by_test_id("step-compare").click()
    summary = page.get_by_test_id("compare-summary")
    expect(summary).to_have_attribute("data-differing", str(expected["differing"]))
    expect(summary).to_have_attribute("data-level", "chip")
    expect(summary).to_contain_text(f"of {expected['compared']} chips differ")
    expect(page.get_by_test_id("compare-pick-a")).to_have_value(str(older.pk))
    expect(page.get_by_test_id("compare-pick-b")).to_have_value(str(newer.pk))
    diff = page.get_by_test_id("compare-diff")
    expect(diff).to_have_attribute("data-cells", str(expected["differing"]))
    classes = page.get_by_test_id("compare-class")
    expect(classes).to_have_count(3)
    vacuum = page.locator('[data-testid="compare-class"][data-class="vacuum"]')
    expect(vacuum).to_contain_text("not a class")
    sto = page.locator('[data-testid="compare-class"][data-class="STO"]')
    delta = float(sto.get_by_test_id("compare-delta").get_attribute("data-delta"))
    assert delta == pytest.approx(newer.fractions[0] - older.fractions[0])
    page.shot("compare")

    page.get_by_test_id("compare-swap").click()
    expect(page.get_by_test_id("compare-pick-a")).to_have_value(str(newer.pk))
    expect(page.get_by_test_id("compare-pick-b")).to_have_value(str(older.pk))
    sto = page.locator('[data-testid="compare-class"][data-class="STO"]')
    delta = float(sto.get_by_test_id("compare-delta").get_attribute("data-delta"))
    assert delta == pytest.approx(older.fractions[0] - newer.fractions[0])
    page.shot("swapped")
    assert not page.errors, page.errors


def test_compare_results_on_two_chip_sizes(page, lab_owner, champion_model, labelled_dataset):
    """A 32 px and a 16 px result of one image: compared per pixel where both grids cover it,
    with the API's counts."""
    from analysis import services
    from analysis.comparisons import results_compare
    from labeling.services import grid_create, support_set_freeze
    from tests.common.held_jobs import held_jobs
    from tests.support.segmentation import segmentation_run

    d = labelled_dataset
    image = str(d["image"].pk)
    small, _ = grid_create(user=lab_owner, image=d["image"], chip_size=16)
    vote(lab_owner, d)
    vote(lab_owner, {**d, "grid": small}, chip=16)
    results = []
    for grid in (d["grid"], small):
        version = support_set_freeze(
            user=lab_owner, schema=d["schema"], rule="single_owner", grids=[grid]
        )
        with held_jobs("workers.tasks.segment.segment_job"):
            job = services.segmentation_job_create(
                user=lab_owner, images=[image], support_set=version.pk
            )
        segmentation_run(job_id=job.pk)
        results.append(job.results.get())
    big, fine = results
    expected = results_compare(user=lab_owner, result_a_id=big.pk, result_b_id=fine.pk)
    assert expected["level"] == "pixel" and expected["differing"] > 0

    sign_in(page, lab_owner.username)
    page.goto(f"/#/compare/{image}/{big.pk}/{fine.pk}")
    summary = page.get_by_test_id("compare-summary")
    expect(summary).to_have_attribute("data-level", "pixel")
    expect(summary).to_have_attribute("data-differing", str(expected["differing"]))
    expect(summary).to_contain_text("pixels differ")
    expect(summary).to_contain_text("different grids")
    assert int(page.get_by_test_id("compare-diff").get_attribute("data-cells")) > 0
    expect(page.get_by_test_id("compare-a")).to_be_visible()
    page.shot("two-chip-sizes")
    assert not page.errors, page.errors
