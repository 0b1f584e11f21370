"""Leave one family out: training without a group, and the benchmark that compares."""

import json

import numpy as np
import pytest

from workers.fewshot.bench import lofo
from workers.fewshot.bench.run import Trial
from workers.fewshot.episodes import ScenePool
from workers.fewshot.sim import random_scene
from workers.fewshot.train import TrainConfig


@pytest.mark.parametrize(
    ("leave_out", "families"),
    [("particles", {"interface", "grains", "islands", "lamellae"}), ("lattices", {"particles"})],
)
def test_random_scene_never_draws_a_family_left_out(leave_out, families):
    rng = np.random.default_rng(0)
    drawn = {random_scene(rng, size=64, leave_out=leave_out).meta["family"] for _ in range(24)}
    assert drawn == families


def test_random_scene_draws_every_family_by_default():
    rng = np.random.default_rng(0)
    drawn = {random_scene(rng, size=64).meta["family"] for _ in range(40)}
    assert "particles" in drawn and len(drawn) == 5


def test_training_without_textures_pools_no_mosaic():
    cfg = TrainConfig(leave_out="textures", texture_fraction=1.0, pool_scene_size=64)
    assert TrainConfig(texture_fraction=1.0).textures == 1.0 and cfg.textures == 0.0
    sources = []

    def source(rng, *, size):
        sources.append(size)
        return random_scene(rng, size=size, leave_out="lattices")

    ScenePool(cfg, source, np.random.default_rng(0), n=3)
    assert len(sources) == 3  # every scene from the simulator, none a mosaic


def test_an_unknown_group_is_refused():
    with pytest.raises(ValueError, match="leave_out"):
        TrainConfig(leave_out="grains")


def _trial(case, group, suite, method, miou, draw=0):
    return Trial(case, group, 3, draw, method, 0.9, miou, 0.1, 10, 2, suite=suite)


def test_group_means_average_cases_then_report_the_drop_and_its_error():
    trials = [
        # case a: two draws (0.8, 1.0 -> 0.9); case b: one draw 0.5 -> group mean 0.7
        _trial("a", "particles", "seen", "all", 0.8, 0),
        _trial("a", "particles", "seen", "all", 1.0, 1),
        _trial("b", "particles", "seen", "all", 0.5),
        # paired differences: case a -0.2 and -0.4, case b -0.1
        _trial("a", "particles", "seen", "without-particles", 0.6, 0),
        _trial("a", "particles", "seen", "without-particles", 0.6, 1),
        _trial("b", "particles", "seen", "without-particles", 0.4),
        _trial("u", "particles", "unseen", "all", 0.7),
        _trial("u", "particles", "unseen", "without-particles", 0.72),
    ]
    means = lofo.group_means(trials)
    assert means[("particles", "seen", 3, "all")] == pytest.approx(0.7)
    assert means[("particles", "seen", 3, "without-particles")] == pytest.approx(0.5)
    errors = lofo.drop_errors(trials)
    # case a: variance of (-0.2, -0.4) = 0.02, over 2 draws 0.01; case b adds none; / 2 cases
    assert errors[("particles", "seen", 3)] == pytest.approx(0.1 / 2)
    assert errors[("particles", "unseen", 3)] == 0.0  # one draw: no spread to tell
    lines = lofo.format_table(means, errors).splitlines()
    assert lines[1].split() == ["particles", "seen", "3", "0.700", "0.500", "-0.200", "0.050"]
    assert lines[2].split() == ["particles", "unseen", "3", "0.700", "0.720", "+0.020", "0.000"]


def test_a_checkpoint_is_not_a_trained_encoder(tmp_path):
    assert not lofo.trained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"metadata": {"partial": True}}))
    assert not lofo.trained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"metadata": {"best": {}}}))
    assert lofo.trained(tmp_path)


def test_lofo_trains_both_encoders_and_compares_them_on_the_group(tmp_path, capsys):
    """The whole command, with two training steps: the reference and the encoder without
    particles are trained, and each runs on the particle cases of every set."""
    code = lofo.main(
        [
            *("--dir", str(tmp_path), "--train", "--groups", "particles", "--steps", "2"),
            *("--draws", "1", "--size", "256", "--json", str(tmp_path / "lofo.json")),
        ]
    )
    assert code == 0
    for name in ("all", "without-particles"):
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert config["metadata"]["best"]["step"] == 2
    without = json.loads((tmp_path / "without-particles" / "config.json").read_text())
    assert without["metadata"]["train_config"]["leave_out"] == "particles"
    assert without["metadata"]["data"].endswith("without particles")
    printed = capsys.readouterr().out
    rows = {
        tuple(line.split()[:3]) for line in printed.splitlines() if line.startswith("particles")
    }
    assert {("particles", s, "3") for s in ("seen", "unseen", "real")} <= rows
    means = json.loads((tmp_path / "lofo.json").read_text())["means"]
    assert {m["method"] for m in means} == {"all", "without-particles"}
    assert all(0 <= m["miou"] <= 1 for m in means)


def test_lofo_refuses_what_it_cannot_run(tmp_path):
    with pytest.raises(SystemExit, match="--groups"):
        lofo.main(["--dir", str(tmp_path), "--groups", "grains"])
    with pytest.raises(SystemExit, match="--draws"):
        lofo.main(["--dir", str(tmp_path), "--draws", "0"])
    for ks in ("3,x", "0", ""):
        with pytest.raises(SystemExit, match="--ks"):
            lofo.main(["--dir", str(tmp_path), "--ks", ks])
    with pytest.raises(SystemExit, match="--steps"):
        lofo.main(["--dir", str(tmp_path), "--train", "--steps", "0"])
    with pytest.raises(FileNotFoundError, match="--train"):
        lofo.main(["--dir", str(tmp_path), "--groups", "textures"])
