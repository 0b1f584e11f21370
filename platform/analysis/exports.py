"""Result exports as bytes: overlay and mask PNGs, OME-TIFF, CSV, JSON and the abundance chart.

Pure functions of numpy arrays and plain values (never Django), so they are unit-tested on
small arrays and reused by scripts. Conventions shared by every export:

- ``labels`` is the chip-resolution label grid (rows, cols) of class *indices* 0..K-1, or a
  series (T, rows, cols); chip (r, c) covers pixels ``offset + (r, c) * chip_size``.
- ``mask`` is the pixel-resolution map (H, W) uint8 of class indices at the original's size
  (``workers.fewshot.pixels``). The image exports (overlay, mask PNG, OME-TIFF) are of the
  mask: what the user sees by default.
- ``classes`` is the class table ``[{"index", "id", "name", "colour": "#rrggbb"}, ...]`` in
  index order; it travels with every export (PNG text chunk, OME annotations, CSV rows).
- Pixels the map does not cover (cropped margins) are :data:`UNLABELLED` in masks
  (transparent in the indexed-colour PNG) and keep the preview's grey in overlays.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import struct
import zlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

from common import ngff

UNLABELLED = 255
#: PNG text chunk key (and OME MapAnnotation namespace) holding the class table
CLASS_TABLE_KEY = "chiplab:classes"
PROVENANCE_KEY = "chiplab:provenance"


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' (or 'rrggbb', '#rgb') -> (r, g, b); anything else is grey."""
    value = str(colour or "").lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except (ValueError, IndexError):
        return 128, 128, 128


def class_table(classes: Sequence[dict], *, chip_size: int, offset: Sequence[int]) -> dict:
    """The self-describing class table embedded in mask exports."""
    return {
        "classes": [
            {
                "index": i,
                "id": str(c.get("id", "")),
                "name": c.get("name", f"class {i}"),
                "colour": c.get("colour", ""),
            }
            for i, c in enumerate(classes)
        ],
        "unlabelled": UNLABELLED,
        "resolution": "pixel",
        "chip_size": int(chip_size),
        "offset": [int(offset[0]), int(offset[1])],
    }


def overlay_rgb(
    preview: np.ndarray, mask: np.ndarray, classes: Sequence[dict], *, alpha: float = 0.45
) -> np.ndarray:
    """Class colours blended over a grey preview: (h, w) uint8 -> (h, w, 3) uint8.

    ``mask`` (H, W) is at the original's size; the preview may be a downscaled copy of the
    image, onto which the mask is sampled at the nearest pixel.
    """
    grey = np.asarray(preview)
    if grey.ndim == 3:
        grey = grey[..., :3].mean(-1)
    if grey.dtype != np.uint8:
        grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    h, w = grey.shape
    mask = np.asarray(mask, np.uint8)
    height, width = mask.shape
    ys = np.minimum((np.arange(h) * height) // h, height - 1)
    xs = np.minimum((np.arange(w) * width) // w, width - 1)
    mask = mask[ys[:, None], xs[None, :]]
    # one lookup (class, grey) -> RGB instead of per-pixel float blending: fast on 4k previews
    levels = np.arange(256, dtype=np.float32)[:, None]
    lut = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 256, axis=0).repeat(4, 2)
    for i, c in enumerate(classes):
        colour = np.asarray(hex_to_rgb(c.get("colour", "")), np.float32)[None, :]
        lut[i, :, :3] = np.clip(np.rint((1 - alpha) * levels + alpha * colour), 0, 255)
    # the table as little-endian uint32 words R | G << 8 | B << 16: one 4-byte gather per
    # pixel on a flat index, 4x faster than lut[mask, grey] (two index arrays, 3 bytes each)
    words = lut.reshape(-1, 4).copy().view("<u4")[:, 0]
    index = mask.astype(np.uint16) << 8
    index |= grey
    return words[index].view(np.uint8).reshape(h, w, 4)[..., :3]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: raw bytes per deflate part: below this one thread compresses the whole image
_PNG_PART_BYTES = 1 << 20
_png_pool = None
_png_pool_pid = None
_png_workers = 1


def _png_threads():
    """(pool, size): threads that deflate parts of one PNG at once (zlib releases the GIL),
    one per core; re-created after a fork (Celery's prefork pool)."""
    global _png_pool, _png_pool_pid, _png_workers
    from concurrent.futures import ThreadPoolExecutor

    if _png_pool is None or _png_pool_pid != os.getpid():
        _png_workers = max(1, min(4, len(os.sched_getaffinity(0))))
        _png_pool = ThreadPoolExecutor(_png_workers, thread_name_prefix="png")
        _png_pool_pid = os.getpid()
    return _png_pool, _png_workers


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + tag
        + data
        + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))
    )


def _png(
    array: np.ndarray,
    *,
    text: dict[str, str] | None = None,
    palette: Sequence[tuple[int, int, int]] | None = None,
    transparent: Sequence[int] = (),
) -> bytes:
    """8-bit grey (H, W) or RGB(A) (H, W, 3|4) -> PNG bytes, ``text`` as iTXt chunks.

    With a ``palette`` (up to 256 RGB entries) an (H, W) array is written as indexed colour:
    the values stay the indices (a reader gets them back as they were) and viewers show the
    palette's colours; the palette entries listed in ``transparent`` are fully transparent.

    Written here rather than by Pillow, which took 0.27 s of CPU for a 2048^2 overlay (and
    0.13 s of it before compressing at all): every scanline uses filter 0 (none), which on
    noisy micrograph overlays also gives the smaller file (4.7 vs 5.5 MB at zlib level 1,
    Pillow's adaptive filters), and the deflate stream is compressed in parts on all cores
    (independent raw deflate blocks joined by full flushes: one valid zlib stream).
    """
    a = np.ascontiguousarray(array, dtype=np.uint8)
    if a.ndim == 2:
        colour_type, channels = (0 if palette is None else 3), 1
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        colour_type, channels = (2 if a.shape[2] == 3 else 6), a.shape[2]
    else:
        raise ValueError(f"cannot write a PNG of shape {a.shape}")
    height, width = a.shape[:2]
    raw = np.zeros((height, width * channels + 1), np.uint8)  # column 0: filter type 0
    raw[:, 1:] = a.reshape(height, width * channels)
    pool, workers = _png_threads()
    parts = np.array_split(raw, max(1, min(workers, height, raw.nbytes // _PNG_PART_BYTES)))

    def deflate(i: int) -> bytes:
        # level 1: these are written on every job and re-runs must feel instant
        co = zlib.compressobj(1, zlib.DEFLATED, -15)
        last = i == len(parts) - 1
        return co.compress(parts[i]) + co.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)

    blobs = list(pool.map(deflate, range(len(parts)))) if len(parts) > 1 else [deflate(0)]
    adler = 1
    for part in parts:
        adler = zlib.adler32(part, adler)
    stream = b"\x78\x01" + b"".join(blobs) + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    chunks = [_PNG_SIGNATURE, _png_chunk(b"IHDR", header)]
    if palette is not None:
        entries = list(palette)[:256]
        chunks.append(_png_chunk(b"PLTE", bytes(v for rgb in entries for v in rgb)))
        if transparent:
            alpha = bytearray(b"\xff" * len(entries))
            for i in transparent:
                alpha[i] = 0
            chunks.append(_png_chunk(b"tRNS", bytes(alpha)))
    for key, value in (text or {}).items():
        # iTXt: keyword, no compression, no language tag or translated keyword, UTF-8 text
        chunks.append(_png_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode()))
    chunks += [_png_chunk(b"IDAT", stream), _png_chunk(b"IEND", b"")]
    return b"".join(chunks)


def overlay_png(
    preview: np.ndarray,
    mask: np.ndarray,
    classes: Sequence[dict],
    *,
    alpha: float = 0.45,
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
) -> bytes:
    """The coloured overlay (see :func:`overlay_rgb`) as PNG bytes, with a footer under the
    image: a scale bar when calibrated (``pixel_size`` per pixel of the original, whose width
    is ``mask``'s) and the class legend."""
    rgb = overlay_rgb(preview, mask, classes, alpha=alpha)
    per_px = pixel_size * mask.shape[1] / rgb.shape[1] if pixel_size else None
    return _png(_with_footer(rgb, classes, per_px, pixel_unit))


def scale_bar(width_px: int, per_px: float, unit: str | None) -> tuple[float, str]:
    """A 1, 2 or 5 x 10^n length of about a fifth of ``width_px`` pixels of ``per_px`` each:
    (length in px, label)."""
    want = width_px * per_px / 5
    p10 = 10 ** math.floor(math.log10(want))
    value = next(m * p10 for m in (1, 2, 5, 10) if m * p10 >= want * 0.6)
    label = f"{value:g} {unit or 'px'}"
    return value / per_px, label


def _with_footer(
    rgb: np.ndarray, classes: Sequence[dict], per_px: float | None, unit: str | None
) -> np.ndarray:
    """``rgb`` with a white band below: scale bar (when ``per_px``) and the class legend."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = rgb.shape[:2]
    size = int(min(max(12, w / 60), 48))
    band = int(size * 2.2)
    img = Image.new("RGB", (w, h + band), (255, 255, 255))
    img.paste(Image.fromarray(np.ascontiguousarray(rgb)), (0, 0))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    x, y = size // 2, h + band // 2
    if per_px:
        length, label = scale_bar(w, per_px, unit)
        draw.rectangle([x, y - size // 6, x + length, y + size // 6], fill=(0, 0, 0))
        draw.text((x + length + size // 3, y), label, fill=(0, 0, 0), font=font, anchor="lm")
        x += int(length + size // 3 + draw.textlength(label, font=font) + size)
    for c in classes:
        draw.rectangle(
            [x, y - size // 2, x + size, y + size // 2], fill=hex_to_rgb(c.get("colour", ""))
        )
        name = str(c.get("name", ""))
        draw.text((x + int(size * 1.3), y), name, fill=(0, 0, 0), font=font, anchor="lm")
        x += int(size * 1.3 + draw.textlength(name, font=font) + size)
    return np.asarray(img)


def _palette(classes: Sequence[dict]) -> list[tuple[int, int, int]]:
    """256 entries: the class colours at their indices, grey elsewhere (UNLABELLED too)."""
    palette = [(128, 128, 128)] * 256
    for i, c in enumerate(classes[:UNLABELLED]):
        palette[i] = hex_to_rgb(c.get("colour", ""))
    return palette


def mask_png(
    mask: np.ndarray,
    classes: Sequence[dict],
    *,
    chip_size: int,
    offset: Sequence[int],
    provenance: dict | None = None,
) -> bytes:
    """Class index per pixel (H, W) as an indexed-colour PNG: the values are the class
    indices, the palette the class colours (it looks like the map), :data:`UNLABELLED`
    transparent; the class table is an iTXt chunk (with the result's provenance under
    :data:`PROVENANCE_KEY`)."""
    table = class_table(classes, chip_size=chip_size, offset=offset)
    text = {CLASS_TABLE_KEY: json.dumps(table)}
    if provenance:
        text[PROVENANCE_KEY] = json.dumps(provenance)
    return _png(mask, text=text, palette=_palette(classes), transparent=(UNLABELLED,))


def thumbnail_png(labels: np.ndarray, classes: Sequence[dict], *, size: int) -> bytes:
    """The chip map (rows, cols) as a small indexed-colour PNG whose long side is at most
    ``size`` px: each chip a square of whole pixels when the grid is smaller, else sampled
    (nearest chip) down to ``size``."""
    rows, cols = labels.shape
    small = np.where((labels >= 0) & (labels < UNLABELLED), labels, UNLABELLED).astype(np.uint8)
    longest = max(rows, cols, 1)
    if longest <= size:
        k = size // longest
        small = np.repeat(np.repeat(small, k, axis=0), k, axis=1)
    else:
        out_h = max(1, round(rows * size / longest))
        out_w = max(1, round(cols * size / longest))
        small = small[np.arange(out_h) * rows // out_h][:, np.arange(out_w) * cols // out_w]
    return _png(small, palette=_palette(classes), transparent=(UNLABELLED,))


#: the confidence colour map (viridis stops, as the page draws it): dark purple = unsure
CONFIDENCE_STOPS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def _confidence_palette() -> list[tuple[int, int, int]]:
    stops = np.asarray(CONFIDENCE_STOPS, np.float64)
    f = np.linspace(0.0, len(stops) - 1, 256)
    k = np.minimum(f.astype(int), len(stops) - 2)
    t = (f - k)[:, None]
    rgb = np.rint(stops[k] + (stops[k + 1] - stops[k]) * t).astype(int)
    return [tuple(v) for v in rgb.tolist()]


def confidence_png(confidence: np.ndarray) -> bytes:
    """Per-pixel confidence (H, W) in [0, 1] as 8-bit values (255 = 1.0; uncovered pixels 0)
    in an indexed-colour PNG whose palette is the confidence colour map: a reader gets the
    values back, a viewer shows the map as on screen."""
    conf = np.nan_to_num(np.asarray(confidence, np.float32), nan=0.0)
    values = np.clip(np.rint(conf * 255.0), 0, 255).astype(np.uint8)
    text = {"chiplab:confidence": "value / 255 = confidence of the pixel's class"}
    return _png(values, text=text, palette=_confidence_palette())


def read_png_class_table(data: bytes) -> dict:
    """The class table of a mask PNG written by :func:`mask_png`."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return json.loads(img.text[CLASS_TABLE_KEY])


def mask_ome_tiff(
    mask: np.ndarray,
    classes: Sequence[dict],
    *,
    chip_size: int,
    offset: Sequence[int],
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    name: str = "labels",
    provenance: dict | None = None,
) -> bytes:
    """Pixel label map as a compressed OME-TIFF: (H, W) -> YX, a series (T, H, W) -> TYX, uint8.

    The class table is the image Description (JSON, with the result's ``provenance`` when
    given) and a MapAnnotation (index -> name) in the namespace :data:`CLASS_TABLE_KEY`;
    physical pixel size is set when calibrated.
    """
    import tifffile

    masks = np.asarray(mask, np.uint8)
    table = class_table(classes, chip_size=chip_size, offset=offset)
    if provenance:
        table = {**table, "provenance": provenance}
    metadata: dict = {
        "axes": "YX" if masks.ndim == 2 else "TYX",
        "Name": name,
        "Description": json.dumps(table),
        "MapAnnotation": {
            "Namespace": CLASS_TABLE_KEY,
            "Value": {str(c["index"]): c["name"] for c in table["classes"]},
        },
    }
    if pixel_size:
        unit = _ome_unit(pixel_unit)
        metadata.update(
            {
                "PhysicalSizeX": float(pixel_size),
                "PhysicalSizeY": float(pixel_size),
                "PhysicalSizeXUnit": unit,
                "PhysicalSizeYUnit": unit,
            }
        )
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        masks,
        ome=True,
        metadata=metadata,
        photometric="minisblack",
        compression="zlib",
    )
    return buf.getvalue()


def _ome_unit(unit: str | None) -> str:
    """OME length units use the micro sign; everything else passes through."""
    return {"um": "µm", "micron": "µm", "A": "Å", "angstrom": "Å"}.get(unit or "", unit or "nm")


def counts_rows(stats: dict, classes: Sequence[dict]) -> list[dict]:
    """One row per class: counts, fractions (+ bootstrap std / interval), areas when known."""
    rows = []
    n = len(classes)
    std = stats.get("fractions_std") or [None] * n
    low = stats.get("fractions_ci_low") or [None] * n
    high = stats.get("fractions_ci_high") or [None] * n
    areas = stats.get("areas") or [None] * n
    areas_std = stats.get("areas_std") or [None] * n
    for i, c in enumerate(classes):
        rows.append(
            {
                "index": i,
                "class_id": str(c.get("id", "")),
                "class": c.get("name", f"class {i}"),
                "colour": c.get("colour", ""),
                "count": int(stats["counts"][i]),
                "fraction": float(stats["fractions"][i]),
                "fraction_std": None if std[i] is None else float(std[i]),
                "fraction_ci_low": None if low[i] is None else float(low[i]),
                "fraction_ci_high": None if high[i] is None else float(high[i]),
                "interval": interval_label(stats),
                "area_px": int(stats["areas_px"][i]),
                "area": None if areas[i] is None else float(areas[i]),
                "area_std": None if areas_std[i] is None else float(areas_std[i]),
                "area_unit": stats.get("area_unit", "") if areas[i] is not None else "",
            }
        )
    objects = {o["class_index"]: o for o in (stats.get("objects") or {}).values()}
    if objects:  # classes marked as objects: their count and sizes (empty for regions)
        for i, row in enumerate(rows):
            o = objects.get(i) or {}
            row.update(
                {
                    "objects": o.get("n_total"),
                    "objects_at_edge": o.get("n_edge"),
                    "number_density": o.get("number_density"),
                    "number_density_unit": o.get("number_density_unit", ""),
                    "median_diameter": o.get("median"),
                    "mean_diameter": o.get("mean"),
                    "diameter_unit": o.get("length_unit", ""),
                }
            )
    return rows


#: a spreadsheet treats a cell starting with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value safe to open in a spreadsheet: text that would start a formula (a class named
    "=HYPERLINK(...)") is prefixed with a quote (OWASP CSV injection); numbers pass as they
    are, None becomes an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def counts_csv(
    stats: dict,
    classes: Sequence[dict],
    *,
    frame: int | None = None,
    provenance: dict | None = None,
) -> str:
    """The per-class table as CSV (empty cells where a value is unknown).

    With ``provenance`` (see ``analysis.runner.provenance``) every row also names the job, the
    image's sha256, the support-set version and the model version, so a table copied out of
    its folder still says where it came from.
    """
    rows = counts_rows(stats, classes)
    source = _provenance_columns(provenance) if provenance else {}
    buf = io.StringIO()
    fields = (["frame"] if frame is not None else []) + list(rows[0] if rows else []) + [*source]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = {k: csv_cell(v) for k, v in (row | source).items()}
        if frame is not None:
            values["frame"] = frame
        writer.writerow(values)
    return buf.getvalue()


def series_csv(frames: Sequence[tuple[int, dict]], classes: Sequence[dict], **kw) -> str:
    """The per-class tables of a time series' frames, ``[(frame, stats), …]``, as one CSV
    with a leading ``frame`` column (``kw``: ``provenance`` as for :func:`counts_csv`)."""
    parts = [counts_csv(stats, classes, frame=frame, **kw) for frame, stats in frames]
    return "".join(p if i == 0 else p.split("\n", 1)[1] for i, p in enumerate(parts))


def _provenance_columns(provenance: dict) -> dict:
    model = provenance["model_version"]
    return {
        "job": provenance["job"],
        "image_sha256": provenance["image"]["sha256"],
        "support_set_version": provenance["support_set"]["id"],
        "model_version": f"{model['name']} v{model['version']}",
    }


def probability_summary(probs: np.ndarray, confidence: np.ndarray) -> dict:
    """Small JSON summary of per-chip probabilities: class means and confidence quantiles."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1, np.asarray(probs).shape[-1])
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    q = np.quantile(conf, [0.0, 0.1, 0.5, 0.9, 1.0]) if conf.size else np.zeros(5)
    return {
        "mean_probability": [round(float(v), 6) for v in p.mean(0)] if p.size else [],
        "confidence_quantiles": {
            k: round(float(v), 6)
            for k, v in zip(["min", "p10", "median", "p90", "max"], q, strict=True)
        },
        "low_confidence_chips": int((conf < 0.5).sum()),
    }


def result_document(
    *,
    labels: np.ndarray,
    probs: np.ndarray,
    confidence: np.ndarray,
    stats: dict,
    classes: Sequence[dict],
    grid: dict,
    provenance: dict,
    frame: int = 0,
    series: list | None = None,
    extra: dict | None = None,
) -> dict:
    """Everything about one result as a JSON-ready dict (labels and confidence in full)."""
    return {
        "format": "chiplab.segmentation-result/1",
        "frame": int(frame),
        "grid": grid,
        "classes": class_table(classes, chip_size=grid["chip_size"], offset=grid["offset"])[
            "classes"
        ],
        "labels": np.asarray(labels).astype(int).tolist(),
        "confidence": np.round(np.asarray(confidence, dtype=np.float64), 6).tolist(),
        "probabilities": probability_summary(probs, confidence),
        "stats": stats,
        "table": counts_rows(stats, classes),
        "series": series or [],
        "provenance": provenance,
        **(extra or {}),
    }


def result_json(document: dict) -> bytes:
    return (json.dumps(document, indent=1, sort_keys=False, allow_nan=False) + "\n").encode()


# --- the abundance chart -------------------------------------------------------------
def interval_label(stats: dict) -> str:
    """What a result's fraction interval is, in a few words (charts and tables say it)."""
    interval = stats.get("interval")
    if interval:
        return f"{round(100 * interval['ci'])} % interval: {interval['method']}"
    if stats.get("fractions_ci_low"):
        level = round(100 * stats.get("bootstrap", {}).get("ci", 0.95))
        return f"{level} % interval over support resamples"
    return "± 1 s.d. over support resamples" if stats.get("fractions_std") else ""


def _chart_values(stats: dict, classes: Sequence[dict]):
    """Names, fractions, error-bar ends (the reported interval, else ± 1 s.d.) and colours."""
    fractions = [float(v) for v in stats["fractions"]]
    n = len(fractions)
    if stats.get("fractions_ci_low"):
        lows = [float(v) for v in stats["fractions_ci_low"]]
        highs = [float(v) for v in stats["fractions_ci_high"]]
    else:
        std = [float(v) for v in (stats.get("fractions_std") or [0.0] * n)]
        lows = [f - s for f, s in zip(fractions, std, strict=True)]
        highs = [f + s for f, s in zip(fractions, std, strict=True)]
    names = [c.get("name", f"class {i}") for i, c in enumerate(classes)]
    colours = [c.get("colour") or "#888888" for c in classes]
    return names, fractions, lows[:n], highs[:n], colours


def chart_svg(
    stats: dict,
    classes: Sequence[dict],
    *,
    title: str = "Class fractions",
    width: int = 480,
    height: int = 300,
) -> str:
    """Bar chart of class area fractions with the reported interval as error bars (named in a
    caption), as a small standalone SVG.

    Every bar is a ``<rect class="bar" data-class=... data-fraction=... data-low=...
    data-high=...>`` so scripts (and tests) can read the values back.
    """
    names, fractions, lows, highs, colours = _chart_values(stats, classes)
    left, right, top, bottom = 48, 12, 32, 62
    plot_w, plot_h = width - left - right, height - top - bottom
    ymax = max(1e-9, max([*highs, 0.0]))
    ymax = min(1.0, math.ceil(ymax * 10) / 10) if ymax <= 1 else ymax

    def y(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), ymax) / ymax)

    n = max(len(names), 1)
    slot = plot_w / n
    bar = slot * 0.6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14">'
        f"{escape(title)}</text>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
    ]
    for tick in np.linspace(0, ymax, 5):
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.2f}</text>'
        )
    bars = zip(names, fractions, lows, highs, colours, strict=True)
    for i, (name, f, lo, hi, colour) in enumerate(bars):
        x = left + slot * i + (slot - bar) / 2
        cx = x + bar / 2
        parts.append(
            f'<rect class="bar" data-class="{escape(name, {chr(34): "&quot;"})}" '
            f'data-fraction="{f:.6f}" data-low="{lo:.6f}" data-high="{hi:.6f}" x="{x:.1f}" '
            f'y="{y(f):.1f}" width="{bar:.1f}" height="{top + plot_h - y(f):.1f}" '
            f'fill="{escape(colour)}" stroke="#333" stroke-width="0.5"/>'
        )
        if hi > lo:
            parts.append(
                f'<path class="error" d="M{cx:.1f},{y(lo):.1f}V{y(hi):.1f}'
                f'M{cx - 5:.1f},{y(lo):.1f}h10M{cx - 5:.1f},{y(hi):.1f}h10" '
                'stroke="#000" fill="none"/>'
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(name)}</text>'
        )
    caption = interval_label(stats)
    if caption:
        parts.append(
            f'<text class="caption" x="{width / 2:.1f}" y="{height - 10}" text-anchor="middle" '
            f'font-size="10">error bars: {escape(caption)}</text>'
        )
    parts.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">area fraction</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def chart_png(
    stats: dict,
    classes: Sequence[dict],
    *,
    title: str = "Class fractions",
    width: int = 480,
    height: int = 300,
) -> bytes:
    """The same chart as :func:`chart_svg`, drawn with Pillow as PNG bytes.

    (Pillow rather than matplotlib: the PNG is written on every job, and matplotlib's first
    figure in a process costs about a second.)
    """
    from PIL import Image, ImageDraw, ImageFont

    names, fractions, lows, highs, colours = _chart_values(stats, classes)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=12)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    left, right, top, bottom = 48, 12, 32, 62
    plot_w, plot_h = width - left - right, height - top - bottom
    ymax = max(1e-9, max([*highs, 0.0]))
    ymax = min(1.0, math.ceil(ymax * 10) / 10) if ymax <= 1 else ymax

    def y(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), ymax) / ymax)

    draw.text((width / 2, 16), title, fill="black", font=font, anchor="mm")
    draw.line([(left, top), (left, top + plot_h), (left + plot_w, top + plot_h)], fill="#333")
    for tick in np.linspace(0, ymax, 5):
        draw.text((left - 6, y(tick)), f"{tick:.2f}", fill="black", font=font, anchor="rm")
    slot = plot_w / max(len(names), 1)
    bar = slot * 0.6
    bars = zip(names, fractions, lows, highs, colours, strict=True)
    for i, (name, f, lo, hi, colour) in enumerate(bars):
        x = left + slot * i + (slot - bar) / 2
        cx = x + bar / 2
        draw.rectangle([x, y(f), x + bar, top + plot_h], fill=hex_to_rgb(colour), outline="#333")
        if hi > lo:
            draw.line([(cx, y(lo)), (cx, y(hi))], fill="black", width=1)
            for v in (lo, hi):
                draw.line([(cx - 5, y(v)), (cx + 5, y(v))], fill="black", width=1)
        draw.text((cx, top + plot_h + 14), name, fill="black", font=font, anchor="mm")
    caption = interval_label(stats)
    if caption:
        draw.text(
            (width / 2, height - 10), f"error bars: {caption}", fill="#333", font=font, anchor="mm"
        )
    return _png(np.asarray(img))


# --- COCO -----------------------------------------------------------------------------
def coco_rle(binary: np.ndarray) -> dict:
    """A boolean (H, W) mask as COCO's compressed RLE ``{"size": [H, W], "counts": str}``.

    The same encoding as ``pycocotools.mask.encode`` (column-major runs starting with a run of
    zeros; from the fourth count on, each as the difference to the count two before, written in
    5-bit groups offset by 48), vectorised over the runs rather than a loop per run.
    """
    b = np.asarray(binary, bool)
    height, width = b.shape
    flat = b.ravel(order="F")
    if flat.size == 0:
        return {"size": [height, width], "counts": ""}
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).astype(np.int64)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    x = runs.copy()
    x[3:] -= runs[1:-2]  # as pycocotools: from the fourth count on
    # up to 13 groups of 5 bits per signed 64-bit count; all runs advance one group a step
    chars = np.zeros((x.size, 13), np.uint8)
    lengths = np.zeros(x.size, np.int64)
    active = np.ones(x.size, bool)
    for step in range(13):
        c = x & 0x1F
        x = x >> 5
        more = np.where(c & 0x10, x != -1, x != 0) & active
        chars[active, step] = (c[active] | (more[active].astype(np.int64) << 5)) + 48
        lengths[active] += 1
        active = more
        if not active.any():
            break
    used = np.arange(13)[None, :] < lengths[:, None]
    return {"size": [height, width], "counts": chars[used].tobytes().decode("ascii")}


def mask_coco(
    mask: np.ndarray,
    classes: Sequence[dict],
    *,
    chip_size: int,
    offset: Sequence[int],
    provenance: dict | None = None,
    file_name: str = "",
) -> bytes:
    """The pixel map (H, W) as a COCO segmentation document (JSON bytes) that COCO tools
    (pycocotools, CVAT, Label Studio, FiftyOne) read.

    One image; one category per class (``id`` = class index + 1: COCO keeps 0 for "nothing";
    ``supercategory`` = the class's kind); one annotation per class present, its pixels as a
    compressed RLE with ``iscrowd`` 1 (COCO's form for a class's whole area, as COCO-Stuff).
    Pixels the map does not cover (:data:`UNLABELLED`) are in no annotation. ``info`` carries
    the class table under :data:`CLASS_TABLE_KEY` and the result's provenance under
    :data:`PROVENANCE_KEY`, as the mask PNG's text chunks do.
    """
    m = np.asarray(mask, np.uint8)
    if m.ndim != 2:
        raise ValueError(f"a COCO export takes one (H, W) map, not shape {m.shape}")
    height, width = m.shape
    table = class_table(classes, chip_size=chip_size, offset=offset)
    prov = provenance or {}
    info = {
        "description": "Chiplab segmentation"
        + (f" of {prov['image'].get('filename')}" if prov.get("image") else ""),
        "version": str(prov.get("code_version") or ""),
        "contributor": "Chiplab",
        "date_created": str(prov.get("started") or ""),
        CLASS_TABLE_KEY: table,
    }
    if provenance:
        info[PROVENANCE_KEY] = provenance
    image = {
        "id": 1,
        "width": width,
        "height": height,
        "file_name": file_name or str((prov.get("image") or {}).get("filename") or ""),
    }
    categories = [
        {
            "id": i + 1,
            "name": str(c.get("name", f"class {i}")),
            "supercategory": str(c.get("kind") or "region"),
            "color": str(c.get("colour", "")),
        }
        for i, c in enumerate(classes)
    ]
    counts = np.bincount(m.ravel(), minlength=256)
    annotations = []
    for i in range(len(classes)):
        area = int(counts[i])
        if not area:
            continue
        binary = m == i
        rows = np.flatnonzero(binary.any(1))
        cols = np.flatnonzero(binary.any(0))
        bbox = [
            int(cols[0]),
            int(rows[0]),
            int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1),
        ]
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": 1,
                "category_id": i + 1,
                "segmentation": coco_rle(binary),
                "area": area,
                "bbox": bbox,
                "iscrowd": 1,
            }
        )
    document = {
        "info": info,
        "licenses": [],
        "images": [image],
        "categories": categories,
        "annotations": annotations,
    }
    return json.dumps(document, separators=(",", ":")).encode()


# --- objects: the instance map ----------------------------------------------------------
def instances_png(instances: np.ndarray) -> bytes:
    """The instance map (H, W) of a result's object classes (0 = no particle, i = particle i
    of the particle table) as an 8-bit RGB PNG whose colour *is* the id:
    ``id = R * 65536 + G * 256 + B`` (up to 16,777,215 particles). The page reads it back
    exactly (a canvas keeps 8-bit RGB) to tell which particle is under the pointer; the
    OME-Zarr export has the same map as uint32 labels for other tools."""
    ids = np.asarray(instances)
    if ids.ndim != 2:
        raise ValueError(f"an instance map is (H, W), not shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() > 0xFFFFFF):
        raise ValueError("instance ids must be in [0, 16777215]")
    ids = ids.astype(np.uint32)
    rgb = np.empty((*ids.shape, 3), np.uint8)
    rgb[..., 0] = ids >> 16
    rgb[..., 1] = (ids >> 8) & 0xFF
    rgb[..., 2] = ids & 0xFF
    text = {"chiplab:instances": "particle id = R * 65536 + G * 256 + B; 0 = no particle"}
    return _png(rgb, text=text)


def read_instances_png(data: bytes) -> np.ndarray:
    """The instance ids (H, W) uint32 of a PNG written by :func:`instances_png`."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(img.convert("RGB")).astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


# --- OME-Zarr (common.ngff) -------------------------------------------------------------
def mask_ome_zarr(
    mask: np.ndarray,
    confidence: np.ndarray,
    classes: Sequence[dict],
    *,
    chip_size: int,
    offset: Sequence[int],
    instances: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    provenance: dict | None = None,
) -> bytes:
    """A result as an OME-Zarr (OME-NGFF 0.4) in one zip file (a zarr ``ZipStore``: opened
    as it is by zarr, ome-zarr-py and napari, or unzipped).

    Layout: the root image is the per-pixel ``confidence`` (float32, NaN-free: uncovered
    pixels 0); ``labels/classes`` the pixel map (uint8 class indices, :data:`UNLABELLED`
    uncovered) with the class colours and names as ``image-label`` colours and properties;
    ``labels/particles`` the instance map (uint32, 0 = none, i = row i of particles.csv)
    when the result has object classes; ``reference`` the grey image the map was made on
    (uint8) when given. The class table and provenance are root attributes
    (:data:`CLASS_TABLE_KEY`, :data:`PROVENANCE_KEY`). Arrays are Blosc-lz4 compressed (fast:
    it is written on every job; zstd took 3x as long) in :data:`common.ngff.ZARR_CHUNK`-px chunks.
    """
    import tempfile

    m = np.asarray(mask, np.uint8)
    if m.ndim != 2:
        raise ValueError(f"an OME-Zarr export takes one (H, W) map, not shape {m.shape}")
    conf = np.nan_to_num(np.asarray(confidence, np.float32), nan=0.0)
    if conf.shape != m.shape:
        raise ValueError(f"confidence {conf.shape} and mask {m.shape} differ in shape")
    table = class_table(classes, chip_size=chip_size, offset=offset)
    compressor = ngff.fast_compressor()
    unit = _ome_unit(pixel_unit)

    def attrs(name: str) -> dict:
        return ngff.multiscales(name, pixel_size=pixel_size, pixel_unit=unit)

    label_names = ["classes"] + (["particles"] if instances is not None else [])
    colours = [
        {"label-value": c["index"], "rgba": [*hex_to_rgb(c["colour"]), 255]}
        for c in table["classes"]
    ]
    image_label = {"version": ngff.OME_NGFF_VERSION, "source": {"image": "../../"}}
    root_attrs = {
        **attrs("confidence"),
        CLASS_TABLE_KEY: table,
        **({PROVENANCE_KEY: provenance} if provenance else {}),
    }
    with tempfile.TemporaryDirectory(prefix="chiplab-zarr-") as tmp:
        path = os.path.join(tmp, "result.ome.zarr.zip")
        with ngff.zip_root(path, root_attrs) as root:
            ngff.add_array(root, conf, fill=0.0, compressor=compressor)
            labels = root.create_group("labels", attributes={"labels": label_names})
            classes_group = labels.create_group(
                "classes",
                attributes={
                    **attrs("classes"),
                    "image-label": {
                        **image_label,
                        "colors": [*colours, {"label-value": UNLABELLED, "rgba": [0, 0, 0, 0]}],
                        # the same label values as colors (NGFF 0.4 validators require it)
                        "properties": [
                            *(
                                {"label-value": c["index"], "class": c["name"]}
                                for c in table["classes"]
                            ),
                            {"label-value": UNLABELLED, "class": "unlabelled"},
                        ],
                    },
                },
            )
            ngff.add_array(classes_group, m, fill=UNLABELLED, compressor=compressor)
            if instances is not None:
                ids = np.asarray(instances).astype(np.uint32)
                if ids.shape != m.shape:
                    raise ValueError(f"instances {ids.shape} and mask {m.shape} differ in shape")
                particles = labels.create_group(
                    "particles", attributes={**attrs("particles"), "image-label": image_label}
                )
                ngff.add_array(particles, ids, fill=0, compressor=compressor)
            if reference is not None and np.shape(reference) == m.shape:
                ref = root.create_group("reference", attributes=attrs("reference"))
                ngff.add_array(ref, np.asarray(reference, np.uint8), fill=0, compressor=compressor)
        with open(path, "rb") as fh:
            return fh.read()


def read_ome_zarr(data: bytes) -> dict[str, np.ndarray | dict]:
    """The arrays of a :func:`mask_ome_zarr` file: ``confidence``, ``classes``, and
    ``particles`` / ``reference`` when present, plus the root ``attrs``."""
    import tempfile

    import zarr

    with tempfile.TemporaryDirectory(prefix="chiplab-zarr-") as tmp:
        path = os.path.join(tmp, "result.ome.zarr.zip")
        with open(path, "wb") as fh:
            fh.write(data)
        store = zarr.storage.ZipStore(path, mode="r")
        try:
            root = zarr.open_group(store, mode="r", zarr_format=2)
            out: dict = {"attrs": dict(root.attrs), "confidence": root["0"][:]}
            for name in root["labels"].attrs["labels"]:
                out[name] = root[f"labels/{name}/0"][:]
            if "reference" in root:
                out["reference"] = root["reference/0"][:]
        finally:
            store.close()
    return out
