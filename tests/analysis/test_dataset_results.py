"""The dataset results table: a batch job over a dataset, then per image its latest result,
filters, sorting, paging, the aggregate, the CSV, isolation and query counts."""

import csv
import io
import statistics

import pytest

from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from catalog.models import Visibility
from tests.analysis.helpers import upload_ready_image
from tests.common.test_list_queries import _assert_flat
from tests.factories import ReadyImageFactory, SegmentationResultFactory
from tests.support.segmentation import segmentation_run

pytestmark = pytest.mark.django_db

JOBS = "/api/segmentation-jobs/"


def table_url(dataset, **query):
    from urllib.parse import urlencode

    return f"/api/datasets/{dataset.pk}/results/" + (f"?{urlencode(query)}" if query else "")


def csv_url(dataset, **query):
    from urllib.parse import urlencode

    return f"/api/datasets/{dataset.pk}/results.csv" + (f"?{urlencode(query)}" if query else "")


@pytest.fixture
def batch(client_for, world, segmentable):
    """The dataset segmented as a batch ({"dataset": id}), then its first image again with
    smoothing (a newer result), then a third image that has no result."""
    image = segmentable["image"]
    dataset = image.dataset
    second, _ = upload_ready_image(world, dataset=dataset, seed=1)
    client = client_for(world.annotator)
    response = client.post(
        JOBS,
        {"support_set": str(segmentable["version"].pk), "images": {"dataset": str(dataset.pk)}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["images"] == [str(image.pk), str(second.pk)]
    segmentation_run(job_id=response.json()["id"])
    first_job = SegmentationJob.objects.get(pk=response.json()["id"])
    assert first_job.status == JobStatus.SUCCEEDED, first_job.error
    response = client.post(
        JOBS,
        {
            "support_set": str(segmentable["version"].pk),
            "images": [str(image.pk)],
            "params": {"smooth": 2.0},
        },
        format="json",
    )
    segmentation_run(job_id=response.json()["id"])
    third = ReadyImageFactory(dataset=dataset, uploaded_by=world.curator)
    return {
        **segmentable,
        "dataset": dataset,
        "client": client,
        "second": second,
        "third": third,
        "latest": SegmentationResult.objects.get(job_id=response.json()["id"]),
        "second_result": SegmentationResult.objects.get(job=first_job, image=second),
        "older": SegmentationResult.objects.get(job=first_job, image=image),
    }


def test_each_image_shows_its_latest_result_with_intervals(batch):
    body = batch["client"].get(table_url(batch["dataset"])).json()
    assert body["count"] == 3 and body["dataset"] == str(batch["dataset"].pk)
    rows = {r["image"]: r for r in body["results"]}
    latest, second = batch["latest"], batch["second_result"]
    assert rows[str(batch["image"].pk)]["result"] == str(latest.pk) != str(batch["older"].pk)
    assert rows[str(batch["second"].pk)]["result"] == str(second.pk)
    assert rows[str(batch["third"].pk)]["result"] is None
    assert rows[str(batch["third"].pk)]["classes"] == []
    for result in (latest, second):
        row = rows[str(result.image_id)]
        assert [c["name"] for c in row["classes"]] == [c["name"] for c in result.classes]
        assert [c["fraction"] for c in row["classes"]] == pytest.approx(result.fractions)
        assert [c["chips"] for c in row["classes"]] == result.counts
        low, high = result.stats["fractions_ci_low"], result.stats["fractions_ci_high"]
        assert [c["fraction_ci_low"] for c in row["classes"]] == pytest.approx(low)
        assert [c["fraction_ci_high"] for c in row["classes"]] == pytest.approx(high)
        assert "95 %" in row["interval"]
        assert row["mean_confidence"] == pytest.approx(result.mean_confidence)
        assert row["model_version"].startswith("chiplab-fourier v")
    # the aggregate: per class, over the two images with a result
    names = [c["name"] for c in latest.classes]
    assert [a["name"] for a in body["aggregate"]] == names
    for i, a in enumerate(body["aggregate"]):
        values = [latest.fractions[i], second.fractions[i]]
        assert a["n_images"] == 2
        assert a["mean"] == pytest.approx(statistics.mean(values))
        assert a["sd"] == pytest.approx(statistics.stdev(values))
        assert (a["min"], a["max"]) == pytest.approx((min(values), max(values)))


def test_filters_sorting_and_paging(batch):
    client, dataset = batch["client"], batch["dataset"]
    name = batch["latest"].classes[1]["name"]

    def images(**query):
        response = client.get(table_url(dataset, **query))
        assert response.status_code == 200, response.json()
        return [r["image"] for r in response.json()["results"]]

    first, second, third = (str(batch[k].pk) for k in ("image", "second", "third"))
    assert set(images(results="with")) == {first, second}
    assert images(results="without") == [third]
    assert images(q=batch["second"].original_filename.upper()) == [second]
    by_fraction = sorted(
        [batch["latest"], batch["second_result"]], key=lambda r: r.fractions[1], reverse=True
    )
    expected = [str(r.image_id) for r in by_fraction]
    # images without a value come last in both directions
    assert images(sort=f"-fraction:{name}") == [*expected, third]
    assert images(sort=f"fraction:{name}") == [*expected[::-1], third]
    assert images(sort="-filename") == sorted(
        [first, second, third],
        key=lambda i: {first: batch["image"], second: batch["second"], third: batch["third"]}[
            i
        ].original_filename.lower(),
        reverse=True,
    )
    page = client.get(table_url(dataset, sort=f"-fraction:{name}", limit=1, offset=1)).json()
    assert page["count"] == 3 and [r["image"] for r in page["results"]] == [expected[1]]
    assert page["previous"] and page["next"]
    assert page["aggregate"][1]["n_images"] == 2  # the aggregate covers every filtered image
    for query, field in (({"sort": "size"}, "sort"), ({"results": "some"}, "results")):
        response = client.get(table_url(dataset, **query))
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]


def test_csv_has_a_line_per_image_and_class_and_is_spreadsheet_safe(batch):
    latest = batch["latest"]
    classes = [dict(c) for c in latest.classes]
    classes[0]["name"] = '=HYPERLINK("http://x")'
    SegmentationResult.objects.filter(pk=latest.pk).update(classes=classes)
    response = batch["client"].get(csv_url(batch["dataset"], sort="filename"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith('-results.csv"')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    n = len(latest.classes)
    assert len(rows) == 2 * n + 1
    mine = [r for r in rows if r["result"] == str(latest.pk)]
    assert mine[0]["class"] == '\'=HYPERLINK("http://x")'
    assert [float(r["fraction"]) for r in mine] == pytest.approx(latest.fractions)
    assert [float(r["fraction_ci_low"]) for r in mine] == pytest.approx(
        latest.stats["fractions_ci_low"]
    )
    empty = [r for r in rows if r["image"] == str(batch["third"].pk)]
    assert len(empty) == 1 and empty[0]["result"] == "" and empty[0]["class"] == ""
    # the CSV follows the filters
    response = batch["client"].get(csv_url(batch["dataset"], results="without"))
    assert len(list(csv.DictReader(io.StringIO(response.content.decode())))) == 1


def test_outsiders_get_404_even_on_a_public_dataset(client_for, world, batch):
    dataset = batch["dataset"]
    dataset.visibility = Visibility.PUBLIC
    dataset.save(update_fields=["visibility"])
    outsider = client_for(world.outsider)
    assert outsider.get(f"/api/datasets/{dataset.pk}/").status_code == 200  # public
    for url in (table_url(dataset), csv_url(dataset)):
        response = outsider.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert client_for(world.viewer).get(table_url(dataset)).json()["count"] == 3


def test_table_queries_do_not_grow_with_rows(client_for, world, batch):
    """A result per row costs no query: rows with results are added by cloning one."""
    template = batch["second_result"]
    dataset = batch["dataset"]

    def more(n):
        for _ in range(n):
            SegmentationResultFactory(
                job=template.job,
                image=ReadyImageFactory(dataset=dataset, uploaded_by=world.curator),
                grid=template.grid,
                arrays_key=template.arrays_key,
                classes=template.classes,
                counts=template.counts,
                fractions=template.fractions,
                fraction_std=template.fraction_std,
                stats=template.stats,
            )

    _assert_flat(batch["client"], table_url(dataset), more, before=3, after=6)
