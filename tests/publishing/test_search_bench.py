"""A small search benchmark: it prints the time of each search and of its queries, and checks
the counts (never the times). ``SEARCH_BENCH_IMAGES=5000`` runs it larger:

    SEARCH_BENCH_IMAGES=5000 .venv/bin/python -m pytest tests/catalog/test_search_bench.py -s
"""

import os
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Image, ImageTag
from tests.publishing.test_search import schema_with

SCOPES = ["Titan Themis", "JEM-2100F", "Talos F200X", "ARM200F", "Krios"]
DATASETS = 20


def test_search_benchmark(world, client_for):
    per_dataset = max(1, int(os.environ.get("SEARCH_BENCH_IMAGES", "500")) // DATASETS)
    user = world.curator
    images = []
    for d in range(DATASETS):
        dataset = world.dataset(title=f"Dataset {d} oxide interfaces", description="words " * 50)
        schema_with(dataset, user, "STO", "Ge", f"phase{d}")
        images += [
            Image(
                dataset=dataset,
                original_filename=f"img_{d}_{i}.tif",
                original_key=f"k/{d}/{i}",
                size_bytes=1,
                sha256=f"{d:04d}{i:060d}",
                format="tiff",
                width=1,
                height=1,
                dtype="uint8",
                status="ready",
                uploaded_by=user,
                instrument={"microscope": SCOPES[i % 5], "voltage_kv": 100.0 + i % 3 * 100},
            )
            for i in range(per_dataset)
        ]
    Image.objects.bulk_create(images)
    tagged = images[::3]
    ImageTag.objects.bulk_create(
        [ImageTag(image=im, name=f"t{k % 7}", created_by=user) for k, im in enumerate(tagged)]
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # as autovacuum would after such an import
            cursor.execute("ANALYZE")
    n = len(images)
    titans = sum(1 for i in range(per_dataset) if i % 5 == 0) * DATASETS
    client = client_for(world.viewer)
    print(f"\nsearch benchmark: {n} images, {connection.vendor}")
    for params, expected in (
        ({}, n),
        ({"q": "titan"}, titans),
        ({"q": "titan sto"}, titans),
        ({"instrument": "Titan Themis", "class_name": "STO"}, titans),
        ({"q": "oxide", "tag": "t1"}, sum(1 for k in range(len(tagged)) if k % 7 == 1)),
    ):
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/api/search/", params).json()
        took = time.perf_counter() - start
        assert body["count"] == expected, params
        each = " ".join(f"{float(q['time']) * 1000:.0f}" for q in queries.captured_queries)
        print(f"  {params}: {expected} found in {took * 1000:.0f} ms (queries, ms: {each})")
