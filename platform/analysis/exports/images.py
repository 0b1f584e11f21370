"""Image exports: the overlay with legend and scale bar, the mask and confidence PNGs,
thumbnails, the instance map."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence

import numpy as np

from catalog.formats.preview import preview_shape

from .classes import CLASS_TABLE_KEY, PROVENANCE_KEY, UNLABELLED, class_table, hex_to_rgb, palette
from .png import png_bytes


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
    return png_bytes(_with_footer(rgb, classes, per_px, pixel_unit))


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
    # Pillow: only the image exports draw
    from PIL import Image, ImageDraw, ImageFont

    w = rgb.shape[1]
    size = int(min(max(12, w / 60), 48))
    band = int(size * 2.2)
    # the band alone is drawn and joined under the image (pasting the image into a new one
    # and reading it back copied a 4096^2 overlay twice: 0.1 s)
    img = Image.new("RGB", (w, band), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    x, y = size // 2, band // 2
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
    return np.concatenate([rgb, np.asarray(img)])


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
    return png_bytes(mask, text=text, palette=palette(classes), transparent=(UNLABELLED,))


def mask_preview_png(mask: np.ndarray, classes: Sequence[dict], *, max_side: int) -> bytes:
    """The pixel map (H, W) class indices at the image preview's size
    (``catalog.formats.preview.preview_shape``), each pixel the class at its centre:
    what the page draws at fit zoom, a quarter of the pixels of a 4096^2 map to decode and
    draw (the full ``mask.png`` once zoomed in past it). Indexed colour as ``mask_png``,
    without its text chunks."""
    height, width = mask.shape
    out_h, out_w = preview_shape(height, width, max_side)
    rows = ((np.arange(out_h) + 0.5) * height / out_h).astype(np.intp)
    cols = ((np.arange(out_w) + 0.5) * width / out_w).astype(np.intp)
    # take() along each axis: fancy indexing the columns read them column by column (7x slower)
    small = mask.take(rows, axis=0).take(cols, axis=1)
    return png_bytes(small, palette=palette(classes), transparent=(UNLABELLED,))


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
    return png_bytes(small, palette=palette(classes), transparent=(UNLABELLED,))


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
    conf = np.asarray(confidence, np.float32)
    # in place on one float32 copy (four passes and copies took 0.1 s of a 4096^2 map)
    scaled = np.multiply(conf, np.float32(255.0))
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    np.copyto(scaled, 0, where=np.isnan(scaled))
    values = scaled.astype(np.uint8)
    text = {"chiplab:confidence": "value / 255 = confidence of the pixel's class"}
    return png_bytes(values, text=text, palette=_confidence_palette())


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
    return png_bytes(rgb, text=text)


def read_instances_png(data: bytes) -> np.ndarray:
    """The instance ids (H, W) uint32 of a PNG written by :func:`instances_png`."""
    # Pillow: only the image exports draw
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(img.convert("RGB")).astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
