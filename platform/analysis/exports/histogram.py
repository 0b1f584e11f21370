"""The particle size histogram (SVG and PNG) of a result's object classes, as on screen: bars
over the bin edges, the median as a dashed line, labelled axes and a caption that states the
median's interval and what it covers."""

from __future__ import annotations

from xml.sax.saxutils import escape

import numpy as np

from .classes import hex_to_rgb
from .png import png_bytes

#: one panel per object class, this tall (px), stacked
PANEL_HEIGHT = 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 30, 74


def median_caption(dist: dict) -> str:
    """The median with its interval and what the interval is, in one line (as on screen)."""
    unit = dist.get("length_unit") or "px"
    if dist.get("median") is None:
        return "no particle away from the edge to measure"
    text = f"median {dist['median']:.3g} {unit}"
    boot = dist.get("bootstrap") or {}
    ci = (boot.get("intervals") or {}).get("median")
    if ci:
        level = round(100 * float(boot.get("ci", 0.95)))
        text += f" ({level} % interval {ci[0]:.3g}–{ci[1]:.3g} {unit}: {boot.get('method', '')})"
    return text


def counts_caption(dist: dict) -> str:
    """How many particles the histogram holds and which were left out."""
    text = f"n = {dist.get('n_measured', 0)} measured of {dist.get('n_total', 0)}"
    if dist.get("n_edge"):
        text += f"; {dist['n_edge']} touching the edge left out"
    return text


def _geometry(dist: dict, width: int):
    edges = [float(e) for e in dist["histogram"]["edges"]]
    counts = [int(c) for c in dist["histogram"]["counts"]]
    lo, hi = edges[0], edges[-1]
    top = max(1, *counts) if counts else 1
    plot_w, plot_h = width - _LEFT - _RIGHT, PANEL_HEIGHT - _TOP - _BOTTOM

    def x(v: float) -> float:
        return _LEFT + (v - lo) / max(1e-12, hi - lo) * plot_w

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    return edges, counts, top, x, y


def _panels(objects: dict, classes) -> list[tuple[str, str, dict]]:
    """(name, colour, distribution) of each object class with a histogram, in class order."""
    colour = {c.get("name"): c.get("colour") or "#0072b2" for c in classes}
    return [
        (name, colour.get(name, "#0072b2"), dist)
        for name, dist in objects.items()
        if dist.get("histogram") and len(dist["histogram"].get("edges", ())) >= 2
    ]


def histogram_svg(objects: dict, classes, *, title: str = "", width: int = 520) -> str:
    """One histogram panel per object class (``stats["objects"]``) as a standalone SVG.

    Every bar is a ``<rect class="bar" data-class data-low data-high data-count>`` (bin edges
    in the length unit), the median line ``class="median" data-value``, the caption lines
    ``class="caption"``: scripts and tests read the values back.
    """
    panels = _panels(objects, classes)
    height = PANEL_HEIGHT * max(1, len(panels))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title or 'Particle sizes')}</title>",
    ]
    for k, (name, colour, dist) in enumerate(panels):
        parts.append(f'<g transform="translate(0 {k * PANEL_HEIGHT})">')
        parts += _svg_panel(name, colour, dist, width, title)
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _svg_panel(name: str, colour: str, dist: dict, width: int, title: str) -> list[str]:
    edges, counts, top, x, y = _geometry(dist, width)
    unit = dist.get("length_unit") or "px"
    attr = escape(name, {'"': "&quot;"})
    base = y(0)
    heading = f"{title}: {name}" if title else f"{name}: equivalent diameters"
    out = [
        f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14">'
        f"{escape(heading)}</text>",
        f'<line x1="{_LEFT}" y1="{base:.1f}" x2="{width - _RIGHT}" y2="{base:.1f}" stroke="#333"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{base:.1f}" stroke="#333"/>',
    ]
    for tick in sorted({0, (top + 1) // 2, top}):
        out.append(f'<text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, n in enumerate(counts):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        out.append(
            f'<rect class="bar" data-class="{attr}" data-low="{edges[i]:.6g}" '
            f'data-high="{edges[i + 1]:.6g}" data-count="{n}" x="{x0 + 0.5:.1f}" '
            f'y="{y(n):.1f}" width="{max(0.5, x1 - x0 - 1):.1f}" height="{base - y(n):.1f}" '
            f'fill="{escape(colour)}"/>'
        )
    for v, anchor in ((edges[0], "start"), ((edges[0] + edges[-1]) / 2, "middle")):
        out.append(
            f'<text x="{x(v):.1f}" y="{base + 15:.1f}" text-anchor="{anchor}">{v:.3g}</text>'
        )
    out.append(
        f'<text x="{x(edges[-1]):.1f}" y="{base + 15:.1f}" text-anchor="end">{edges[-1]:.3g}</text>'
    )
    if dist.get("median") is not None:
        m = x(float(dist["median"]))
        out.append(
            f'<line class="median" data-value="{float(dist["median"]):.6g}" x1="{m:.1f}" '
            f'y1="{_TOP}" x2="{m:.1f}" y2="{base:.1f}" stroke="#1f2933" stroke-dasharray="4 3"/>'
        )
    out.append(
        f'<text class="x-label" x="{_LEFT + (width - _LEFT - _RIGHT) / 2:.1f}" '
        f'y="{base + 32:.1f}" text-anchor="middle">equivalent diameter ({escape(unit)})</text>'
    )
    mid = (_TOP + base) / 2
    out.append(
        f'<text class="y-label" x="16" y="{mid:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {mid:.1f})">particles</text>'
    )
    for j, line in enumerate((median_caption(dist), counts_caption(dist))):
        out.append(
            f'<text class="caption" x="{width / 2:.1f}" y="{base + 50 + 14 * j:.1f}" '
            f'text-anchor="middle" font-size="10">{escape(line)}</text>'
        )
    return out


def histogram_png(objects: dict, classes, *, title: str = "", width: int = 520) -> bytes:
    """The same panels as :func:`histogram_svg`, drawn with Pillow as PNG bytes."""
    # Pillow: only the histogram exports draw
    from PIL import Image, ImageDraw, ImageFont

    panels = _panels(objects, classes)
    img = Image.new("RGB", (width, PANEL_HEIGHT * max(1, len(panels))), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=12)
    small = ImageFont.load_default(size=10)
    for k, (name, colour, dist) in enumerate(panels):
        dy = k * PANEL_HEIGHT
        edges, counts, top, x, y = _geometry(dist, width)
        base = y(0) + dy
        heading = f"{title}: {name}" if title else f"{name}: equivalent diameters"
        draw.text((width / 2, dy + 16), heading, fill="black", font=font, anchor="mm")
        draw.line([(_LEFT, _TOP + dy), (_LEFT, base), (width - _RIGHT, base)], fill="#333")
        for tick in sorted({0, (top + 1) // 2, top}):
            draw.text((_LEFT - 6, y(tick) + dy), str(tick), fill="black", font=font, anchor="rm")
        for i, n in enumerate(counts):
            x0, x1 = x(edges[i]) + 0.5, max(x(edges[i]) + 1, x(edges[i + 1]) - 0.5)
            if n:
                draw.rectangle([x0, y(n) + dy, x1, base], fill=hex_to_rgb(colour))
        for v, anchor in ((edges[0], "lm"), ((edges[0] + edges[-1]) / 2, "mm"), (edges[-1], "rm")):
            draw.text((x(v), base + 12), f"{v:.3g}", fill="black", font=font, anchor=anchor)
        if dist.get("median") is not None:
            m = x(float(dist["median"]))
            for y0 in np.arange(_TOP + dy, base, 7):
                draw.line([(m, y0), (m, min(base, y0 + 4))], fill="#1f2933")
        unit = dist.get("length_unit") or "px"
        label = f"equivalent diameter ({unit})"
        middle = _LEFT + (width - _LEFT - _RIGHT) / 2
        draw.text((middle, base + 30), label, fill="black", font=font, anchor="mm")
        vertical_text(img, "particles", (16, (_TOP + dy + base) / 2), font)
        for j, line in enumerate((median_caption(dist), counts_caption(dist))):
            # the bitmap-free default font has no en dash
            line = line.replace("–", " to ")
            draw.text((width / 2, base + 48 + 14 * j), line, fill="#333", font=small, anchor="mm")
    return png_bytes(np.asarray(img))


def vertical_text(img, text: str, centre: tuple[float, float], font) -> None:
    """``text`` rotated a quarter turn anticlockwise, centred at ``centre`` (a y-axis label)."""
    # Pillow: only the histogram exports draw
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text)
    label = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(label).text((1 - left, 1 - top), text, fill=255, font=font)
    label = label.rotate(90, expand=True)
    x, y = round(centre[0] - label.width / 2), round(centre[1] - label.height / 2)
    img.paste((0, 0, 0), (x, y), label)
