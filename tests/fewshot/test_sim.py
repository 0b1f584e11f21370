"""Simulator: determinism, shapes, truth consistent with what is drawn, dose and noise, textures."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage

from workers.fewshot import sim
from workers.fewshot.sim.imaging import ImagingConfig

ALL_CASES = [*sim.CASES, *sim.TEXTURE_CASES]
CLEAN = ImagingConfig.clean()


def test_registry_has_the_benchmark_cases():
    groups = {name: spec.group for name, spec in sim.CASES.items()}
    assert len(groups) >= 10
    assert set(groups.values()) == {"lattices", "particles"}
    assert {spec.group for spec in sim.TEXTURE_CASES.values()} == {"textures"}
    assert len(sim.TEXTURE_CASES) >= 3
    assert (
        sim.CASES["sto_ge_low_dose"].imaging.dose < sim.CASES["sto_ge_interface"].imaging.dose / 10
    )


@pytest.mark.parametrize("name", ALL_CASES)
def test_every_case_generates_with_contract_types(name):
    s = sim.generate(name, seed=3, size=(128, 160))
    assert s.image.shape == s.truth.shape == (128, 160)
    assert s.image.dtype == np.float32 and s.truth.dtype == np.int32
    assert np.isfinite(s.image).all()
    assert s.truth.min() >= 0 and s.truth.max() < len(s.class_names)
    assert len(np.unique(s.truth)) >= 2
    assert s.group == sim.CASES.get(name, sim.TEXTURE_CASES.get(name)).group
    assert s.pixel_size > 0 and s.pixel_unit in ("nm", "px")
    assert len(s.meta["classes"]) == len(s.class_names)


def test_generate_is_deterministic_and_seeded():
    a = sim.generate("polycrystal", seed=5, size=96)
    b = sim.generate("polycrystal", seed=5, size=96)
    c = sim.generate("polycrystal", seed=6, size=96)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert not np.array_equal(a.image, c.image)


def test_unknown_case_is_rejected():
    with pytest.raises(KeyError, match="unknown case"):
        sim.generate("no_such_case", seed=0)


def _interior(mask: np.ndarray, margin: int) -> np.ndarray:
    return ndimage.binary_erosion(mask, iterations=margin) if margin else mask


@pytest.mark.parametrize("name", [n for n, s in sim.CASES.items() if s.group == "lattices"])
def test_lattice_region_means_match_generating_parameters(name):
    """Inside each truth region the mean intensity equals the analytic mean of its phase."""
    s = sim.generate(name, seed=1, size=256, imaging=CLEAN)
    checked = 0
    for c, info in enumerate(s.meta["classes"]):
        inner = _interior(s.truth == c, 6)
        if inner.sum() < 3000:  # too few unit cells to average the columns
            continue
        measured = float(s.image[inner].mean())
        expected = info["expected_mean"]
        if isinstance(expected, list):  # grains of one class differ (thickness per grain)
            assert min(expected) * 0.94 <= measured <= max(expected) * 1.06, (c, info)
        else:
            assert measured == pytest.approx(expected, rel=0.06, abs=0.005), (c, info)
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("name", [n for n, s in sim.CASES.items() if s.group == "particles"])
def test_particle_truth_holds_the_particles(name):
    """Particle masks are bright by their material contrast; support stays at its own level."""
    s = sim.generate(name, seed=2, size=256, imaging=CLEAN)
    classes = s.meta["classes"]
    support = float(s.image[_interior(s.truth == 0, 2)].mean())
    assert support == pytest.approx(classes[0]["expected_mean"], rel=0.05)
    for c in range(1, len(classes)):
        mask = s.truth == c
        measured = float(s.image[mask].mean())
        # thickness drawn per particle (z_spread): the mean of a few particles scatters more
        rel = 0.08 if classes[c].get("z_spread", [1, 1]) == [1.0, 1.0] else 0.35
        assert measured == pytest.approx(classes[c]["expected_mean"], rel=rel), (c, classes[c])


def test_particle_shapes_follow_their_kind():
    """Round masks are discs, rod masks are elongated."""
    from skimage.measure import label, regionprops

    s = sim.generate("particles_round_rod", seed=0, size=384, imaging=CLEAN)
    round_id, rod_id = s.class_names.index("round"), s.class_names.index("rod")
    interior = np.zeros_like(s.truth, bool)
    interior[40:-40, 40:-40] = True  # ignore particles cut by the border
    for cls, lo, hi in ((round_id, 1.0, 1.15), (rod_id, 1.9, 4.0)):
        props = [
            p
            for p in regionprops(label(s.truth == cls))
            if interior[tuple(np.round(p.centroid).astype(int))]
        ]
        assert props, cls
        ratios = [p.axis_major_length / max(p.axis_minor_length, 1) for p in props]
        assert lo <= np.median(ratios) <= hi, (cls, ratios)


def _peak_frequencies(window: np.ndarray, n: int = 6) -> np.ndarray:
    """The ``n`` strongest non-DC Fourier peaks of a window, (n, 2) as (fx, fy) in cycles/px."""
    w = window - window.mean()
    w = w * np.outer(np.hanning(w.shape[0]), np.hanning(w.shape[1]))
    size = 256  # zero padding interpolates the spectrum to 1/256 cycles/px
    power = np.fft.fftshift(np.abs(np.fft.fft2(w, (size, size))) ** 2)
    f = np.fft.fftshift(np.fft.fftfreq(size))
    fy, fx = np.meshgrid(f, f, indexing="ij")
    power[np.hypot(fx, fy) < 0.04] = 0  # ignore the low-frequency envelope
    peaks = (power == ndimage.maximum_filter(power, size=7)) & (power > 0)
    order = np.argsort(power[peaks])[::-1][:n]
    return np.column_stack([fx[peaks][order], fy[peaks][order]])


def _distance_to_reciprocal_lattice(g: np.ndarray, info: dict) -> float:
    """Distance (cycles/px) from g to the nearest reciprocal lattice point of a lattice class."""
    lx, ly = info["cell_px"]
    t = math.radians(info["angle_deg"])
    b1 = np.array([math.cos(t), math.sin(t)]) / lx
    b2 = np.array([-math.sin(t), math.cos(t)]) / ly
    hk = np.array([(h, k) for h in range(-4, 5) for k in range(-4, 5) if (h, k) != (0, 0)])
    points = hk[:, :1] * b1 + hk[:, 1:] * b2
    return float(np.min(np.hypot(*(points - g).T)))


@pytest.mark.parametrize(
    "name", ["subtle_rotation", "lattice_spacing", "twins", "sto_ge_interface"]
)
def test_spectral_peak_in_each_region_belongs_to_its_class(name):
    """The lattice inside each truth region is the one generated for that class, no other."""
    s = sim.generate(name, seed=4, size=384, imaging=CLEAN)
    lattices = {c: i for c, i in enumerate(s.meta["classes"]) if i["kind"] == "lattice"}
    assert len(lattices) >= 2
    for c, info in lattices.items():
        # Pad with background so the image border counts as the region's edge.
        depth = ndimage.distance_transform_edt(np.pad(s.truth == c, 1))[1:-1, 1:-1]
        cy, cx = np.unravel_index(np.argmax(depth), depth.shape)
        half = int(min(depth[cy, cx] - 1, 40))
        assert half >= 20, f"class {c} region too small for a spectrum"
        peaks = _peak_frequencies(s.image[cy - half : cy + half, cx - half : cx + half])
        assert len(peaks) >= 3, f"no lattice peaks inside class {c}"
        own = [_distance_to_reciprocal_lattice(g, info) for g in peaks]
        assert max(own) < 0.004, (c, peaks, own)
        # Twins share the reflections of their common planes: at least one strong peak must
        # be foreign to every other class's lattice.
        for other, other_info in lattices.items():
            if other != c:
                foreign = [_distance_to_reciprocal_lattice(g, other_info) for g in peaks]
                assert max(foreign) > 0.006, (c, other, foreign)


def test_dose_sets_the_shot_noise():
    """Counts / dose estimate the clean image, with variance mean/dose + read_noise^2/dose^2."""
    name = "crystal_amorphous"
    spec = sim.CASES[name]
    clean = sim.generate(
        name, seed=0, size=192, imaging=dataclasses.replace(spec.imaging, dose=None)
    ).image
    rms = {}
    for dose in (10.0, 1000.0):
        noisy = sim.generate(name, seed=0, size=192, dose=dose).image / dose
        residual = noisy - clean
        assert noisy.mean() == pytest.approx(clean.mean(), rel=0.02)
        expected_var = clean.mean() / dose + spec.imaging.read_noise**2 / dose**2
        assert residual.var() == pytest.approx(expected_var, rel=0.1)
        rms[dose] = residual.std()
    assert 8 < rms[10.0] / rms[1000.0] < 14


def test_scan_distortion_moves_truth_with_the_image():
    """Strong line jitter and wobble: vacuum truth stays dark, crystal truth stays lit."""
    shaky = dataclasses.replace(CLEAN, jitter=2.0, wobble=3.0, drift=0.02)
    s = sim.generate("sto_ge_interface", seed=0, size=192, imaging=shaky)
    assert s.meta["imaging"]["max_shift_px"] > 3
    vacuum = s.truth == s.class_names.index("vacuum")
    assert s.image[_interior(vacuum, 2)].max() < 0.01
    assert s.image[_interior(~vacuum, 2)].min() > 0.02


def test_random_scenes_are_varied_and_reproducible():
    scenes = [sim.random_scene(np.random.default_rng(i), size=(96, 128)) for i in range(12)]
    again = sim.random_scene(np.random.default_rng(3), size=(96, 128))
    np.testing.assert_array_equal(again.image, scenes[3].image)
    assert len({s.meta["family"] for s in scenes}) >= 3
    assert len({round(s.meta["imaging"]["dose"]) for s in scenes}) == len(scenes)
    for s in scenes:
        assert s.image.shape == s.truth.shape == (96, 128) and s.image.dtype == np.float32
        assert s.truth.max() < len(s.class_names) == len(set(s.class_names))
        assert len(np.unique(s.truth)) >= 2


def _texture_levels(name: str) -> np.ndarray:
    """The values a standardised 8-bit texture can take after the mosaic's contrast mapping."""
    from skimage import data

    raw = getattr(data, name)().astype(np.float32)
    mean, std = raw.mean(), raw.std()
    levels = (np.arange(256, dtype=np.float32) - mean) / std
    return np.sort(levels * np.float32(30.0) + np.float32(100.0))


def _on_levels(values: np.ndarray, levels: np.ndarray, tol: float = 2e-3) -> np.ndarray:
    i = np.clip(np.searchsorted(levels, values), 1, len(levels) - 1)
    return np.minimum(np.abs(values - levels[i - 1]), np.abs(values - levels[i])) < tol


@pytest.mark.parametrize("name", [n for n in sim.TEXTURE_CASES if "_gain" not in n])
def test_texture_mosaic_truth_names_the_source_texture(name):
    """Every pixel labelled with a texture carries one of that texture's grey levels."""
    s = sim.generate(name, seed=0, size=160)
    assert s.group == "textures"
    for c, texture in enumerate(s.class_names):
        values = s.image[s.truth == c]
        assert values.size > 0
        assert _on_levels(values, _texture_levels(texture)).all(), texture
        for other in s.class_names:
            if other != texture:
                assert _on_levels(values, _texture_levels(other)).mean() < 0.05, (texture, other)


def test_gain_mosaics_vary_brightness_and_contrast_within_a_class():
    """In the "_gain" mosaics grains of one texture differ in brightness and contrast, drawn
    independently of the class, while the plain mosaic's grains of a texture look alike."""
    from scipy import ndimage

    def spread(name: str) -> tuple[float, float]:
        s = sim.generate(name, seed=0, size=384, imaging=CLEAN)
        means, stds = [], []
        for c in range(len(s.class_names)):
            grains, n = ndimage.label(s.truth == c)
            for g in range(1, n + 1):
                values = s.image[grains == g]
                if values.size > 2000:
                    means.append(values.mean())
                    stds.append(values.std() / np.std(s.image[s.truth == c]))
        return float(np.std(means)), float(np.max(stds) / np.min(stds))

    plain_mean, plain_ratio = spread("textures_three")
    gain_mean, gain_ratio = spread("textures_three_gain")
    assert gain_mean > 3 * plain_mean and gain_ratio > 1.5 * plain_ratio
    for name in ("textures_three_gain", "textures_four_gain_noisy"):
        assert sim.generate(name, seed=0, size=96).image.shape == (96, 96)


def test_thickness_spread_varies_particle_brightness():
    """z_spread draws a thickness per particle: peak brightness of one class varies."""
    from scipy import ndimage

    peaks = {}
    for name in ("particles_round_faceted", "particles_thickness_varies"):
        s = sim.generate(name, seed=0, size=384, imaging=CLEAN)
        grains, n = ndimage.label(s.truth == 1)
        peaks[name] = np.asarray(ndimage.maximum(s.image, grains, range(1, n + 1)))
    cv = {k: float(v.std() / v.mean()) for k, v in peaks.items()}
    assert cv["particles_thickness_varies"] > 2 * cv["particles_round_faceted"], cv
