"""Benchmark (prints figures, asserts only results): the results table of a 1000-image dataset
and comparisons of two results of a 3042 px image (the pyChip STO/Ge size) on one grid and
across grids. Run: pytest tests/analysis/test_dataset_results_zzbench.py -s"""

import time

import numpy as np
import pytest

from analysis.artefacts import npz_bytes
from analysis.models import SegmentationResult
from common import storage
from tests.analysis.helpers import run_job
from tests.factories import GridFactory, ReadyImageFactory, SegmentationResultFactory

pytestmark = pytest.mark.django_db

N_IMAGES = 1000
SIDE = 3042


def _clock(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def _finished_job(client, segmentable):
    return run_job(client, segmentable["version"], [segmentable["image"]])


def test_table_of_a_thousand_images(client_for, world, segmentable):
    client = client_for(world.annotator)
    template = _finished_job(client, segmentable)
    dataset = segmentable["image"].dataset
    images = [
        ReadyImageFactory.build(dataset=dataset, uploaded_by=world.curator)
        for _ in range(N_IMAGES - 1)
    ]
    from catalog.models import Image

    Image.objects.bulk_create(images)
    fields = ("arrays_key", "classes", "counts", "fractions", "fraction_std")
    SegmentationResult.objects.bulk_create(
        SegmentationResultFactory.build(
            job=template.job,
            image=image,
            grid=template.grid,
            stats=template.stats,
            **{f: getattr(template, f) for f in fields},
        )
        for image in images
    )
    url = f"/api/datasets/{dataset.pk}/results/"
    page, seconds = _clock(lambda: client.get(url, {"limit": 100, "sort": "-fraction:Ge"}))
    assert page.json()["count"] == N_IMAGES and len(page.json()["results"]) == 100
    csv, csv_seconds = _clock(lambda: client.get(f"/api/datasets/{dataset.pk}/results.csv"))
    lines = csv.content.decode().count("\n")
    assert lines == 1 + N_IMAGES * len(template.classes)
    print(
        f"\n[bench] results table, {N_IMAGES} images: page of 100 sorted by a fraction "
        f"{seconds * 1000:.0f} ms; CSV ({lines} lines, {len(csv.content) / 1e6:.2f} MB) "
        f"{csv_seconds * 1000:.0f} ms (best of 3; 2 shared cores, noisy)"
    )


def _result(world, job, image, *, chip, oy=0, ox=0, seed=0):
    grid = GridFactory(
        image=image, chip_size=chip, offset_y=oy, offset_x=ox, created_by=world.annotator
    )
    labels = np.random.default_rng(seed).integers(0, 3, size=(grid.rows, grid.cols), dtype=np.uint8)
    key = f"labs/{job.lab_id}/bench/{grid.pk}-{seed}.npz"
    storage.put_bytes(key, npz_bytes(labels=labels, confidence=np.ones(labels.shape, np.float32)))
    classes = [
        {"index": i, "id": f"c{i}", "name": n, "colour": "#000000"} for i, n in enumerate("ABC")
    ]
    return SegmentationResultFactory(
        job=job,
        grid=grid,
        arrays_key=key,
        classes=classes,
        counts=[0, 0, 0],
        fractions=[1 / 3] * 3,
        frame=seed,
    )


def test_compare_on_a_3042_px_image(client_for, world, segmentable):
    client = client_for(world.annotator)
    job = _finished_job(client, segmentable).job
    image = ReadyImageFactory(
        dataset=segmentable["image"].dataset, uploaded_by=world.curator, width=SIDE, height=SIDE
    )
    a = _result(world, job, image, chip=32, seed=0)
    cases = {
        "same 32 px grid (chips)": _result(world, job, image, chip=32, oy=0, ox=0, seed=1),
        "32 vs 24 px (pixels, 8 px blocks)": _result(world, job, image, chip=24, seed=2),
        "32 vs 30 px, offset (3, 5) (every pixel)": _result(
            world, job, image, chip=30, oy=3, ox=5, seed=3
        ),
    }
    for name, b in cases.items():
        url = f"/api/segmentation-results/{a.pk}/compare/{b.pk}"
        response, seconds = _clock(lambda url=url: client.get(url))
        body = response.json()
        assert response.status_code == 200 and body["differing"] > 0
        assert max(body["map"]["rows"], body["map"]["cols"]) <= 256
        print(
            f"[bench] compare {SIDE}² {name}: {seconds * 1000:.0f} ms, level {body['level']}, "
            f"{body['differing']:,} of {body['compared']:,} differ, "
            f"{len(response.content) / 1e3:.0f} kB (best of 3; noisy)"
        )
