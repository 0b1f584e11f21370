"""Particle instances, shape measurements and size statistics (workers.fewshot.objects)."""

import json
import math

import numpy as np
import pytest

from workers.fewshot.objects import (
    MAX_PIXELS,
    instance_rows,
    instances,
    instances_table_csv,
    one_class_each,
    size_distribution,
)


def disc(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r * r


def ellipse(shape, cy, cx, a, b, angle_deg):
    """Semi-axes a (along angle_deg from +x, counter-clockwise as displayed) and b."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    t = math.radians(angle_deg)
    x, y = xx - cx, -(yy - cy)  # y up, as displayed
    u = math.cos(t) * x + math.sin(t) * y
    v = -math.sin(t) * x + math.cos(t) * y
    return (u / a) ** 2 + (v / b) ** 2 < 1


def test_two_touching_discs_split_into_two_with_their_areas():
    left, right = disc((60, 100), 30.2, 30.4, 12), disc((60, 100), 30.2, 54.4, 12)
    labels = (left | right).astype(np.int32)
    inst = instances(labels, 1)
    assert inst.n == 2
    np.testing.assert_allclose(sorted(inst.area_px), [left.sum(), right.sum()], rtol=0.05)
    assert not inst.edge.any()
    # Without splitting they are one component.
    assert instances(labels, 1, split="none").n == 1


def test_small_touching_discs_and_unequal_pair_split():
    small = disc((40, 60), 20, 20, 4) | disc((40, 60), 20, 28, 4)
    assert instances(small.astype(int), 1).n == 2
    unequal = disc((80, 120), 40.3, 30.2, 16) | disc((80, 120), 40.3, 50.2, 4)
    assert instances(unequal.astype(int), 1).n == 2


@pytest.mark.parametrize("angle", [30.0, -60.0, 90.0])
def test_an_ellipse_is_one_instance_with_its_orientation_and_aspect(angle):
    from skimage.measure import regionprops

    mask = ellipse((100, 100), 50.3, 49.6, 30, 10, angle)
    inst = instances(mask.astype(np.int32), 1)
    assert inst.n == 1
    assert abs((inst.orientation_deg[0] - angle + 90) % 180 - 90) < 1.5
    assert inst.aspect_ratio[0] == pytest.approx(3.0, rel=0.05)
    assert inst.major_axis_px[0] == pytest.approx(60, rel=0.03)
    assert inst.feret_max_px[0] == pytest.approx(
        regionprops(mask.astype(int))[0].feret_diameter_max, abs=1
    )
    assert inst.feret_min_px[0] == pytest.approx(20, abs=1.5)
    assert 0.5 < inst.circularity[0] < 0.8  # 4 pi A / P^2 of a 3:1 ellipse: 0.64


def test_thin_diagonal_ellipse_and_rod_stay_whole():
    thin = ellipse((60, 60), 30, 30, 12, 2.6, 40)
    assert instances(thin.astype(int), 1).n == 1
    rod = np.zeros((40, 120), np.int32)
    rod[14:26, 10:110] = 1
    assert instances(rod, 1).n == 1


def test_disc_measurements():
    mask = disc((80, 80), 40.3, 39.8, 15)
    inst = instances(mask.astype(np.int32) * 2, 2, intensity=np.where(mask, 5.0, 1.0))
    assert inst.class_id == 2 and inst.n == 1
    assert inst.equivalent_diameter_px[0] == pytest.approx(30, rel=0.02)
    assert inst.feret_min_px[0] == pytest.approx(30, abs=1.5)
    assert inst.feret_max_px[0] == pytest.approx(30, abs=1.5)
    assert inst.circularity[0] == pytest.approx(1.0, abs=0.05)
    assert (inst.centroid_y[0], inst.centroid_x[0]) == pytest.approx((40.3, 39.8), abs=0.1)
    assert inst.mean_intensity[0] == 5.0


def test_physical_units_areas_in_nm2_and_density_per_um2():
    labels = np.zeros((100, 100), np.int32)
    labels |= disc((100, 100), 30, 30, 8)
    labels |= disc((100, 100), 70, 60, 8)
    inst = instances(labels, 1, pixel_size=0.5, pixel_unit="nm")
    rows = instance_rows(inst)
    assert rows[0]["area_nm2"] == pytest.approx(rows[0]["area_px"] * 0.25)
    assert rows[0]["equivalent_diameter_nm"] == pytest.approx(rows[0]["equivalent_diameter_px"] / 2)
    dist = size_distribution(inst, n_boot=0)
    # 100 x 100 px at 0.5 nm = 50 x 50 nm = 0.0025 µm^2, two interior particles.
    assert dist["field_area"] == pytest.approx(0.0025)
    assert dist["number_density"] == pytest.approx(2 / 0.0025)
    assert dist["number_density_unit"] == "1/µm^2" and dist["length_unit"] == "nm"
    assert dist["median"] == pytest.approx(np.median(inst.equivalent_diameter_px) / 2)
    # The same calibration in ångström and micrometres gives the same numbers.
    for size, unit in [(5.0, "Å"), (5.0, "A"), (0.0005, "µm"), (500.0, "pm")]:
        other = size_distribution(inst, pixel_size=size, pixel_unit=unit, n_boot=0)
        assert other["number_density"] == pytest.approx(dist["number_density"])
        assert other["median"] == pytest.approx(dist["median"])
    # Uncalibrated: px and per px^2.
    plain = size_distribution(instances(labels, 1), n_boot=0)
    assert plain["length_unit"] == "px" and plain["number_density"] == pytest.approx(2 / 1e4)


def test_edge_flag_image_border_and_uncovered_margin():
    labels = np.zeros((80, 80), np.int32)
    labels |= disc((80, 80), 2, 40, 6)  # cut by the top edge
    labels |= disc((80, 80), 40, 40, 6)  # interior
    labels |= disc((80, 80), 64, 60, 6)  # touches the uncovered margin below (row 70)
    labels[70:, :] = -1
    inst = instances(labels, 1)
    assert inst.n == 3
    by_row = dict(zip(np.round(inst.centroid_y).astype(int), inst.edge, strict=True))
    assert by_row[40] == np.False_ and inst.n_edge == 2
    dist = size_distribution(inst, n_boot=0)
    assert (dist["n_total"], dist["n_edge"], dist["n_measured"]) == (3, 2, 1)
    assert size_distribution(inst, exclude_edge=False, n_boot=0)["n_measured"] == 3
    # Density: interior + half the edge-touching particles, over covered pixels only.
    assert dist["number_density"] == pytest.approx(2 / (70 * 80))


def field_of_particles(n=40, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros((300, 300), np.int32)
    for y, x in zip(np.arange(n) // 7 * 40 + 25, np.arange(n) % 7 * 40 + 25, strict=True):
        labels |= disc(labels.shape, y, x, rng.uniform(4, 14))
    return labels


def test_histogram_sums_to_count_and_bootstrap_contains_median():
    inst = instances(field_of_particles(), 1)
    dist = size_distribution(inst, n_boot=300, seed=1)
    assert sum(dist["histogram"]["counts"]) == dist["n_measured"] == inst.n - inst.n_edge
    assert len(dist["histogram"]["edges"]) == len(dist["histogram"]["counts"]) + 1
    low, high = dist["bootstrap"]["intervals"]["median"]
    assert low <= dist["median"] <= high and low < high
    for key in ("mean", "std", "p10", "p25", "p75", "p90"):
        assert len(dist["bootstrap"]["intervals"][key]) == 2
    assert dist["p10"] <= dist["p25"] <= dist["median"] <= dist["p75"] <= dist["p90"]
    json.dumps(dist)
    # Same seed, same intervals; explicit edges count what falls outside.
    assert size_distribution(inst, n_boot=300, seed=1) == dist
    clipped = size_distribution(inst, n_boot=0, bins=[10, 20])
    assert (
        sum(clipped["histogram"]["counts"]) + clipped["histogram"]["outside"]
        == inst.n - inst.n_edge
    )


@pytest.mark.parametrize(("n", "n_boot"), [(300, 200), (70_000, 20)])
def test_bootstrap_intervals_are_percentiles_of_the_resamples_statistics(n, n_boot):
    """Each interval is the percentile interval of one statistic over the resamples (the
    particles drawn with replacement from the seeded generator): computed directly here on
    diameters with ties (equal areas), with few particles (16-bit ranks sorted to find the
    percentiles) and with more than 65,536."""
    from workers.fewshot.objects.stats import _bootstrap

    values = np.sqrt(4 * np.random.default_rng(5).integers(10, 400, n) / np.pi)
    sample = values[np.random.default_rng(7).integers(0, n, (n_boot, n))]
    stats = {"mean": sample.mean(1), "std": sample.std(1, ddof=1)}
    percents = {"p10": 10, "p25": 25, "median": 50, "p75": 75, "p90": 90}
    stats |= {k: np.percentile(sample, q, axis=1) for k, q in percents.items()}
    got = _bootstrap(values, n_boot, 7, 0.95)
    assert list(got) == list(stats)
    for key, v in stats.items():
        assert got[key] == pytest.approx(np.percentile(v, [2.5, 97.5]), rel=1e-14, abs=0)


def test_table_rows_and_csv():
    inst = instances(field_of_particles(n=5), 1, pixel_size=2.0, pixel_unit="nm")
    rows = instance_rows(inst)
    assert [r["id"] for r in rows] == list(range(1, inst.n + 1))
    json.dumps(rows)
    text = instances_table_csv(inst).splitlines()
    assert len(text) == inst.n + 1 and text[0].startswith("id,class_id,area_px")
    assert "area_nm2" in text[0]
    assert instances_table_csv(instances(np.zeros((5, 5), np.int32), 1)).count("\n") == 1


def test_empty_and_small_objects():
    labels = np.zeros((20, 20), np.int32)
    labels[2, 2] = 1  # a 1 px speck, under the default min_area_px
    inst = instances(labels, 1)
    assert inst.n == 0
    assert instances(labels, 1, min_area_px=1).n == 1
    dist = size_distribution(inst)
    assert dist["n_total"] == 0 and dist["median"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_area_px": 0}, "min_area_px"),
        ({"min_area_px": 10**9}, "min_area_px"),
        ({"neck": 1.5}, "neck"),
        ({"neck": 0}, "neck"),
        ({"min_peak_px": 0.1}, "min_peak_px"),
        ({"smooth": 50}, "smooth"),
        ({"split": "magic"}, "split"),
        ({"pixel_size": -1.0, "pixel_unit": "nm"}, "pixel_size"),
        ({"pixel_size": 1.0, "pixel_unit": "furlong"}, "unit"),
        ({"intensity": np.zeros((3, 3))}, "intensity"),
    ],
)
def test_bounded_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        instances(np.zeros((10, 10), np.int32), 1, **kwargs)


def test_bounded_statistics_and_maps_are_rejected():
    inst = instances(field_of_particles(n=3), 1)
    for kwargs, message in [
        ({"n_boot": 10**6}, "n_boot"),
        ({"bins": 0}, "bins"),
        ({"bins": 10**5}, "bins"),
        ({"bins": [3, 2, 1]}, "increasing"),
        ({"bins": "many"}, "bins"),
        ({"ci": 1.0}, "ci"),
    ]:
        with pytest.raises(ValueError, match=message):
            size_distribution(inst, **kwargs)
    huge = np.broadcast_to(np.zeros(1, np.int32), (MAX_PIXELS // 1000 + 1, 1001))
    with pytest.raises(ValueError, match="pixels"):
        instances(huge, 1)
    with pytest.raises(ValueError, match="integer"):
        instances(np.zeros((4, 4)), 1)


def test_several_classes_found_on_their_union_with_majority_class():
    labels = np.zeros((60, 100), np.int32)
    labels[disc(labels.shape, 30, 25, 12)] = 1
    right = disc(labels.shape, 30, 70, 12)
    labels[right] = 2
    labels[right & (np.arange(100)[None, :] < 66)] = 1  # a third of it misclassified as kind 1
    assert instances(labels, 1).n == 2  # kind 1 alone: a disc and a fragment
    both = instances(labels, [1, 2])
    assert both.n == 2 and both.class_id == [1, 2]
    assert list(both.classes) == [1, 2]
    assert both.class_fraction[0] == 1.0 and 0.5 < both.class_fraction[1] < 1.0
    kind2 = size_distribution(both, only_class=2, n_boot=0)
    assert kind2["n_total"] == 1 and kind2["class_id"] == 2
    assert [r["class_id"] for r in instance_rows(both)] == [1, 2]
    with pytest.raises(ValueError, match="class_id"):
        instances(labels, [])


def test_one_class_each_gives_a_split_particle_its_majority_class():
    labels = np.zeros((60, 100), np.int16)
    labels[disc(labels.shape, 30, 25, 12)] = 1
    right = disc(labels.shape, 30, 70, 12)
    labels[right] = 2
    rim = right & (np.arange(100)[None, :] < 64)  # its left part classified as kind 1
    labels[rim] = 1
    confidence = np.full(labels.shape, 0.9, np.float32)
    both = instances(labels, [1, 2])
    before = labels.copy()
    assert one_class_each(labels, both, confidence) == rim.sum()  # in place
    assert (labels[right] == 2).all() and (labels[~right] == before[~right]).all()
    share = both.class_fraction[1]
    assert 0.5 < share < 0.9
    assert np.allclose(confidence[rim], share) and (confidence[~rim] == 0.9).all()
    # every particle of one class already, or one class: nothing to change
    assert one_class_each(labels, instances(labels, [1, 2]), confidence) == 0
    assert one_class_each(before, instances(before, 1), confidence) == 0
    assert (before[rim] == 1).all()
    with pytest.raises(ValueError, match="in place"):  # a copy's changes would be lost
        one_class_each(before.T, instances(before.T, [1, 2]), confidence.T)


def touching_pairs(n_pairs=36, seed=0, radius=(3.0, 16.0)):
    """A field of just-touching disc pairs at random angles: (mask, truth instances), each
    pixel of the truth with the disc it is relatively deepest in."""
    rng = np.random.default_rng(seed)
    cell = int(4 * radius[1] + 8)
    side = math.ceil(math.sqrt(n_pairs))
    shape = (side * cell, side * cell)
    truth = np.zeros(shape, np.int32)
    depth = np.full(shape, np.inf)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    k = 0
    for i in range(n_pairs):
        r1 = rng.uniform(*radius)
        r2 = rng.uniform(radius[0], r1)
        a = rng.uniform(0, 2 * math.pi)
        cy = (i // side + 0.5) * cell + rng.uniform(-0.5, 0.5)
        cx = (i % side + 0.5) * cell + rng.uniform(-0.5, 0.5)
        oy, ox = (r1 + r2) * math.sin(a) / 2, (r1 + r2) * math.cos(a) / 2
        for y, x, r in ((cy - oy, cx - ox, r1), (cy + oy, cx + ox, r2)):
            k += 1
            nd = np.sqrt((yy - y) ** 2 + (xx - x) ** 2) / r
            take = (nd < 1) & (nd < depth)
            truth[take], depth[take] = k, nd[take]
    return (truth > 0).astype(np.int32), truth


def test_a_field_of_touching_disc_pairs_is_counted_and_sized():
    mask, truth = touching_pairs()
    inst = instances(mask, 1)
    n_true = int(truth.max())
    assert abs(inst.n - n_true) <= 0.05 * n_true
    true_d = np.sqrt(4 * np.bincount(truth.ravel())[1:] / np.pi)
    assert np.median(inst.equivalent_diameter_px) == pytest.approx(np.median(true_d), rel=0.05)
    # Each found particle is mostly one disc, and most discs are found whole (area +-10 %).
    pair = truth.astype(np.int64) * (inst.n + 1) + inst.labels
    overlap = np.bincount(pair.ravel(), minlength=(n_true + 1) * (inst.n + 1))
    overlap = overlap.reshape(n_true + 1, inst.n + 1)[1:, 1:]
    assert (overlap.max(0) >= 0.9 * inst.area_px).mean() >= 0.95
    best = overlap.argmax(1)
    ratio = inst.area_px[best] / np.bincount(truth.ravel())[1:]
    assert (np.abs(ratio - 1) <= 0.1).mean() >= 0.9
    # Connected components alone merge every pair.
    assert instances(mask, 1, split="none").n == n_true // 2


def test_small_touching_discs_are_counted_within_five_percent():
    """The issue's goal for 4-8 px discs in touching pairs and triples (the bench's generated
    scenes, ``bench.objects --cases discs_small_touching``): count of particles of >= 4 px
    and median diameter within 5 % of the truth (it was -5.2 % with ``neck`` 0.9)."""
    import zlib

    from workers.fewshot.bench.objects import CASES, MIN_DIAMETER_PX, _truth_counts, touching_scene

    name, n_true, n_found, d_true, d_found = "discs_small_touching", 0, 0, [], []
    for seed in (0, 1):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        _, truth = touching_scene(CASES[name], rng, (512, 512))
        _, d, big = _truth_counts(truth)
        inst = instances((truth > 0).astype(np.int32), 1)
        n_true += big
        n_found += int((inst.equivalent_diameter_px >= MIN_DIAMETER_PX).sum())
        d_true.append(d)
        d_found.append(inst.equivalent_diameter_px[~inst.edge])
    assert n_true > 2000 and abs(n_found - n_true) <= 0.05 * n_true
    median = np.median(np.concatenate(d_found))
    assert median == pytest.approx(np.median(np.concatenate(d_true)), rel=0.05)


def test_splitting_in_bands_of_rows_equals_the_whole_map(monkeypatch):
    from workers.fewshot.bench.objects import CASES, touching_scene
    from workers.fewshot.objects import split

    _, truth = touching_scene(CASES["discs_small_touching"], np.random.default_rng(0), (160, 200))
    mask = (truth > 0).astype(np.int32)
    mask[:, :3] = 1  # a tall component along the edge, taller than a band
    whole = instances(mask, 1)
    monkeypatch.setattr(split, "_BATCH_PX", mask.shape[1] * 5)
    banded = instances(mask, 1)
    assert banded.n == whole.n > 100
    np.testing.assert_array_equal(banded.labels, whole.labels)


@pytest.mark.parametrize("fallback", [False, True])
def test_distance_transform_of_the_pixels_is_exact(monkeypatch, fallback):
    from scipy import ndimage

    from workers.fewshot.objects import split

    if fallback:  # large objects: scipy's transform
        monkeypatch.setattr(split, "_EDT_WORK", (0, 0))
    rng = np.random.default_rng(1)
    mask = ndimage.gaussian_filter(rng.random((90, 130)), 2) > 0.47
    mask[40, :] = True  # a row without background, and runs at both image edges
    mask[:, 0] = True
    px = split._Pixels(mask, 3)
    got = split._edt(px, mask)
    want = ndimage.distance_transform_edt(mask).ravel()[split._unpadded(px)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_map_without_background_is_one_instance():
    inst = instances(np.ones((30, 40), np.int32), 1)
    assert inst.n == 1 and inst.area_px[0] == 1200 and inst.edge[0]


def test_feret_max_of_irregular_blobs_matches_regionprops():
    from scipy import ndimage
    from skimage.measure import regionprops

    rng = np.random.default_rng(7)
    mask = ndimage.gaussian_filter(rng.random((120, 160)), 3) > 0.52
    inst = instances(mask.astype(np.int32), 1, split="none", min_area_px=1)
    assert inst.n > 20
    want = [p.feret_diameter_max for p in regionprops(inst.labels)]
    np.testing.assert_allclose(inst.feret_max_px, want, atol=0.5)
    assert np.all(inst.feret_min_px <= inst.feret_max_px + 1e-6)
