"""The selection set (workers.fewshot.selection): its images, its independence, its physics."""

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage, stats

from workers.fewshot import selection
from workers.fewshot.bench.suites import SETS, set_of
from workers.fewshot.selection.bodies import shell, sphere, trace
from workers.fewshot.selection.materials import haadf_per_nm
from workers.fewshot.selection.scanning import haadf_signal
from workers.fewshot.selection.scene import Specimen
from workers.fewshot.selection.sem import SecondaryElectrons, secondary_yield

PACKAGE = Path(selection.__file__).parent
CASES = list(selection.SELECTION_CASES)
GROUPS = {n: c.group for n, c in selection.SELECTION_CASES.items()}
SMALL = (128, 160)


def test_every_case_is_described_and_every_group_is_covered():
    assert len(CASES) >= 13 and all(name.startswith("sel_") for name in CASES)
    for name, case in selection.SELECTION_CASES.items():
        assert case.name == name and case.description and "\n" not in case.description
        assert case.pixel_size > 0
        assert case.pixel_unit == ("px" if case.group == "textures" else "nm")
    count = {g: list(GROUPS.values()).count(g) for g in set(GROUPS.values())}
    assert set(count) == {"particles", "lattices", "textures"}
    assert count["particles"] >= 6 and count["lattices"] >= 4 and count["textures"] >= 3
    lattices = [c for c in selection.SELECTION_CASES.values() if c.group == "lattices"]
    assert all(0.01 <= c.pixel_size <= 0.05 for c in lattices)  # atomic resolution


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
    case = selection.SELECTION_CASES[name]
    assert a.group == case.group and a.pixel_unit == case.pixel_unit
    assert a.pixel_size == case.pixel_size
    assert a.meta["case"] == name and a.meta["seed"] == 0


@pytest.mark.parametrize("name", CASES)
def test_every_class_is_present_on_every_seed(name):
    # particles at 256^2; lattices and textures lay out regions in nm or px, checked at 512^2,
    # also as the majority of at least 5 chips of 32 px (what the benchmark scores)
    size = 256 if GROUPS[name] == "particles" else 512
    for seed in range(3):
        s = selection.generate(name, seed=seed, size=(size, size))
        k = len(s.class_names)
        counts = np.bincount(s.truth.ravel(), minlength=k)
        assert k == 3 if GROUPS[name] == "particles" else k >= 2
        assert (counts >= 300).all(), (seed, counts.tolist())
        if GROUPS[name] != "particles":
            n = size // 32
            chips = s.truth.reshape(n, 32, n, 32).transpose(0, 2, 1, 3).reshape(n * n, -1)
            share = np.stack([(chips == c).mean(1) for c in range(k)], 1)
            majority = np.bincount(share.argmax(1)[share.max(1) > 0.5], minlength=k)
            assert (majority >= 5).all(), (seed, majority.tolist())


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
    assert suite.cases() == GROUPS and not suite.fixed
    assert suite.title == "selection (selection)"
    sample = suite.load("sel_hollow_vs_solid_bf", 0, (256, 256), 32)
    assert sample.image.shape == (256, 256) and sample.labels.shape == (8, 8)
    assert list(sample.present) == [0, 1, 2]
    assert sample.object_classes == (1, 2)
    assert sample.truth is not None and sample.truth.shape == (256, 256)
    assert set_of("sel_clusters_vs_rafts_haadf") is suite
    texture = suite.load("sel_speckle_grains_tex", 0, (256, 256), 32)
    assert texture.object_classes == () and texture.labels.shape == (8, 8)
    assert set_of("sel_twin_lamellae_hrtem") is suite


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


def _ring_power(image: np.ndarray, mask: np.ndarray, radius: float, width: float = 1.5):
    """Mean power at |q| = ``radius`` cycles per image side of the masked, mean-free region."""
    h, w = image.shape
    f = (image - image[mask].mean()) * mask * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(f)) ** 2
    q = np.hypot(np.fft.fftfreq(h)[:, None] * h, np.fft.fftfreq(w)[None, :] * w)
    return power[np.abs(q - radius) < width].mean()


@pytest.mark.parametrize("seed", [0, 1])
def test_only_the_ordered_alloy_shows_superlattice_reflections(seed):
    s = selection.generate("sel_ordered_disordered_haadf", seed=seed, size=(512, 512))
    a = 0.3749 / s.pixel_size  # the Cu3Au cell; every column a / 2 from the next
    ratios = {}
    for c, name in enumerate(s.class_names):
        region = ndimage.binary_erosion(s.truth == c, iterations=16)
        gaps = [_ring_power(s.image, region, 512 / a * f) for f in (1.2, 1.7)]  # no reflection
        background = np.mean(gaps)
        superlattice = _ring_power(s.image, region, 512 / a) / background  # (100)
        fundamental = _ring_power(s.image, region, 512 / (a / 2)) / background  # (200)
        ratios[name] = (superlattice, fundamental)
    assert ratios["ordered"][0] > 4 and ratios["disordered"][0] < 2, ratios
    assert ratios["ordered"][1] > 4 and ratios["disordered"][1] > 4, ratios


def _centred_spectrum(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Power spectrum (fftshift-ed) of the masked, mean-free, Hann-windowed region."""
    h, w = image.shape
    f = (image - image[mask].mean()) * mask * np.outer(np.hanning(h), np.hanning(w))
    return np.fft.fftshift(np.abs(np.fft.fft2(f)) ** 2)


def _reflected(power: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """A centred spectrum reflected across the line through its centre along ``direction``
    (dy, dx): the spectrum of the image reflected across that line."""
    h, w = power.shape
    d = direction / np.linalg.norm(direction)
    flip = 2 * np.outer(d, d) - np.eye(2)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    src = np.tensordot(flip, np.stack([yy - h // 2, xx - w // 2]), 1)
    return ndimage.map_coordinates(power, [src[0] + h // 2, src[1] + w // 2], order=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_twin_lamellae_are_mirror_images_across_their_boundaries(seed):
    s = selection.generate("sel_twin_lamellae_hrtem", seed=seed, size=(512, 512))
    gy, gx = np.gradient(ndimage.gaussian_filter(s.truth.astype(float), 4))
    edge = np.hypot(gy, gx) > 0.02
    g = np.stack([gy[edge], gx[edge]])
    normal = np.linalg.eigh(g @ g.T)[1][:, -1]  # the boundaries are parallel
    trace = np.array([normal[1], -normal[0]])
    matrix, twin = (
        _centred_spectrum(s.image, ndimage.binary_erosion(s.truth == c, iterations=8))
        for c in (0, 1)
    )
    q = np.hypot(*(np.mgrid[0:512, 0:512] - 256))
    band = (q > 512 * s.pixel_size / 0.30) & (q < 512 * s.pixel_size / 0.12)  # 0.12-0.30 nm

    def log(p):
        return np.log(p[band] + 1e-9)

    # the {111} ring (0.2355 nm) is where the lattice's power is
    ring = np.abs(q - 512 * s.pixel_size / 0.2355) < 2
    assert matrix[ring].mean() > 5 * matrix[band & ~ring].mean()
    same = np.corrcoef(log(twin), log(matrix))[0, 1]
    mirrored = np.corrcoef(log(twin), log(_reflected(matrix, trace)))[0, 1]
    assert mirrored > same + 0.05, (same, mirrored)


def _patch_spectra(image: np.ndarray, truth: np.ndarray, cls: int, size: int = 32):
    """Hann-windowed power spectra (n, size, size) of the patches lying inside class ``cls``."""
    inside = ndimage.binary_erosion(truth == cls, iterations=2)
    win = np.outer(np.hanning(size), np.hanning(size))
    out = []
    for y in range(0, image.shape[0] - size + 1, size // 2):
        for x in range(0, image.shape[1] - size + 1, size // 2):
            if inside[y : y + size, x : x + size].all():
                p = image[y : y + size, x : x + size]
                out.append(np.abs(np.fft.fft2((p - p.mean()) * win)) ** 2)
    return np.array(out)


def _moments(power: np.ndarray) -> tuple[float, float]:
    """rms spatial frequency of a (size, size) power spectrum and its anisotropy (the ratio of
    the rms frequencies along its principal axes)."""
    size = power.shape[0]
    qy, qx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    q = np.stack([qy, qx])
    m = np.einsum("iyx,jyx,yx->ij", q, q, power) / power.sum()
    low, high = np.linalg.eigvalsh(m)
    return float(np.sqrt(low + high)), float(np.sqrt(high / low))


@pytest.mark.parametrize("name", ["sel_microstructures_tex", "sel_speckle_grains_tex"])
def test_matched_textures_share_mean_and_std_but_not_their_spectra(name):
    s = selection.generate(name, seed=0, size=(512, 512))
    k = len(s.class_names)
    means = np.array([s.image[s.truth == c].mean() for c in range(k)])
    stds = np.array([s.image[s.truth == c].std() for c in range(k)])
    assert np.ptp(means) < 0.05 * stds.mean() and np.ptp(stds) < 0.03 * stds.mean()
    spectra = {
        n: _moments(_patch_spectra(s.image, s.truth, c).mean(0))
        for c, n in enumerate(s.class_names)
    }
    if name == "sel_speckle_grains_tex":
        # smaller grains, higher frequencies; an elongated pupil, an anisotropic spectrum
        assert spectra["fine speckle"][0] > 1.2 * spectra["coarse speckle"][0], spectra
        assert spectra["streaked speckle"][1] > 1.3, spectra
        assert spectra["fine speckle"][1] < 1.1 and spectra["coarse speckle"][1] < 1.1, spectra
    else:
        # the eutectic's plates are closer than any other structure's features
        others = [v[0] for n, v in spectra.items() if n != "lamellar eutectic"]
        assert spectra["lamellar eutectic"][0] > 1.15 * max(others), spectra


def test_convection_planforms_share_a_wavelength_and_differ_in_skewness():
    s = selection.generate("sel_convection_patterns_tex", seed=0, size=(384, 384))
    skew, rms_q = {}, {}
    for c, n in enumerate(s.class_names):
        inside = ndimage.binary_erosion(s.truth == c, iterations=6)
        skew[n] = stats.skew(s.image[inside])
        rms_q[n] = _moments(_patch_spectra(s.image, s.truth, c).mean(0))[0]
    assert skew["spots"] > 0.3 and skew["holes"] < -0.3 and abs(skew["stripes"]) < 0.2, skew
    assert max(rms_q.values()) < 1.15 * min(rms_q.values()), rms_q
