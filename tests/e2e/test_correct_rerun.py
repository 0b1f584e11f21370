"""E2E: correct a result (a click on a chip of the map gives it its right class, as an example)
and re-run from it; accept "label these next" suggestions with one key; the side panel and
the particle table fit the panel's width."""

import re

import pytest
from playwright.sync_api import expect

from labeling.models import Vote
from labeling.services import votes_cast_many
from tests.common.held_jobs import held_jobs
from tests.conftest import wait_for
from tests.e2e.conftest import (
    Shots,
    click_chip,
    make_dataset,
    mark_objects,
    segment_and_wait,
    sign_in,
    vote,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHIP = 32

# How far the panel, and the particle table inside it, would scroll sideways, and what reaches
# past the panel's content box (into its padding: looks cut off even when nothing scrolls).
SIDEWAYS = """(panel) => {
  const table = panel.querySelector('[data-testid=particle-table]');
  const box = panel.getBoundingClientRect();
  const right = box.left + panel.clientLeft + panel.clientWidth
    - parseFloat(getComputedStyle(panel).paddingRight);
  const wide = [...panel.querySelectorAll('*')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && r.right > right + 0.5;
  }).map((el) => `${el.tagName}.${el.className}[${el.dataset.testid || ''}]`);
  return {
    panel: panel.scrollWidth - panel.clientWidth,
    table: table ? table.scrollWidth - table.clientWidth : null,
    wide: wide.slice(0, 8),
  };
}"""


def _wrong_chip(result, d, examples):
    """A chip mostly (>= 80 %) of one simulated class, not an example, that the result labels
    wrongly (else the purest such chip): (row, col, true class index, whether it was wrong)."""
    import numpy as np

    from analysis import artefacts
    from workers.fewshot.chipping import ChipGrid, chip_truth

    labels = artefacts.npz_load(result.arrays_key)["labels"]
    truth, purity = chip_truth(
        d["sim"].truth, ChipGrid.for_shape(d["sim"].truth.shape, CHIP), return_purity=True
    )
    index_of = {c["id"]: c["index"] for c in result.classes}
    true_index = np.vectorize(lambda k: index_of[str(d["classes"][k].pk)])(truth)
    taken = {rc for rcs in examples.values() for rc in rcs}
    candidates = sorted(
        (
            (-float(purity[r, c]), int(r), int(c))
            for r, c in np.argwhere(purity >= 0.8)
            if (int(r), int(c)) not in taken
        ),
    )
    assert candidates
    for _, r, c in candidates:
        if labels[r, c] != true_index[r, c]:
            return r, c, int(truth[r, c]), True
    _, r, c = candidates[0]
    return r, c, int(truth[r, c]), False


def _free_pure_chip(d, taken, *, other_than: int):
    """A chip wholly of one simulated class other than ``other_than`` (the one with most such
    chips), not in ``taken``: ((row, col), class index)."""
    import numpy as np

    from workers.fewshot.chipping import ChipGrid, chip_truth

    truth, purity = chip_truth(
        d["sim"].truth, ChipGrid.for_shape(d["sim"].truth.shape, CHIP), return_purity=True
    )
    free = {
        j: [(int(r), int(c)) for r, c in np.argwhere((truth == j) & (purity >= 1.0))]
        for j in range(len(d["classes"]))
        if j != other_than
    }
    free = {j: [rc for rc in chips if rc not in taken] for j, chips in free.items()}
    j = max(free, key=lambda j: len(free[j]))
    return free[j][0], j


def test_correct_a_chip_and_rerun_from_the_result(
    new_page, artifacts, celery_worker, lab_owner, champion_model, tmp_path
):
    from analysis.models import SegmentationJob, SegmentationResult

    # a narrower window: the panel and its particle table must still fit without scrolling
    page = new_page(width=1280, height=820)
    page.shot = Shots(page, artifacts)
    d = make_dataset(lab_owner, tmp_path, case="particles_round_faceted", title="Particles")
    examples = vote(lab_owner, d, per_class=2)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    mark_objects(page, 1, 2)  # particles: the result has a particle table
    page.get_by_test_id("step-segment").click()
    canvas = segment_and_wait(page)
    first = SegmentationResult.objects.get()
    expect(canvas).to_have_attribute("data-result", str(first.pk))
    page.shot("segmented")

    # 9: nothing in the side panel scrolls sideways, the particle table included
    expect(page.get_by_test_id("particle-table")).to_be_visible()
    page.get_by_test_id("stats-table").scroll_into_view_if_needed()
    page.shot("stats-table-fits")
    page.get_by_test_id("particle-table").scroll_into_view_if_needed()
    page.shot("particle-table-fits")
    measured = page.get_by_test_id("side-panel").evaluate(SIDEWAYS)
    assert measured == {"panel": 0, "table": 0, "wide": []}, measured

    # 4: correct one chip: C opens Correct mode, a number key picks the right class, a click
    # on the map makes the chip an example of it
    row, col, k, was_wrong = _wrong_chip(first, d, examples)
    page.get_by_test_id("correct-box").scroll_into_view_if_needed()
    canvas.focus()
    page.keyboard.press("c")
    expect(page.get_by_test_id("correct-toggle")).to_have_attribute("aria-pressed", "true")
    rerun = page.get_by_test_id("correct-rerun")
    expect(rerun).to_be_disabled()  # nothing corrected yet
    page.keyboard.press(str(k + 1))
    expect(page.get_by_test_id("correct-class").nth(k)).to_have_attribute("aria-checked", "true")
    click_chip(page, row, col, chip=CHIP)
    corrections = page.get_by_test_id("correction")
    expect(corrections).to_have_count(1)
    expect(corrections.first).to_contain_text(f"chip ({row}, {col})")
    expect(corrections.first).to_contain_text(d["classes"][k].name)
    expect(rerun).to_be_enabled()
    assert "null" not in page.get_by_test_id("correct-box").inner_text()
    # the correction is an example: the support-set summary counts it
    expect(page.get_by_test_id("support-summary")).to_contain_text(f"{d['classes'][k].name} 3")
    page.shot("corrected")
    wait_for(
        lambda: Vote.objects.filter(
            grid=d["grid"], user=lab_owner, row=row, col=col, label_class=d["classes"][k]
        ).exists(),
        timeout=15,
        what="the correction's vote",
    )

    # an example given elsewhere meanwhile (another tab, a pipeline through the API): the
    # summary counts it once the re-run froze it
    taken = {rc for rcs in examples.values() for rc in rcs} | {(row, col)}
    elsewhere, j = _free_pure_chip(d, taken, other_than=k)
    votes_cast_many(
        user=lab_owner,
        grid=d["grid"],
        schema=d["schema"],
        votes=[{"row": elsewhere[0], "col": elsewhere[1], "class": d["classes"][j].pk}],
    )
    summary = page.get_by_test_id("support-summary")
    expect(summary).to_contain_text(f"{d['classes'][j].name} 2")  # not known here yet

    # one key re-runs: a new support set with the corrected chip, a new result shown
    page.keyboard.press("r")
    expect(canvas).not_to_have_attribute("data-result", str(first.pk), timeout=180_000)
    expect(canvas).to_have_attribute("data-overlay", "drawn", timeout=180_000)
    took = page.get_by_test_id("rerun-took")
    expect(took).to_have_attribute("data-correct-ms", re.compile(r"^\d+$"))
    timings = {
        "correctToOverlayMs": int(took.get_attribute("data-correct-ms")),
        "rerunToOverlayMs": int(took.get_attribute("data-rerun-ms")),
    }
    second = SegmentationResult.objects.exclude(pk=first.pk).get()
    expect(canvas).to_have_attribute("data-result", str(second.pk))
    job = SegmentationJob.objects.get(pk=second.job_id)
    chips = {(c["row"], c["col"]): c["class"] for c in job.support_set.chips}
    assert chips[(row, col)] == str(d["classes"][k].pk)
    assert chips[elsewhere] == str(d["classes"][j].pk)
    assert len(chips) == len(SegmentationJob.objects.get(pk=first.job_id).support_set.chips) + 2
    expect(summary).to_contain_text(f"{d['classes'][j].name} 3")
    from analysis import artefacts

    labels = artefacts.npz_load(second.arrays_key)["labels"]
    index_of = {c["id"]: c["index"] for c in second.classes}
    assert labels[row, col] == index_of[str(d["classes"][k].pk)]
    expect(page.get_by_test_id("correction")).to_have_count(0)  # the new result starts clean
    expect(page.get_by_test_id("correct-toggle")).to_have_attribute("aria-pressed", "true")
    queued = (job.started - job.created).total_seconds() if job.started else float("nan")
    print(
        f"\nCorrect -> re-run -> overlay (512x512, {CHIP} px chips, chip was "
        f"{'wrong' if was_wrong else 'already right'}): correction click -> new overlay "
        f"{timings['correctToOverlayMs'] / 1000:.2f} s, R key -> new overlay "
        f"{timings['rerunToOverlayMs'] / 1000:.2f} s (performance.now, in the page); "
        f"job waited {queued:.2f} s for a worker; worker timings {job.timings}"
    )
    # where the time went: the requests made after the R key, by when each ended (print only)
    requests = page.evaluate(
        """() => {
      const t0 = performance.getEntriesByName('chiplab:rerun-click')[0].startTime;
      return performance.getEntriesByType('resource').filter((e) => e.startTime >= t0)
        .map((e) => [new URL(e.name).pathname.split('/').slice(-2).join('/'),
                     Math.round(e.startTime - t0), Math.round(e.responseEnd - t0)]);
    }"""
    )
    print("requests after R (path, start ms, end ms):", requests)
    page.shot("rerun")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("correct-toggle")).to_have_attribute("aria-pressed", "false")
    measured = page.get_by_test_id("side-panel").evaluate(SIDEWAYS)
    assert measured == {"panel": 0, "table": 0, "wide": []}, measured
    assert not page.errors, page.errors


def test_accept_label_next_suggestions_with_one_key(
    page, lab_owner, labelled_dataset, champion_model
):
    from analysis.services import segmentation_job_create
    from labeling.services import support_set_freeze
    from tests.support.segmentation import segmentation_run

    d = labelled_dataset
    vote(lab_owner, d, per_class=2)
    version = support_set_freeze(user=lab_owner, schema=d["schema"], rule="single_owner")
    with held_jobs("workers.tasks.segment.segment_job"):
        job = segmentation_job_create(
            user=lab_owner, images=[d["image"].pk], support_set=version.pk
        )
    segmentation_run(job_id=job.pk)

    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/support")
    expect(page.get_by_test_id("class-item")).to_have_count(3, timeout=30_000)
    page.get_by_test_id("suggest-next").click()
    chips = page.get_by_test_id("next-chip")
    expect(chips).to_have_count(8)
    picked = [
        (int(c.get_attribute("data-row")), int(c.get_attribute("data-col"))) for c in chips.all()
    ]
    page.get_by_test_id("viewer-canvas").focus()
    page.keyboard.press("n")  # the first suggestion in focus
    expect(chips.first).to_have_class("btn btn-small btn-selected")
    page.shot("suggestion-in-focus")

    # its class's number labels it as that class and brings up the next one
    page.keyboard.press("3")
    expect(chips).to_have_count(7)
    expect(chips.first).to_have_class("btn btn-small btn-selected")
    assert chips.first.get_attribute("data-row") == str(picked[1][0])
    expect(page.get_by_test_id("class-item").nth(2)).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("class-count").nth(2)).to_have_text("3 chips")
    # Enter labels the next one with the active class (the third, chosen by the key)
    page.keyboard.press("Enter")
    expect(chips).to_have_count(6)
    expect(page.get_by_test_id("class-count").nth(2)).to_have_text("4 chips")
    page.keyboard.press("1")
    expect(chips).to_have_count(5)
    expect(page.get_by_test_id("class-count").first).to_have_text("3 chips")
    page.shot("accepted-three")
    expected = {picked[0]: 2, picked[1]: 2, picked[2]: 0}
    for (row, col), k in expected.items():
        wait_for(
            lambda row=row, col=col, k=k: Vote.objects.filter(
                grid=d["grid"], user=lab_owner, row=row, col=col, label_class=d["classes"][k]
            ).exists(),
            timeout=15,
            what=f"the vote of suggestion ({row}, {col})",
        )
    assert not page.errors, page.errors
