"""The abundance chart (SVG and PNG) with the same interval as on screen."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

from .classes import hex_to_rgb
from .histogram import vertical_text
from .png import png_bytes


def interval_label(stats: dict) -> str:
    """What a result's fraction interval is, in a few words (charts and tables say it)."""
    interval = stats.get("interval")
    if interval:
        return f"{round(100 * interval['ci'])} % interval: {interval['method']}"
    if stats.get("fractions_ci_low"):
        level = round(100 * stats.get("bootstrap", {}).get("ci", 0.95))
        return f"{level} % interval over support resamples"
    return "± 1 s.d. over support resamples" if stats.get("fractions_std") else ""


def _captions(stats: dict) -> list[str]:
    """The chart's caption lines: which interval the error bars are and what it covers (the
    words the page uses under its chart)."""
    caption = interval_label(stats)
    if not caption:
        return []
    covers = (stats.get("interval") or stats.get("bootstrap") or {}).get("covers")
    if not covers and stats.get("fractions_ci_low"):
        covers = "the choice of support chips only (support resamples)"
    return [f"error bars: {caption}", *([f"the interval covers {covers}"] if covers else [])]


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
    for k, line in enumerate(_captions(stats)):
        parts.append(
            f'<text class="caption" x="{width / 2:.1f}" y="{height - 24 + 14 * k}" '
            f'text-anchor="middle" font-size="10">{escape(line)}</text>'
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
    # Pillow: only the chart exports draw
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
    for k, line in enumerate(_captions(stats)):
        draw.text((width / 2, height - 24 + 14 * k), line, fill="#333", font=font, anchor="mm")
    vertical_text(img, "area fraction", (8, top + plot_h / 2), font)
    return png_bytes(np.asarray(img))
