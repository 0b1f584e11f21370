"""Export functions on small, hand-checkable label grids."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tifffile
from PIL import Image

from analysis import exports
from tests.analysis.helpers import chip_mask

CLASSES = [
    {"id": "a", "name": "STO", "colour": "#ff0000"},
    {"id": "b", "name": "Ge", "colour": "#00ff00"},
    {"id": "c", "name": "vacuum", "colour": "#0000ff"},
]
# 2 x 3 chips of 4 px with a (1, 2) offset on a 10 x 15 image: margins bottom 1, right 1
LABELS = np.array([[0, 1, 2], [2, 2, 1]])
GRID = {"chip_size": 4, "offset": (1, 2), "image_shape": (10, 15)}
STATS = {
    "n_chips": 6,
    "counts": [1, 2, 3],
    "fractions": [1 / 6, 2 / 6, 3 / 6],
    "fractions_std": [0.01, 0.02, 0.03],
    "fractions_ci_low": [0.1, 0.3, 0.45],
    "fractions_ci_high": [0.2, 0.4, 0.55],
    "areas_px": [16, 32, 48],
    "areas": [0.16, 0.32, 0.48],
    "areas_std": [0.01, 0.02, 0.03],
    "area_unit": "nm^2",
}


def test_chip_masks_paint_chips_and_mark_margins():
    mask = chip_mask(LABELS, chip_size=4, offset=(1, 2), shape=(10, 15))
    assert mask.shape == (10, 15) and mask.dtype == np.uint8
    assert (mask[0] == exports.UNLABELLED).all()  # top margin (offset 1)
    assert (mask[:, :2] == exports.UNLABELLED).all()  # left margin (offset 2)
    assert (mask[9] == exports.UNLABELLED).all() and (mask[:, 14] == exports.UNLABELLED).all()
    assert (mask[1:5, 2:6] == 0).all() and (mask[1:5, 6:10] == 1).all()
    assert (mask[5:9, 10:14] == 1).all() and (mask[5:9, 2:6] == 2).all()


MASK = chip_mask(LABELS, chip_size=4, offset=(1, 2), shape=(10, 15))
MASK_GRID = {"chip_size": 4, "offset": (1, 2)}


def test_mask_png_is_indexed_colour_with_class_indices_and_table():
    data = exports.mask_png(MASK, CLASSES, **MASK_GRID)
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "P" and img.size == (15, 10)
        pixels = np.asarray(img)  # the indices, as written
        rgba = np.asarray(img.convert("RGBA"))
    np.testing.assert_array_equal(pixels, MASK)
    # it looks like the map: class colours, uncovered pixels transparent
    assert tuple(rgba[2, 3]) == (255, 0, 0, 255) and tuple(rgba[2, 7]) == (0, 255, 0, 255)
    assert rgba[0, 0, 3] == 0
    table = exports.read_png_class_table(data)
    assert [c["name"] for c in table["classes"]] == ["STO", "Ge", "vacuum"]
    assert [c["index"] for c in table["classes"]] == [0, 1, 2]
    assert table["unlabelled"] == 255 and table["chip_size"] == 4 and table["offset"] == [1, 2]
    assert table["resolution"] == "pixel"


def test_mask_preview_png_is_the_class_at_each_preview_pixels_centre():
    # 20 x 30 px map, preview long side 12: 8 x 12 pixels of 2.5 x 2.5 map pixels each
    mask = np.arange(600).reshape(20, 30) % 7
    mask = mask.astype(np.uint8)
    mask[:, -3:] = exports.UNLABELLED
    with Image.open(io.BytesIO(exports.mask_preview_png(mask, CLASSES, max_side=12))) as img:
        assert img.mode == "P" and img.size == (12, 8)
        small = np.asarray(img)
        assert np.asarray(img.convert("RGBA"))[0, -1, 3] == 0  # uncovered: transparent
    centres_y = ((np.arange(8) + 0.5) * 2.5).astype(int)
    centres_x = ((np.arange(12) + 0.5) * 2.5).astype(int)
    np.testing.assert_array_equal(small, mask[np.ix_(centres_y, centres_x)])


def test_confidence_png_quantises_to_8_bits():
    conf = np.array([[0.0, 0.5, 1.0], [np.nan, 0.25, 0.999]], np.float32)
    with Image.open(io.BytesIO(exports.confidence_png(conf))) as img:
        assert img.mode == "P"  # the values, shown in the confidence colour map
        np.testing.assert_array_equal(np.asarray(img), [[0, 128, 255], [0, 64, 255]])
        rgb = np.asarray(img.convert("RGB"))
    assert tuple(rgb[0, 0]) == exports.CONFIDENCE_STOPS[0]
    assert tuple(rgb[0, 2]) == exports.CONFIDENCE_STOPS[-1]


def test_overlay_blends_class_colours_at_known_pixels():
    preview = np.full((10, 15), 100, np.uint8)
    rgb = exports.overlay_rgb(preview, MASK, CLASSES, alpha=0.5)
    assert rgb.shape == (10, 15, 3)
    assert tuple(rgb[2, 3]) == (178, 50, 50)  # chip (0, 0): STO red over grey 100
    assert tuple(rgb[2, 7]) == (50, 178, 50)  # chip (0, 1): Ge green
    assert tuple(rgb[6, 3]) == (50, 50, 178)  # chip (1, 0): vacuum blue
    assert tuple(rgb[0, 0]) == (100, 100, 100)  # margin stays grey
    png = exports.overlay_png(preview, MASK, CLASSES, alpha=0.5)
    with Image.open(io.BytesIO(png)) as img:  # the overlay, then a footer with the legend
        assert img.mode == "RGB" and np.array_equal(np.asarray(img)[:10], rgb)


def test_overlay_png_footer_has_the_legend_and_a_scale_bar_when_calibrated():
    mask = np.zeros((200, 300), np.uint8)
    mask[:, 150:] = 1
    preview = np.full((200, 300), 100, np.uint8)
    plain = exports.overlay_png(preview, mask, CLASSES[:2])
    scaled = exports.overlay_png(preview, mask, CLASSES[:2], pixel_size=0.5, pixel_unit="nm")
    for data in (plain, scaled):
        with Image.open(io.BytesIO(data)) as img:
            footer = np.asarray(img)[200:]
        assert footer.shape[0] >= 20 and footer.shape[1] == 300
        colours = {tuple(p) for p in footer.reshape(-1, 3)}
        assert (255, 0, 0) in colours and (0, 255, 0) in colours  # STO and Ge swatches
    with Image.open(io.BytesIO(scaled)) as img:
        footer = np.asarray(img)[200:]
    black = (footer == 0).all(-1)
    length, label = exports.scale_bar(300, 0.5, "nm")
    assert label == "20 nm" and length == 40  # a fifth of 150 nm, rounded to 1-2-5
    assert black[:, :60].sum(1).max() >= length - 1  # the bar, drawn at the left


def test_overlay_samples_the_mask_onto_a_downscaled_preview():
    mask = chip_mask(np.array([[0, 1], [1, 0]]), chip_size=4, offset=(0, 0), shape=(8, 8))
    preview = np.zeros((4, 4), np.uint8)  # half of an 8 x 8 image
    rgb = exports.overlay_rgb(preview, mask, CLASSES, alpha=1.0)
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[0, 3]) == (0, 255, 0)
    assert tuple(rgb[3, 0]) == (0, 255, 0) and tuple(rgb[3, 3]) == (255, 0, 0)


@pytest.mark.parametrize("series", [False, True])
def test_ome_tiff_shape_class_table_and_calibration(series):
    labels = np.stack([LABELS, 2 - LABELS]) if series else LABELS
    mask = (
        np.stack([chip_mask(f, chip_size=4, offset=(1, 2), shape=(10, 15)) for f in labels])
        if series
        else MASK
    )
    data = exports.mask_ome_tiff(mask, CLASSES, pixel_size=0.0325, pixel_unit="nm", **MASK_GRID)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.is_ome
        array = tif.series[0].asarray()
        ome = ET.fromstring(tif.ome_metadata)
    assert array.shape == ((2, 10, 15) if series else (10, 15))
    first = array[0] if series else array
    assert first[1, 2] == 0 and first[1, 6] == 1 and first[0, 0] == exports.UNLABELLED
    if series:
        assert array[1, 1, 2] == 2
    ns = {"ome": "http://www.openmicroscopy.org/Schemas/OME/2016-06"}
    pixels = ome.find(".//ome:Pixels", ns)
    assert float(pixels.get("PhysicalSizeX")) == pytest.approx(0.0325)
    assert pixels.get("PhysicalSizeXUnit") == "nm"
    description = json.loads(ome.find(".//ome:Image/ome:Description", ns).text)
    assert [c["name"] for c in description["classes"]] == ["STO", "Ge", "vacuum"]
    entries = {m.get("K"): m.text for m in ome.findall(".//ome:MapAnnotation//ome:M", ns)}
    assert entries == {"0": "STO", "1": "Ge", "2": "vacuum"}


def test_ome_tiff_without_calibration_has_no_physical_size():
    data = exports.mask_ome_tiff(MASK, CLASSES, **MASK_GRID)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert "PhysicalSizeX" not in tif.ome_metadata
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE


def test_csv_and_json_agree():
    probs = np.eye(3, dtype=np.float32)[LABELS]
    document = exports.result_document(
        labels=LABELS,
        probs=probs,
        confidence=probs.max(-1),
        stats=STATS,
        classes=CLASSES,
        grid={"chip_size": 4, "offset": [1, 2], "rows": 2, "cols": 3},
        provenance={"image_sha256": "x"},
    )
    parsed = json.loads(exports.result_json(document))
    rows = list(csv.DictReader(io.StringIO(exports.counts_csv(STATS, CLASSES))))
    assert [r["class"] for r in rows] == ["STO", "Ge", "vacuum"]
    assert [int(r["count"]) for r in rows] == parsed["stats"]["counts"]
    for row, expected in zip(rows, parsed["table"], strict=True):
        assert float(row["fraction"]) == pytest.approx(expected["fraction"])
        assert float(row["fraction_std"]) == pytest.approx(expected["fraction_std"])
        assert float(row["area"]) == pytest.approx(expected["area"])
        assert row["area_unit"] == "nm^2"
    assert parsed["labels"] == LABELS.tolist()
    counts = np.bincount(np.asarray(parsed["labels"]).ravel(), minlength=3)
    assert counts.tolist() == [int(r["count"]) for r in rows]
    assert parsed["probabilities"]["confidence_quantiles"]["min"] == 1.0


def test_csv_leaves_unknown_areas_empty():
    stats = {k: v for k, v in STATS.items() if not k.startswith("area") or k == "areas_px"}
    rows = list(csv.DictReader(io.StringIO(exports.counts_csv(stats, CLASSES, frame=3))))
    assert rows[0]["area"] == "" and rows[0]["frame"] == "3" and rows[0]["area_px"] == "16"


def test_chart_svg_parses_with_one_bar_per_class():
    svg = exports.chart_svg(STATS, CLASSES, title="A <title> & more")
    root = ET.fromstring(svg)
    bars = [el for el in root.iter("{http://www.w3.org/2000/svg}rect") if el.get("class") == "bar"]
    assert [b.get("data-class") for b in bars] == ["STO", "Ge", "vacuum"]
    assert [float(b.get("data-fraction")) for b in bars] == pytest.approx(
        STATS["fractions"], abs=1e-6
    )
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] < heights[1] < heights[2]
    assert [b.get("fill") for b in bars] == ["#ff0000", "#00ff00", "#0000ff"]
    errors = [
        el for el in root.iter("{http://www.w3.org/2000/svg}path") if el.get("class") == "error"
    ]
    assert len(errors) == 3


def test_charts_and_tables_say_what_the_interval_is():
    """The error bars are the reported interval, and every chart and table names it."""
    interval = {"method": "calibrated chip probabilities", "ci": 0.95, "covers": "map errors"}
    stats = {**STATS, "interval": interval}
    root = ET.fromstring(exports.chart_svg(stats, CLASSES))
    bars = [el for el in root.iter("{http://www.w3.org/2000/svg}rect") if el.get("class") == "bar"]
    assert [float(b.get("data-low")) for b in bars] == STATS["fractions_ci_low"]
    assert [float(b.get("data-high")) for b in bars] == STATS["fractions_ci_high"]
    caption = next(el for el in root.iter() if el.get("class") == "caption")
    assert caption.text == "error bars: 95 % interval: calibrated chip probabilities"
    rows = list(csv.DictReader(io.StringIO(exports.counts_csv(stats, CLASSES))))
    assert {r["interval"] for r in rows} == {"95 % interval: calibrated chip probabilities"}
    old = list(csv.DictReader(io.StringIO(exports.counts_csv(STATS, CLASSES))))
    assert {r["interval"] for r in old} == {"95 % interval over support resamples"}


def test_chart_png_is_an_image():
    data = exports.chart_png(STATS, CLASSES)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG" and img.size[0] > 100


@pytest.mark.parametrize(
    "shape", [(1, 1), (7, 5), (3, 4, 3), (5, 2, 4), (1100, 1000), (700, 900, 3)]
)
def test_png_writer_round_trips_through_pillow(shape):
    """The exports' own PNG writer (filter none, deflated in parts on several threads for
    images over 1 MB) decodes to the same pixels, with iTXt text chunks readable by Pillow."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, shape).astype(np.uint8)
    pixels[: shape[0] // 2] = 7  # a compressible half and a noisy one
    data = exports.png_bytes(pixels, text={"chiplab:test": "Ångström ✓ {}"})
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.text["chiplab:test"] == "Ångström ✓ {}"
        np.testing.assert_array_equal(np.asarray(img), pixels)


def test_overlay_of_a_large_mask_is_its_nearest_pixel_subsample():
    """Each preview pixel takes the class of the nearest pixel of the full-size mask."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, (37, 41))
    mask = chip_mask(labels, chip_size=7, offset=(3, 5), shape=(266, 300))
    preview = rng.integers(0, 256, (133, 150)).astype(np.uint8)
    rgb = exports.overlay_rgb(preview, mask, CLASSES, alpha=1.0)
    nearest = mask[(np.arange(133) * 266) // 133][:, (np.arange(150) * 300) // 150]
    colours = np.array([exports.hex_to_rgb(c["colour"]) for c in CLASSES], np.uint8)
    off = nearest == exports.UNLABELLED
    np.testing.assert_array_equal(rgb[~off], colours[nearest[~off]])
    np.testing.assert_array_equal(rgb[off], np.repeat(preview[off][:, None], 3, 1))


def test_csv_cells_that_would_be_spreadsheet_formulas_are_quoted():
    """A class named like a formula cannot run in the spreadsheet that opens the table."""
    classes = [
        {"id": "a", "name": '=HYPERLINK("http://x","y")', "colour": "#ff0000"},
        {"id": "b", "name": "+1", "colour": "#00ff00"},
        {"id": "c", "name": "-2 nm layer", "colour": "#0000ff"},
    ]
    text = exports.counts_csv(STATS, classes)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["class"] for r in rows] == ['\'=HYPERLINK("http://x","y")', "'+1", "'-2 nm layer"]
    assert exports.csv_cell(-0.5) == -0.5 and exports.csv_cell(None) == ""
    assert [float(r["fraction"]) for r in rows] == pytest.approx(STATS["fractions"])


def test_counts_csv_gives_object_counts_and_sizes_of_object_classes():
    """With a class marked as objects, its row carries the count, density and diameters (a
    series' table thereby gives counts and sizes per frame); region rows leave them empty."""
    stats = {
        **STATS,
        "objects": {
            "Ge": {
                "class_index": 1,
                "n_total": 12,
                "n_edge": 2,
                "number_density": 3.5,
                "number_density_unit": "1/µm^2",
                "median": 4.2,
                "mean": 4.4,
                "length_unit": "nm",
            }
        },
    }
    rows = list(csv.DictReader(io.StringIO(exports.series_csv([(0, stats), (1, stats)], CLASSES))))
    ge = [r for r in rows if r["class"] == "Ge"]
    assert [r["frame"] for r in ge] == ["0", "1"]
    assert ge[0]["objects"] == "12" and ge[0]["median_diameter"] == "4.2"
    assert ge[0]["diameter_unit"] == "nm" and ge[0]["objects_at_edge"] == "2"
    assert {r["objects"] for r in rows if r["class"] != "Ge"} == {""}
    plain = list(csv.DictReader(io.StringIO(exports.counts_csv(STATS, CLASSES))))
    assert "objects" not in plain[0]
