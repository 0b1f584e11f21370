"""The selection set (workers.fewshot.selection): its images, its independence, its physics."""

import ast
from pathlib import Path

import numpy as np
import pytest

from workers.fewshot import selection
from workers.fewshot.bench.suites import SETS, set_of
from workers.fewshot.selection.bodies import shell, sphere, trace
from workers.fewshot.selection.materials import haadf_per_nm
from workers.fewshot.selection.scanning import haadf_signal
from workers.fewshot.selection.scene import Specimen
from workers.fewshot.selection.sem import SecondaryElectrons, secondary_yield

PACKAGE = Path(selection.__file__).parent
CASES = list(selection.SELECTION_CASES)
SMALL = (128, 160)


def test_every_case_is_a_described_particle_case():
    assert len(CASES) >= 6
    for name, case in selection.SELECTION_CASES.items():
        assert case.name == name and case.group == "particles"
        assert case.description and "\n" not in case.description
        assert case.pixel_size > 0 and case.pixel_unit == "nm"


@pytest.mark.parametrize("name", CASES)
def test_images_are_deterministic_per_seed_and_differ_across_seeds(name):
    a = selection.generate(name, seed=0, size=SMALL)
    b = selection.generate(name, seed=0, size=SMALL)
    c = selection.generate(name, seed=1, size=SMALL)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.truth, b.truth)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == a.truth.shape == SMALL
    assert a.image.dtype == np.float32 and a.truth.dtype == np.int32
    assert np.isfinite(a.image).all()
    assert a.truth.min() >= 0 and a.truth.max() < len(a.class_names)
    assert a.group == "particles" and a.pixel_unit == "nm"
    assert a.meta["case"] == name and a.meta["seed"] == 0


@pytest.mark.parametrize("name", CASES)
def test_every_class_is_present_on_every_seed(name):
    for seed in range(3):
        s = selection.generate(name, seed=seed, size=(256, 256))
        counts = np.bincount(s.truth.ravel(), minlength=len(s.class_names))
        assert len(s.class_names) == 3
        assert (counts >= 300).all(), (seed, counts.tolist())


def test_an_unknown_case_or_size_is_refused():
    with pytest.raises(KeyError, match="sel_hollow_vs_solid_bf"):
        selection.generate("u_core_shell_df")
    with pytest.raises(ValueError, match=r"64\.\.4096"):
        selection.generate(CASES[0], size=32)


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_the_package_imports_neither_the_training_simulator_nor_the_report_set():
    sources = sorted(PACKAGE.glob("*.py"))
    assert len(sources) >= 8
    for path in sources:
        for name in _imported_modules(path):
            assert not name.startswith("."), f"{path.name}: relative import {name}"
            assert not name.startswith(("workers.fewshot.sim", "workers.fewshot.unseen"))
            if name.startswith("workers"):  # the library only through the package itself
                assert name.startswith("workers.fewshot.selection."), f"{path.name}: {name}"
    # the check sees what it looks for: the simulator's own package imports it
    assert "workers.fewshot.selection.bodies.trace" in _imported_modules(PACKAGE / "canvas.py")
    sim_init = _imported_modules(PACKAGE.parent / "sim" / "__init__.py")
    assert "workers.fewshot.sim.cases.CASES" in sim_init


def test_the_suite_loads_with_labels_and_object_classes():
    suite = SETS["selection"]
    assert suite.cases() == {n: "particles" for n in CASES} and not suite.fixed
    sample = suite.load("sel_hollow_vs_solid_bf", 0, (256, 256), 32)
    assert sample.image.shape == (256, 256) and sample.labels.shape == (8, 8)
    assert list(sample.present) == [0, 1, 2]
    assert sample.object_classes == (1, 2)
    assert sample.truth is not None and sample.truth.shape == (256, 256)
    assert set_of("sel_clusters_vs_rafts_haadf") is suite


def test_case_names_are_unique_across_sets():
    names = [c for s in SETS.values() for c in s.cases()]
    assert len(names) == len(set(names))
    assert set(CASES) <= set(names)


def _mean_contrast(name: str) -> float:
    """Mean of the particle pixels over the mean of the support pixels, seeds 0-1."""
    ratios = []
    for seed in (0, 1):
        s = selection.generate(name, seed=seed, size=(256, 256))
        ratios.append(s.image[s.truth > 0].mean() / s.image[s.truth == 0].mean())
    return float(np.mean(ratios))


def test_bright_field_particles_are_darker_and_dark_field_ones_brighter():
    for name in ("sel_facets_vs_spheres_bf", "sel_hollow_vs_solid_bf"):
        assert _mean_contrast(name) < 0.9, name
    for name in ("sel_rods_vs_spheres_haadf", "sel_clusters_vs_rafts_haadf"):
        assert _mean_contrast(name) > 1.5, name
    assert _mean_contrast("sel_aggregates_vs_isolated_sem") > 1.5


def test_heavier_atoms_scatter_more_to_high_angles():
    t = np.array([2.0, 10.0, 40.0])
    gold, palladium, carbon = (haadf_per_nm(m, t) for m in ("gold", "palladium", "carbon"))
    assert (gold > 1.8 * palladium).all() and (palladium > 10 * carbon).all()
    assert gold[1] == pytest.approx(10.0, rel=0.1)  # in nm of gold, nearly linear when thin


def _one_particle(solid, size: int = 64) -> Specimen:
    """A specimen of one gold solid at the centre of a thin carbon film."""
    yy, xx = np.mgrid[0:size, 0:size] - size / 2 + 0.5
    thick, lo, hi = trace(solid, xx, yy)
    top = np.where(thick > 0, hi - lo[np.isfinite(lo)].min(), 0.0)
    film = np.full((size, size), 3.0, np.float32)
    gold = thick.astype(np.float32) * 0.5
    truth = (thick > 0).astype(np.int32)
    return Specimen({"gold": gold, "carbon": film}, top.astype(np.float32), truth, ["c", "p"])


def test_a_hollow_particle_is_brightest_at_its_rim_a_solid_one_at_its_centre():
    hollow = haadf_signal(_one_particle(shell(sphere(20.0), sphere(16.0))).thickness)
    solid = haadf_signal(_one_particle(sphere(20.0)).thickness)
    centre, rim, outside = hollow[32, 32], hollow[32, 32 + 17], hollow[32, 60]
    assert rim > 1.5 * centre > outside
    assert solid[32, 32] > solid[32, 32 + 17] > solid[32, 60]


def test_secondary_electrons_brighten_edges_over_a_flat_top_and_the_substrate():
    spec = _one_particle(sphere(16.0))
    se = SecondaryElectrons(shadow=0.0)
    out, _ = secondary_yield(np.random.default_rng(0), spec, se)
    centre, rim, substrate = out[32, 32], out[32, 32 + 14], out[32, 60]
    assert rim > 1.5 * centre and centre > substrate
