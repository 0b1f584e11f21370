"""Training-recipe options: particle share, the broad particle family, inverted contrast."""

import numpy as np
import pytest

from workers.fewshot.chipping import normalise
from workers.fewshot.episodes import ScenePool
from workers.fewshot.sim import random_scene
from workers.fewshot.train import TrainConfig, main


@pytest.mark.parametrize(("share", "expect"), [(1.0, {"particles"}), (0.0, None)])
def test_particle_share_sets_the_chance_of_the_particle_family(share, expect):
    rng = np.random.default_rng(0)
    drawn = {random_scene(rng, size=64, particles=share).meta["family"] for _ in range(20)}
    if expect is None:
        assert "particles" not in drawn and len(drawn) == 4
    else:
        assert drawn == expect


def test_particle_share_respects_a_group_left_out():
    rng = np.random.default_rng(1)
    drawn = {
        random_scene(rng, size=64, particles=0.9, leave_out="particles").meta["family"]
        for _ in range(12)
    }
    assert "particles" not in drawn


def _kinds(scene):
    return [c for c in scene.meta["classes"] if c["kind"] == "particle"]


def test_broad_particles_span_sizes_and_pose_distinct_kinds():
    rng = np.random.default_rng(2)
    radii, narrow = [], []
    for _ in range(30):
        kinds = _kinds(random_scene(rng, size=96, particles=1.0, broad=True))
        assert 1 <= len(kinds) <= 3
        for i, a in enumerate(kinds):
            radii.append(a["radius_px"][0] / (0.4 if a["shape"] == "rod" else 1.0))
            for b in kinds[i + 1 :]:
                ra, rb = (k["radius_px"][0] for k in (a, b))
                assert (
                    a["shape"] != b["shape"]
                    or max(ra, rb) > 1.6 * min(ra, rb)
                    or abs(a["z"] - b["z"]) > 0.4
                )
    for _ in range(30):
        narrow += [k["radius_px"][0] for k in _kinds(random_scene(rng, size=96, particles=1.0))]
    # the committed family draws radii 6-30 px (rods: half-width 0.5 r); the broad one 5-45 px
    assert min(radii) < 8 and max(radii) > 35 > max(narrow)


@pytest.mark.parametrize(
    "options", [{"invert_fraction": 1.5}, {"invert_fraction": -0.1}, {"particle_share": 2.0}]
)
def test_recipe_fractions_outside_zero_to_one_are_refused(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        TrainConfig(**options)


def test_invert_fraction_shows_pool_scenes_in_inverted_contrast():
    scenes = []

    def source(rng, *, size):
        scenes.append(random_scene(rng, size=size, particles=1.0))
        return scenes[-1]

    cfg = TrainConfig(texture_fraction=0.0, pool_scene_size=64, invert_fraction=1.0)
    pool = ScenePool(cfg, source, np.random.default_rng(0), n=3)
    for (image, truth), scene in zip(pool.scenes, scenes, strict=True):
        np.testing.assert_allclose(image, 1.0 - normalise(scene.image), atol=1e-6)
        support, particle = image[truth == 0].mean(), image[truth > 0].mean()
        assert particle < support  # bright particles on carbon become dark ones


def test_the_default_recipe_inverts_nothing():
    cfg = TrainConfig(texture_fraction=0.0, pool_scene_size=64)
    pool = ScenePool(cfg, lambda rng, *, size: random_scene(rng, size=size, particles=1.0),
                     np.random.default_rng(0), n=3)  # fmt: skip
    for image, truth in pool.scenes:
        assert image[truth > 0].mean() > image[truth == 0].mean()


def test_the_command_line_takes_the_recipe_options(tmp_path, monkeypatch):
    seen = {}

    def fake_train(cfg, **_):
        seen["cfg"] = cfg
        raise SystemExit(0)  # stop before training: only the parsed recipe is checked

    monkeypatch.setattr("workers.fewshot.train.train", fake_train)
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--invert-fraction", "0.3", "--particle-share", "0.35",
              "--broad-particles"])  # fmt: skip
    cfg = seen["cfg"]
    assert (cfg.invert_fraction, cfg.particle_share, cfg.broad_particles) == (0.3, 0.35, True)
