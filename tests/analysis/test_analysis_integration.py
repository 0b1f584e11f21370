"""Upload -> ingest worker -> two annotators vote -> consensus frozen -> gpu worker segments ->
labels match the simulator's truth, exports agree, a re-run is identical, other labs see
nothing. Everything through the API and a real Celery worker process."""

import csv
import io
import json

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from labeling.models import SupportSetVersion
from tests.analysis.helpers import CHIP, chip_truth_grid, download, sim_tiff, truth_chips

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Chip accuracy of the training-free fourier encoder on sto_ge_interface 256 x 256 with
# 3 pure support chips per class, measured at 0.94 (the errors are chips that straddle an
# interface); asserted with a margin.
MIN_ACCURACY = 0.85


def _ok(response, status=200):
    assert response.status_code == status, response.content[:500]
    return response.json()


def _finished(client, job_id, wait) -> dict:
    def done():
        body = client.get(f"/api/segmentation-jobs/{job_id}/").json()
        return body if body["status"] not in ("queued", "running") else None

    body = wait(done, timeout=180, what=f"segmentation job {job_id}")
    assert body["status"] == "succeeded", body["error"]
    return body


def test_two_annotators_consensus_segments_the_truth(
    celery_worker, client_for, world, wait, model_version
):
    curator, annotator = client_for(world.curator), client_for(world.annotator)
    dataset = world.dataset()
    data, s = sim_tiff(size=(256, 256), seed=0)

    # upload through the API; the ingest worker makes it ready (calibration from the TIFF)
    image = _ok(
        curator.post(
            f"/api/datasets/{dataset.pk}/images/",
            {"file": SimpleUploadedFile("sto_ge.tif", data)},
            format="multipart",
        ),
        201,
    )
    image = wait(
        lambda: (
            (b := curator.get(f"/api/images/{image['id']}/").json())["status"] != "pending" and b
        ),
        timeout=120,
        what="ingest",
    )
    assert image["status"] == "ready", image["error"]
    assert image["pixel_size"] == pytest.approx(s.pixel_size, rel=1e-4)

    # schema, classes and the 32 px grid
    schema = _ok(curator.post(f"/api/datasets/{dataset.pk}/schemas/", {}, format="json"), 201)
    colours = ["#e41a1c", "#4daf4a", "#377eb8"]
    classes = [
        _ok(
            curator.post(
                f"/api/schemas/{schema['id']}/classes/",
                {"name": name, "colour": colours[i]},
                format="json",
            ),
            201,
        )
        for i, name in enumerate(s.class_names)
    ]
    grid = _ok(
        annotator.post(f"/api/images/{image['id']}/grids/", {"chip_size": CHIP}, format="json"), 201
    )
    # two users vote for the same true chips; the majority rule needs both of them
    votes = [
        {"row": r, "col": c, "class": classes[k]["id"]}
        for k, chips in truth_chips(s).items()
        for r, c in chips
    ]
    for client in (annotator, curator):
        response = client.post(f"/api/grids/{grid['id']}/votes/", {"votes": votes}, format="json")
        assert response.status_code in (200, 201), response.content

    # the curator runs the consensus: frozen automatically, queued on the gpu worker
    job = _ok(
        curator.post(
            "/api/segmentation-jobs/",
            {
                "schema": schema["id"],
                "rule": "majority",
                "min_votes": 2,
                "images": [image["id"]],
                "params": {"seed": 7, "bootstrap": 100},
            },
            format="json",
        ),
        201,
    )
    version = SupportSetVersion.objects.get(pk=job["support_set"]["id"])
    assert version.rule == "majority" and len(version.chips) == 9
    assert {c["username"] for c in version.contributors} == {
        world.annotator.username,
        world.curator.username,
    }
    body = _finished(curator, job["id"], wait)
    assert body["progress"]["done"] == body["progress"]["total"] == 64
    assert {"queue_wait", "load", "embed", "classify", "exports", "total"} <= set(body["timings"])

    # labels match the truth
    result_id = body["results"][0]["id"]
    detail = _ok(curator.get(f"/api/segmentation-results/{result_id}/"))
    labels = np.asarray(detail["labels"])
    truth = chip_truth_grid(s)
    accuracy = float((labels == truth).mean())
    assert accuracy >= MIN_ACCURACY, accuracy
    assert detail["provenance"]["support_set"]["number"] == version.number
    assert detail["provenance"]["image"]["sha256"] == image["sha256"]
    assert detail["areas"] is not None and detail["area_unit"] == "nm^2"

    # exports open and agree with the JSON
    base = f"/api/segmentation-results/{result_id}/export/"
    document = json.loads(download(curator, base + "result.json"))
    assert document["labels"] == detail["labels"]
    assert document["stats"]["counts"] == detail["counts"]
    rows = list(csv.DictReader(io.StringIO(download(curator, base + "counts.csv").decode())))
    assert [int(r["count"]) for r in rows] == detail["counts"]
    assert [float(r["fraction"]) for r in rows] == pytest.approx(detail["fractions"])
    with PILImage.open(io.BytesIO(download(curator, base + "mask.png"))) as img:
        mask = np.asarray(img)
    assert mask.shape == (256, 256)
    chips = np.asarray(labels).repeat(CHIP, 0).repeat(CHIP, 1)
    assert (mask == chips).mean() >= 0.8  # the pixel map refines the chip map
    with tifffile.TiffFile(io.BytesIO(download(curator, base + "mask.ome.tif"))) as tif:
        np.testing.assert_array_equal(tif.series[0].asarray(), mask)
    with PILImage.open(io.BytesIO(download(curator, base + "overlay.png"))) as img:
        assert img.width == 256 and img.height > 256 and img.mode == "RGB"  # + legend footer
    assert download(curator, base + "chart.svg").count(b'class="bar"') == 3
    assert download(curator, base + "chart.png").startswith(b"\x89PNG")

    # a re-run reproduces the labels, from cached embeddings
    rerun = _ok(curator.post(f"/api/segmentation-jobs/{job['id']}/rerun"), 201)
    rerun = _finished(curator, rerun["id"], wait)
    assert rerun["timings"]["embeddings_cache"]["miss"] == 0
    again = _ok(curator.get(f"/api/segmentation-results/{rerun['results'][0]['id']}/"))
    assert again["labels"] == detail["labels"]
    assert again["confidence"] == detail["confidence"]
    assert again["fraction_std"] == detail["fraction_std"]
    conflict = curator.post(f"/api/segmentation-jobs/{job['id']}/cancel")
    assert conflict.status_code == 409

    # history of the image
    history = _ok(curator.get(f"/api/images/{image['id']}/results/"))["results"]
    assert {r["id"] for r in history} == {result_id, rerun["results"][0]["id"]}

    # another lab sees none of it
    outsider = client_for(world.outsider)
    for url in (
        f"/api/segmentation-jobs/{job['id']}/",
        f"/api/segmentation-results/{result_id}/",
        base + "overlay.png",
        f"/api/images/{image['id']}/results/",
    ):
        assert outsider.get(url).status_code == 404, url
    assert outsider.get("/api/segmentation-jobs/", {"image": image["id"]}).status_code == 404
    assert outsider.post(f"/api/segmentation-jobs/{job['id']}/rerun").status_code == 404
    assert outsider.get("/api/segmentation-jobs/").json()["results"] == []
