"""E2E: History lists each result with its model (name and version) and a thumbnail of its
chip map, drawn by the server in the result's class colours."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import run_job, sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The thumbnail's size, and the colour of the chip (row, col) in it (a canvas reads it back).
THUMB = """async (img, [row, col, rows, cols]) => {
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const x = Math.floor((col + 0.5) * img.naturalWidth / cols);
  const y = Math.floor((row + 0.5) * img.naturalHeight / rows);
  const p = ctx.getImageData(x, y, 1, 1).data;
  return {w: img.naturalWidth, h: img.naturalHeight, shownW: img.getBoundingClientRect().width,
          rgb: [p[0], p[1], p[2]]};
}"""


def test_history_shows_model_and_thumbnail_per_result(
    page, lab_owner, labelled_dataset, champion_model
):
    from analysis import artefacts, exports
    from analysis.models import SegmentationResult
    from registry.models import ModelVersion, ModelVisibility, Source

    d = labelled_dataset
    vote(lab_owner, d, per_class=2)
    run_job(lab_owner, d)
    # a second model version of the same encoder: the two results name different models
    other = ModelVersion.objects.create(
        name=champion_model.name,
        version=2,
        encoder_kind=champion_model.encoder_kind,
        source=Source.BUILTIN,
        visibility=ModelVisibility.PUBLIC,
        mlflow_run_id="run-e2e-2",
    )
    vote(lab_owner, d, per_class=3, seed=1)
    run_job(lab_owner, d, model_version=other.pk)
    results = list(SegmentationResult.objects.order_by("-created"))
    assert len(results) == 2

    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/history")
    items = page.get_by_test_id("history-result")
    expect(items).to_have_count(2, timeout=30_000)
    for item, result in zip(items.all(), results, strict=True):
        assert item.get_attribute("data-id") == str(result.pk)
        model = result.job.model_version
        expect(item.get_by_test_id("history-model")).to_have_text(
            f"model {model.name} v{model.version}"
        )
        labels = artefacts.npz_load(result.arrays_key)["labels"]
        rows, cols = labels.shape
        row, col = rows // 2, cols // 3
        thumb = item.get_by_test_id("history-thumb").evaluate(THUMB, [row, col, rows, cols])
        # 16 x 16 chips at 128 px: 8 px per chip, shown 64 px wide
        assert (thumb["w"], thumb["h"]) == (cols * (128 // cols), rows * (128 // rows)), thumb
        assert thumb["shownW"] == pytest.approx(64, abs=0.5)
        colour = result.classes[int(labels[row, col])]["colour"]
        assert tuple(thumb["rgb"]) == exports.hex_to_rgb(colour), thumb
    page.get_by_test_id("history-results").scroll_into_view_if_needed()
    page.shot("history-results")
    assert page.get_by_test_id("side-panel").evaluate("p => p.scrollWidth - p.clientWidth") == 0

    # Open still reopens a result in the Segment step
    items.nth(1).get_by_test_id("history-open-result").click()
    expect(page.get_by_test_id("viewer-canvas")).to_have_attribute(
        "data-result", str(results[1].pk)
    )
    expect(page.get_by_test_id("result-meta")).to_contain_text(f"{champion_model.name} v1")
    assert not page.errors, page.errors
