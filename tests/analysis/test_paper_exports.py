"""Exports a paper can use: the overlay at the original's resolution with a scale bar of the
right length, the size histogram with labelled axes and the page's interval, the fraction
chart saying what its interval covers. Opened with Pillow and read back."""

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from analysis import exports, maps
from workers.fewshot import objects

SVG = "{http://www.w3.org/2000/svg}"
CLASSES = [
    {"index": 0, "id": "a", "name": "support", "colour": "#808080", "kind": "region"},
    {"index": 1, "id": "b", "name": "MoO3", "colour": "#e69f00", "kind": "objects"},
]


def _bar_runs(footer: np.ndarray) -> int:
    """The longest horizontal run of pure black pixels in a footer (the scale bar)."""
    black = (footer == 0).all(-1)
    best = 0
    for row in black:
        padded = np.concatenate([[0], row.astype(np.int8), [0]])
        starts, ends = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
        best = max(best, int((ends - starts).max(initial=0)))
    return best


@pytest.mark.parametrize("pixel_size", [0.37, 2.5])
def test_overlay_is_at_native_resolution_with_a_scale_bar_of_physical_length(pixel_size):
    """A 2600 x 3100 original with its stored 2048 px preview: the overlay export has the
    original's size, and the bar is (its label's length / pixel size) pixels long."""
    rng = np.random.default_rng(0)
    data = rng.normal(100, 10, (2600, 3100)).astype(np.float32)
    mask = np.zeros(data.shape, np.uint8)
    mask[:, 1550:] = 1
    stored = np.zeros((1718, 2048), np.uint8)  # what catalog stores: long side 2048
    grey = maps.native_preview(stored, data, 0)
    assert grey.shape == data.shape and grey.dtype == np.uint8 and grey.std() > 0
    assert maps.native_preview(grey, data, 0) is grey  # already native: used as it is
    png = exports.overlay_png(grey, mask, CLASSES, pixel_size=pixel_size, pixel_unit="nm")
    with Image.open(io.BytesIO(png)) as img:
        assert img.width == 3100 and img.height > 2600
        rgb = np.asarray(img)
    footer = rgb[2600:]
    length, label = exports.scale_bar(3100, pixel_size, "nm")
    value = float(label.split()[0])
    assert label.endswith(" nm") and length == pytest.approx(value / pixel_size)
    assert abs(_bar_runs(footer) - (value / pixel_size)) <= 1.5
    colours = {tuple(p) for p in footer.reshape(-1, 3)[::7]}
    assert (230, 159, 0) in colours and (128, 128, 128) in colours  # the legend's swatches


def test_overlay_of_a_series_frame_is_native_too():
    data = np.stack([np.zeros((300, 2500), np.float32), np.ones((300, 2500), np.float32)])
    data[1, :, :100] = 0
    grey = maps.native_preview(np.zeros((246, 2048), np.uint8), data, 1)
    assert grey.shape == (300, 2500) and grey[0, 0] < grey[0, 200]


def _distribution(pixel_size=None):
    yy, xx = np.mgrid[:200, :300]
    labels = np.zeros((200, 300), np.int32)
    for k, (cy, cx) in enumerate([(40, 40), (40, 120), (120, 60), (130, 200), (60, 250)]):
        r = 6 + 2 * k
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    labels[(yy - 0) ** 2 + (xx - 150) ** 2 <= 64] = 1  # cut by the edge
    inst = objects.instances(labels, 1, pixel_size=pixel_size, pixel_unit="nm")
    return objects.size_distribution(inst, n_boot=200, seed=1)


def test_size_histogram_svg_reads_back_as_the_distribution_with_its_interval():
    dist = _distribution(pixel_size=0.5)
    root = ET.fromstring(exports.histogram_svg({"MoO3": dist}, CLASSES))
    bars = [el for el in root.iter(f"{SVG}rect") if el.get("class") == "bar"]
    assert [int(b.get("data-count")) for b in bars] == dist["histogram"]["counts"]
    assert sum(int(b.get("data-count")) for b in bars) == dist["n_measured"] == 5
    assert float(bars[0].get("data-low")) == pytest.approx(dist["histogram"]["edges"][0], 1e-5)
    assert {b.get("fill") for b in bars} == {"#e69f00"} and bars[0].get("data-class") == "MoO3"
    median = next(el for el in root.iter(f"{SVG}line") if el.get("class") == "median")
    assert float(median.get("data-value")) == pytest.approx(dist["median"], 1e-5)
    text = {el.get("class"): el.text for el in root.iter(f"{SVG}text") if el.get("class")}
    assert text["x-label"] == "equivalent diameter (nm)" and text["y-label"] == "particles"
    captions = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "caption"]
    lo, hi = dist["bootstrap"]["intervals"]["median"]
    assert captions[0] == (
        f"median {dist['median']:.3g} nm (95 % interval {lo:.3g}–{hi:.3g} nm: "
        "percentile, particles resampled with replacement)"
    )
    assert captions[1] == "n = 5 measured of 6; 1 touching the edge left out"


def test_size_histogram_in_pixels_without_calibration_and_one_panel_per_class():
    dist = _distribution()
    two = {"MoO3": dist, "void": {**dist, "bootstrap": None}}
    root = ET.fromstring(exports.histogram_svg(two, CLASSES))
    labels = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "x-label"]
    assert labels == ["equivalent diameter (px)"] * 2
    assert int(root.get("height")) == 2 * exports.histogram.PANEL_HEIGHT
    captions = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "caption"]
    assert "interval" in captions[0] and captions[2] == f"median {dist['median']:.3g} px"


def test_size_histogram_png_draws_the_bars_in_the_class_colour():
    dist = _distribution(pixel_size=0.5)
    data = exports.histogram_png({"MoO3": dist}, CLASSES)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG" and img.size == (520, exports.histogram.PANEL_HEIGHT)
        rgb = np.asarray(img.convert("RGB"))
    orange = (rgb == (230, 159, 0)).all(-1)
    columns = np.flatnonzero(orange.any(0))
    assert orange.sum() > 500 and columns.size > 20  # filled bars, not a line
    dark = (rgb < 80).all(-1)
    assert dark[:, :30].sum() > 20  # the rotated y-axis label at the left


def test_fraction_chart_says_what_the_interval_covers_as_the_page_does():
    stats = {
        "fractions": [0.3, 0.7],
        "fractions_ci_low": [0.25, 0.6],
        "fractions_ci_high": [0.4, 0.75],
        "interval": {"method": "calibrated chip probabilities", "ci": 0.95, "covers": "map errors"},
    }
    root = ET.fromstring(exports.chart_svg(stats, CLASSES))
    captions = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "caption"]
    assert captions == [
        "error bars: 95 % interval: calibrated chip probabilities",
        "the interval covers map errors",
    ]
    bars = [el for el in root.iter(f"{SVG}rect") if el.get("class") == "bar"]
    assert [float(b.get("data-low")) for b in bars] == [0.25, 0.6]
    old = {k: v for k, v in stats.items() if k != "interval"}
    root = ET.fromstring(exports.chart_svg(old, CLASSES))
    captions = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "caption"]
    assert captions[1] == "the interval covers the choice of support chips only (support resamples)"
    with Image.open(io.BytesIO(exports.chart_png(stats, CLASSES))) as img:
        rgb = np.asarray(img.convert("RGB"))
    assert (rgb[:, :15] < 80).all(-1).sum() > 20  # "area fraction" up the y axis
