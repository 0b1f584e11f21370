"""A pipeline from the command line, with a real Celery worker: upload a folder, label with the
client, `chiplab segment --wait`, `chiplab results`; every export of every result arrives."""

import csv
import json
import re

import pytest

from workers.fewshot import sim

pytestmark = [pytest.mark.integration]

CHIP = 32


def test_upload_segment_wait_and_fetch_every_result(
    celery_worker, world, server, token_of, client_as, chiplab, model_version, tmp_path, wait
):
    dataset = world.dataset()
    folder = tmp_path / "frames"
    folder.mkdir()
    scenes = {}
    for seed in (0, 1):
        scene = sim.generate("sto_ge_interface", seed=seed, size=(256, 256))
        (folder / f"sto_ge_{seed}.tif").write_bytes(sim.tiff_bytes(scene))
        scenes[f"sto_ge_{seed}.tif"] = scene
    assert chiplab("login", "--server", server, stdin=token_of(world.curator)).code == 0

    upload = chiplab("upload", str(folder), "--dataset", str(dataset.pk), "--json")
    assert upload.code == 0, upload.stderr
    images = {f["path"].rsplit("/", 1)[-1]: f["image"] for f in upload.json()["files"]}
    assert len(images) == 2

    # the worker ingests them; then the curator labels one image with the client
    curator = client_as(world.curator)

    def ready():
        listed = list(curator.images.list(str(dataset.pk)))
        return listed if all(i["status"] != "pending" for i in listed) else None

    assert {i["status"] for i in wait(ready, timeout=120, what="ingest")} == {"ready"}
    scene = scenes["sto_ge_0.tif"]
    schema = curator.schemas.create(str(dataset.pk))
    classes = [curator.classes.create(schema["id"], name) for name in scene.class_names]
    grid = curator.grids.create(images["sto_ge_0.tif"], CHIP)
    chips = sim.pure_chips(scene, chip=CHIP, per_class=3, seed=0)
    curator.votes.cast(
        grid["id"],
        [{"row": r, "col": c, "class": classes[k]["id"]} for k, rc in chips.items() for r, c in rc],
    )
    version = curator.support_sets.freeze(schema["id"])

    segment = chiplab(
        "segment",
        "--dataset",
        str(dataset.pk),
        "--support-set",
        version["id"],
        "--param",
        "bootstrap=20",
        "--wait",
        "--timeout",
        "240",
        "--json",
    )
    assert segment.code == 0, segment.stderr
    job = segment.json()
    assert job["status"] == "succeeded", job["error"]
    assert sorted(job["images"]) == sorted(images.values())
    assert len(job["results"]) == 2

    out = tmp_path / "results"
    fetched = chiplab("results", job["id"], "--format", "csv", "--out", str(out))
    assert fetched.code == 0, fetched.stderr
    for result in job["results"]:
        kinds = sorted(k for k in result["links"] if k != "self")
        assert {"overlay.png", "mask.png", "counts.csv", "result.json"} <= set(kinds)
        files = sorted(p.name for p in (out / result["id"]).iterdir())
        stem = next(n for n, i in images.items() if i == result["image"]).rsplit(".", 1)[0]
        # the server's names: image stem, job time, the result's short id, the kind
        named = re.compile(rf"{re.escape(stem)}\.\d{{8}}-\d{{6}}-{result['id'][:8]}\.(.+)")
        assert sorted(named.fullmatch(f).group(1) for f in files) == kinds, files
        document = json.loads(next((out / result["id"]).glob("*.result.json")).read_text())
        assert document["stats"]["counts"] == result["counts"]
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * len(scene.class_names)
    for result in job["results"]:
        mine = [r for r in rows if r["result"] == result["id"]]
        assert [r["class"] for r in mine] == [c["name"] for c in result["classes"]]
        assert [float(r["fraction"]) for r in mine] == pytest.approx(result["fractions"])

    as_json = chiplab(
        "results", job["id"], "--format", "json", "--out", str(out), "--kind", "counts.csv"
    )
    assert as_json.code == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["job"] == job["id"] and len(summary["results"]) == 2
    assert all(
        r["files"] == [f"{r['result']}/{r['files'][0].split('/')[-1]}"] for r in summary["results"]
    )
