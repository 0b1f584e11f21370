"""`chiplab import` and `chiplab watch` against a live server (watch: with a real worker)."""

import io
import json
import os
import threading
import time

import numpy as np
import pytest
from chiplab_client import ChiplabError
from chiplab_client.cli import main
from chiplab_client.watch import Watcher
from PIL import Image as PILImage

from labeling import services
from labeling.models import GoldChip, Vote
from tests.factories import ReadyImageFactory
from tests.support.waits import wait_for
from workers.fewshot import sim

CHIP = 32


@pytest.fixture
def grid(world, server):
    image = ReadyImageFactory(dataset=world.dataset())  # 256 x 256: 8 x 8 chips of 32 px
    schema, _ = services.schema_get_or_create_default(user=world.curator, dataset=image.dataset)
    services.class_create(user=world.curator, schema=schema, name="STO")
    services.class_create(user=world.curator, schema=schema, name="Ge")
    grid, _ = services.grid_create(user=world.curator, image=image, chip_size=CHIP)
    return grid


def test_cli_imports_a_mask_and_a_csv(world, grid, token_of, server, chiplab, tmp_path):
    mask = np.zeros((256, 256), np.uint8)
    mask[:CHIP, :CHIP] = 1
    mask[CHIP : 2 * CHIP, :CHIP] = 2
    path = tmp_path / "labels.png"
    PILImage.fromarray(mask).save(path)
    assert chiplab("login", "--server", server, stdin=token_of(world.annotator)).code == 0

    run = chiplab(
        "import", str(path), "--grid", str(grid.pk), "--classes", "0=,1=STO", "--classes", "2=Ge"
    )
    assert run.code == 0, run.stderr
    assert "2 of 64 chips labelled as votes, 62 skipped" in run.stderr
    assert [line.split()[:2] for line in run.stdout.splitlines()] == [
        ["NAME", "CHIPS"],
        ["STO", "1"],
        ["Ge", "1"],
    ]
    assert Vote.objects.filter(user=world.annotator).count() == 2

    csv_path = tmp_path / "chips.csv"
    csv_path.write_text("row,col,class\n5,5,Ge\n")
    gold = chiplab("import", str(csv_path), "--grid", str(grid.pk), "--gold", "--json")
    assert gold.code == 1 and gold.error()["code"] == "forbidden"  # annotators set no gold
    assert chiplab("login", "--server", server, stdin=token_of(world.curator)).code == 0
    gold = chiplab("import", str(csv_path), "--grid", str(grid.pk), "--gold", "--json")
    assert gold.code == 0, gold.stderr
    assert gold.json()["target"] == "gold" and gold.json()["labelled"] == 1
    assert GoldChip.objects.get(grid=grid).label_class.name == "Ge"

    bad = chiplab("import", str(path), "--grid", str(grid.pk), "--classes", "1=STO", "--json")
    assert bad.code == 1 and bad.error()["code"] == "unknown_value"  # 0 and 2 are unmapped
    assert chiplab("import", str(path), "--grid", str(grid.pk), "--classes", "x").code == 2
    assert chiplab("import", str(tmp_path / "nope.png"), "--grid", str(grid.pk)).code == 2


def test_client_import_is_refused_to_another_lab(world, grid, client_as):
    mask = np.zeros((256, 256), np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(mask).save(buffer, format="PNG")
    with pytest.raises(ChiplabError) as caught:
        client_as(world.outsider).grids.import_annotations(
            str(grid.pk), buffer.getvalue(), classes={"0": None}
        )
    assert caught.value.status == 404
    report = client_as(world.curator).grids.import_annotations(
        str(grid.pk), buffer.getvalue(), classes={"0": "STO"}, threshold=1.0, filename="m.png"
    )
    assert report["labelled"] == 64 and report["classes"][0]["chips"] == 64


# --- watch ---------------------------------------------------------------------------------
class Timed(io.StringIO):
    """stdout that remembers when each line arrived."""

    def __init__(self):
        super().__init__()
        self.lines: list[tuple[float, str]] = []
        self._partial = ""

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        now = time.monotonic()
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self.lines.append((now, line))
        return super().write(text)


def _frame_tiff(seed: int, size: int = 1024) -> bytes:
    return sim.tiff_bytes(sim.generate("sto_ge_interface", seed=seed, size=(size, size)))


@pytest.fixture
def watched(celery_worker, world, server, token_of, client_as, model_version, tmp_path, wait):
    """A dataset with one labelled image, its frozen support set, and a folder to watch."""
    dataset = world.dataset()
    curator = client_as(world.curator)
    scene = sim.generate("sto_ge_interface", seed=0, size=(256, 256))
    first = sim.tiff_bytes(scene)
    image = curator.images.upload(str(dataset.pk), first, filename="support.tif")
    wait(lambda: curator.images.get(image["id"])["status"] == "ready", timeout=120, what="ingest")
    schema = curator.schemas.create(str(dataset.pk))
    classes = [curator.classes.create(schema["id"], name) for name in scene.class_names]
    grid = curator.grids.create(image["id"], CHIP)
    chips = sim.pure_chips(scene, chip=CHIP, per_class=3, seed=0)
    curator.votes.cast(
        grid["id"],
        [{"row": r, "col": c, "class": classes[k]["id"]} for k, rc in chips.items() for r, c in rc],
    )
    version = curator.support_sets.freeze(schema["id"])
    folder = tmp_path / "instrument"
    folder.mkdir()
    (folder / "support-again.tif").write_bytes(first)  # already in the dataset: skipped
    assert main(["login", "--server", server], stdin=io.StringIO(token_of(world.curator))) == 0
    return {
        "dataset": str(dataset.pk),
        "version": version["id"],
        "folder": folder,
        "curator": curator,
        "class_names": scene.class_names,
    }


@pytest.mark.integration
def test_watch_uploads_segments_and_prints_each_new_frame_once(watched):
    folder, curator = watched["folder"], watched["curator"]
    argv = [
        "watch",
        str(folder),
        "--dataset",
        watched["dataset"],
        "--support-set",
        watched["version"],
        "--json",
        "--max-frames",
        "4",
        "--timeout",
        "300",
    ]
    out, err = Timed(), io.StringIO()
    codes = []
    thread = threading.Thread(target=lambda: codes.append(main(argv, stdout=out, stderr=err)))
    thread.start()
    wait_for(  # the watch has started and skipped the file already in the dataset
        lambda: any("support-again.tif" in line for _, line in out.lines),
        timeout=120,
        what="the watch to skip the frame already uploaded",
    )
    appeared = {}
    # a frame written slowly, in parts (pauses shorter than --settle): not uploaded half-written
    data = _frame_tiff(1)
    slow = folder / "frame-slow.tif"
    with slow.open("wb") as fh:
        for part in np.array_split(np.frombuffer(data, np.uint8), 5):
            fh.write(part.tobytes())
            fh.flush()
            time.sleep(0.15)  # the point: a writer pausing (for less than --settle)
    appeared[slow.name] = time.monotonic()
    # frames that appear at once (written aside, then renamed: how instruments should write)
    for seed in (2, 3):
        if seed == 3:  # the last frame arrives alone, on a warm worker: its latency is reported
            wait_for(
                lambda: any("frame-2" in line for _, line in out.lines),
                timeout=120,
                what="frame-2's fractions",
            )
        time.sleep(1.0)  # frames a second apart, as an instrument writes them (not a wait)
        tmp = folder / f".part-{seed}"
        tmp.write_bytes(_frame_tiff(seed))
        os.replace(tmp, folder / f"frame-{seed}.tif")
        appeared[f"frame-{seed}.tif"] = time.monotonic()
    thread.join(timeout=300)
    assert codes == [0], err.getvalue()

    frames = {
        json.loads(line)["path"].rsplit("/", 1)[-1]: (t, json.loads(line)) for t, line in out.lines
    }
    assert set(frames) == {"support-again.tif", "frame-slow.tif", "frame-2.tif", "frame-3.tif"}
    assert frames["support-again.tif"][1]["status"] == "skipped"
    latencies = {}
    for name, when in appeared.items():
        printed, frame = frames[name]
        assert frame["status"] == "succeeded", frame["error"]
        [result] = frame["results"]
        names = [c["class"] for c in result["classes"]]
        assert names == watched["class_names"]
        assert sum(c["fraction"] for c in result["classes"]) == pytest.approx(1.0)
        latencies[name] = (round(printed - when, 3), frame["seconds"], frame["job_seconds"])
    print("\nwatch latency, file appeared -> fractions printed (s):", latencies)
    # every new frame was uploaded once, whole, and segmented once
    images = list(curator.images.list(watched["dataset"]))
    assert len(images) == 4
    uploaded = {i["original_filename"]: i for i in images}
    assert uploaded["frame-slow.tif"]["size_bytes"] == len(data)
    jobs = list(curator.jobs.list())
    assert len(jobs) == 3 and all(j.status == "succeeded" for j in jobs)

    # a restarted watch skips what is already in the dataset: nothing is uploaded again
    again = Timed()
    code = main([*argv[:-4], "--max-frames", "4", "--timeout", "60"], stdout=again, stderr=err)
    assert code == 0
    assert [json.loads(line)["status"] for _, line in again.lines] == ["skipped"] * 4
    assert len(list(curator.images.list(watched["dataset"]))) == 4
    assert len(list(curator.jobs.list())) == 3


def test_watcher_waits_until_a_file_stops_growing(tmp_path):
    """The settle rule alone (no server): a growing file is not taken; a still one is."""

    class NoServer:
        pass

    taken = []
    watcher = Watcher(NoServer(), tmp_path, dataset="d", support_set="s", settle=0.2)
    watcher._pool.submit = lambda fn, frame: taken.append(frame.path)  # record, do not process
    path = tmp_path / "frame.tif"
    path.write_bytes(b"x" * 10)
    (tmp_path / ".hidden.tif").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    assert watcher.poll() == []  # first sight
    # the sleeps below are the point: the settle rule is about time passing on the clock
    time.sleep(0.25)
    with path.open("ab") as fh:
        fh.write(b"y")  # still growing
    assert watcher.poll() == []
    time.sleep(0.1)
    assert watcher.poll() == []  # unchanged, but not for `settle` yet
    time.sleep(0.15)
    assert watcher.poll() == [path]
    assert watcher.poll() == []  # taken once
    assert taken == [path]


def test_a_failed_frame_is_taken_again_only_once_it_changes(tmp_path):
    taken = []
    watcher = Watcher(object(), tmp_path, dataset="d", support_set="s", settle=0.0)
    watcher._pool.submit = lambda fn, frame: taken.append(frame.path)
    path = tmp_path / "frame.png"
    path.write_bytes(b"half")
    watcher.poll()
    assert watcher.poll() == [path]
    watcher._retry.add(path)  # what a failed upload records
    assert watcher.poll() == [] and watcher.poll() == []  # unchanged: not again
    time.sleep(0.01)  # the file's mtime must move
    path.write_bytes(b"half and the rest")
    watcher.poll()
    assert watcher.poll() == [path]
    assert taken == [path, path]
