"""Every CSV export of a result is safe to open in a spreadsheet: a job whose classes are named
like formulas (``=``, ``+``, ``-``, ``@``) writes no cell, header or value, that a spreadsheet
would run (``exports.csv_cell``, the one helper every CSV writer goes through)."""

import csv
import io

import pytest

from analysis import artefacts, exports
from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from tests.analysis.helpers import download, upload_ready_image
from tests.support.segmentation import segmentation_run

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)"]
CSV_KINDS = {kind for kind, mime in artefacts.EXPORT_KINDS.items() if mime == "text/csv"}


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _unsafe_cells(text: str) -> list[str]:
    """Cells a spreadsheet would take for a formula (a negative number is a number)."""
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(exports.FORMULA_START) and not _number(cell)
    ]


def test_csv_cell_neutralises_every_formula_start():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert exports.csv_cell(f"{start}1+1") == f"'{start}1+1"
    assert exports.csv_cell("STO") == "STO" and exports.csv_cell(-0.5) == -0.5


def test_every_csv_export_of_a_job_is_formula_safe(client_for, world, segmentable):
    from labeling.services import class_update, support_set_freeze

    artefacts.MEMORY_CACHE.clear()
    classes = segmentable["classes"]
    for label_class, name in zip(classes, HOSTILE, strict=False):
        class_update(user=world.curator, label_class=label_class, name=name)
    class_update(user=world.curator, label_class=classes[-1], kind="objects")
    version = support_set_freeze(
        user=world.annotator, schema=segmentable["schema"], rule="single_owner"
    )
    series, _ = upload_ready_image(world, dataset=segmentable["image"].dataset, frames=2, seed=3)
    client = client_for(world.annotator)
    body = {
        "support_set": str(version.pk),
        "images": [str(segmentable["image"].pk), str(series.pk)],
    }
    response = client.post("/api/segmentation-jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    segmentation_run(job_id=job_id)
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error

    checked = set()
    for result in SegmentationResult.objects.filter(job=job):
        links = client.get(f"/api/segmentation-results/{result.pk}/").json()["links"]
        for kind in CSV_KINDS & set(links):
            url = f"/api/segmentation-results/{result.pk}/export/{kind}"
            text = download(client, url).decode()
            assert any(name[1:] in text for name in HOSTILE), kind  # the names are there
            assert _unsafe_cells(text) == [], kind
            checked.add(kind)
    assert checked == CSV_KINDS  # a new CSV export is covered here or this fails
