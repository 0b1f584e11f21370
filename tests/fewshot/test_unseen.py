"""Unseen families and real micrographs: deterministic, well posed, independent of the training
simulator, and run end to end by the benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workers.fewshot import unseen
from workers.fewshot.bench.report import format_sets, summarise
from workers.fewshot.bench.run import AccuracyConfig, all_cases, run_case
from workers.fewshot.bench.sampling import sample_support
from workers.fewshot.bench.suites import SETS, set_of
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.unseen.real import REAL_CASES, RealDataMissing, load_real

REPO = Path(__file__).resolve().parents[2]
SIZE, CHIP = 160, 32


@pytest.mark.parametrize("name", list(unseen.UNSEEN_CASES))
def test_unseen_case_is_deterministic_and_has_two_classes_at_chip_level(name):
    a = unseen.generate(name, seed=3, size=SIZE)
    b = unseen.generate(name, seed=3, size=SIZE)
    assert a.image.shape == a.truth.shape == (SIZE, SIZE)
    assert a.image.dtype == np.float32 and a.truth.dtype == np.int32
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert np.isfinite(a.image).all()
    assert a.truth.min() >= 0 and a.truth.max() < len(a.class_names)
    assert a.group == unseen.UNSEEN_CASES[name].group
    # the benchmark size: every case shows >= 2 classes at chip level
    big = unseen.generate(name, seed=0, size=384)
    assert len(np.unique(chip_truth(big.truth, ChipGrid.for_shape(big.image.shape, CHIP)))) >= 2
    assert not np.array_equal(unseen.generate(name, seed=4, size=SIZE).image, a.image)


def test_unseen_groups_and_counts():
    groups = [c.group for c in unseen.UNSEEN_CASES.values()]
    assert groups.count("lattices") >= 6 and groups.count("particles") >= 4
    assert groups.count("textures") >= 3
    assert not set(unseen.UNSEEN_CASES) & set(all_cases(("seen",)))


def test_unseen_package_does_not_import_the_training_simulator():
    code = (
        "import sys\n"
        "from workers.fewshot import unseen\n"
        "from workers.fewshot.unseen import real\n"
        "for name in unseen.UNSEEN_CASES:\n"
        "    unseen.generate(name, seed=0, size=64)\n"
        "print(sorted(m for m in sys.modules if m.startswith('workers.fewshot.sim')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_real_micrograph_loads_with_its_chip_truth():
    r = load_real("real_moo3_particles")
    assert r.image.shape == (512, 512) and r.chip_size == 16
    assert r.chip_labels.shape == (32, 32)
    values, counts = np.unique(r.chip_labels, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {-1: 95, 0: 897, 1: 32}
    assert r.mask.shape == r.image.shape and set(np.unique(r.mask)) <= {0, 1, 2}


def test_missing_real_data_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CHIPLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(RealDataMissing, match="CHIPLAB_SHARED_DATA"):
        load_real("real_moo3_particles")
    with pytest.raises(KeyError):
        load_real("no_such_case")


def test_shared_data_location_is_configurable(tmp_path, monkeypatch):
    src = load_real("real_moo3_particles")
    case = REAL_CASES["real_moo3_particles"]
    import tifffile

    (tmp_path / "pychip").mkdir()
    (tmp_path / "truth").mkdir()
    tifffile.imwrite(tmp_path / case.image, np.zeros((64, 64), np.uint16))
    labels = np.zeros((4, 4), int)
    labels[0, 0] = 1
    truth = {"chip_size": 16, "offset": [0, 0], "grid": [4, 4], "classes": ["a", "b"]}
    (tmp_path / case.chips).write_text(json.dumps(truth | {"labels": labels.tolist()}))
    import imageio.v3 as iio

    iio.imwrite(tmp_path / case.mask, np.zeros((64, 64), np.uint8))
    monkeypatch.setenv("CHIPLAB_SHARED_DATA", str(tmp_path))
    r = load_real("real_moo3_particles")
    assert r.image.shape == (64, 64) and r.chip_labels.sum() == 1
    assert src.image.shape != r.image.shape


def test_support_never_comes_from_unscored_chips():
    labels = np.array([[-1, 0, 0], [1, -1, 1]])
    support = sample_support(labels, 5, np.random.default_rng(0))
    assert sorted(support) == [0, 1]
    assert all(labels[r, c] >= 0 for chips in support.values() for r, c in chips)


class _Constant:
    name = "constant"

    def prepare(self, image, grid, *, object_classes=()):
        self._shape = (grid.rows, grid.cols)
        return 0.0

    def predict(self, support):
        return np.zeros(self._shape, int), 0.0


class _Truth:
    """Predicts the real image's chip truth (unscored chips as class 0): checks the bookkeeping."""

    name = "truth"

    def prepare(self, image, grid, *, object_classes=()):
        return 0.0

    def predict(self, support):
        return np.maximum(load_real("real_moo3_particles").chip_labels, 0), 0.0


def test_bench_runs_unseen_and_real_end_to_end():
    from scipy import ndimage

    from workers.fewshot.bench.methods import PixelForestPeer

    cfg = AccuracyConfig(size=(128, 128), ks=(1,), draws=2, images=2, ceilings=())
    trials = run_case("u_graphene_layers", cfg, [_Constant(), PixelForestPeer()], log=print)
    trials += run_case("real_moo3_particles", cfg, [_Constant(), _Truth()], log=print)
    assert {t.suite for t in trials} == {"unseen", "real"}
    assert set_of("real_moo3_particles").fixed
    real = [t for t in trials if t.suite == "real"]
    # one fixed image, both draws on it, scored on the 897 + 32 labelled chips minus support
    assert {t.extra["image_seed"] for t in real} == {0} and len(real) == 4
    assert all(t.n_query == 897 + 32 - 2 for t in real)
    const = next(t for t in real if t.method == "constant")
    assert const.accuracy == pytest.approx(896 / 927)
    assert const.extra["objects"] == 0 and const.extra["objects_truth"] == 18
    truth = next(t for t in real if t.method == "truth")
    assert truth.accuracy == truth.miou == 1.0
    particle_chips = load_real("real_moo3_particles").chip_labels == 1
    groups = ndimage.label(particle_chips, np.ones((3, 3)))[1]
    assert truth.extra["objects"] == groups and 0.5 < truth.extra["pixel_miou"] < 1.0
    summaries = {s: summarise([t for t in trials if t.suite == s]) for s in ("unseen", "real")}
    text = format_sets(summaries, {s: SETS[s].title for s in summaries})
    assert "unseen (report)" in text and "real micrographs (report)" in text
    assert "objects" in text and "mIoU overview" in text


def test_bench_command_line_splits_the_sets(tmp_path):
    from workers.fewshot.bench.__main__ import main

    out = tmp_path / "bench.json"
    argv = ["--set", "real", "--ks", "1", "--draws", "1", "--encoders", "fourier", "--no-peer"]
    assert main([*argv, "--no-speed", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert list(results["summary"]) == ["real"] and results["sets"]["real"].startswith("real")
    assert {t["suite"] for t in results["trials"]} == {"real"}
