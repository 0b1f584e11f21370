// The result's SVG charts: class fractions with error bars (the bootstrap interval lo–hi when
// known, else ± one standard deviation clipped to 0–1), the particle-size histogram and the layer
// profile. They share one frame, one way of drawing the axes and one tooltip.
import { h, s, fmtNum, fmtPct } from "./ui.js";

const AXIS_TEXT = { "font-size": 9.5, fill: "#5f6b7a" };
const DASHED = { stroke: "#1f2933", "stroke-dasharray": "3 2" };

/**
 * A chart's frame in the SVG's own units: 320 wide and ``height`` tall, the plot area ``iw`` ×
 * ``ih`` inside the margins ``m`` (``bottom`` leaves room for the x labels, ``top`` for any text
 * above the highest mark).
 */
export function chartFrame(height, bottom, top = 10) {
  const W = 320;
  const m = { l: 38, r: 8, t: top, b: bottom };
  return { W, H: height, m, iw: W - m.l - m.r, ih: height - m.t - m.b };
}

/** The x axis's ticks: both ends and the middle of [lo, hi], each with its text anchor. */
export function rangeTicks(lo, hi) {
  return [
    { v: lo, anchor: "start" },
    { v: (lo + hi) / 2, anchor: "middle" },
    { v: hi, anchor: "end" },
  ];
}

/** The empty chart: an SVG of ``f``'s size titled ``title``, ``summary`` for screen readers. */
function chartSvg(f, testid, title, summary) {
  const svg = s("svg", {
    viewBox: `0 0 ${f.W} ${f.H}`,
    class: "chart",
    role: "img",
    testid,
    "aria-label": `${title}: ${summary}`,
  });
  svg.append(s("title", {}, title));
  return svg;
}

/**
 * The y axis: at each of ``ticks`` its text (``label(v)``) and a horizontal line across the plot
 * (the base line darker); with ``grid`` false only the base line.
 */
function yAxis(svg, f, y, ticks, label, { grid = true } = {}) {
  const { m } = f;
  for (const v of ticks) {
    if (grid || v === 0) {
      const stroke = v === 0 ? "#8a94a3" : "#e3e7ec";
      svg.append(s("line", { x1: m.l, x2: f.W - m.r, y1: y(v), y2: y(v), stroke, "stroke-width": 1 }));
    }
    svg.append(s("text", { x: m.l - 5, y: y(v) + 3.5, "text-anchor": "end", ...AXIS_TEXT }, label(v)));
  }
}

/** The y axis's name, turned to run up the left edge. */
function yName(svg, f, name) {
  const mid = f.m.t + f.ih / 2;
  svg.append(
    s("text", { x: 10, y: mid, transform: `rotate(-90 10 ${mid})`, "text-anchor": "middle", ...AXIS_TEXT }, name),
  );
}

/** The x axis over [lo, hi] (``x`` maps a value to the SVG): its ticks and its ``name`` below. */
function xAxis(svg, f, x, lo, hi, name) {
  const { H, m } = f;
  for (const { v, anchor } of rangeTicks(lo, hi)) {
    svg.append(s("text", { x: x(v), y: H - m.b + 13, "text-anchor": anchor, ...AXIS_TEXT }, fmtNum(v, 3)));
  }
  svg.append(
    s("text", { x: m.l + f.iw / 2, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#1f2933" }, name),
  );
}

/** A dashed vertical line at SVG x ``at`` through the plot (a median, an interface). */
function marker(f, at, testid) {
  return s("line", { x1: at, x2: at, y1: f.m.t, y2: f.m.t + f.ih, ...DASHED, testid });
}

/**
 * A chart's tooltip (``tip``, to place beside the SVG) and ``attach(g, text)``, which shows
 * ``text`` (one line per \n) by the pointer while it is over ``g``, or by ``g`` while focused.
 */
function tooltip(testid) {
  const tip = h("div", { class: "chart-tip", hidden: true, role: "tooltip", testid });
  const hide = () => {
    tip.hidden = true;
  };
  const attach = (g, text) => {
    const show = (ev) => {
      tip.hidden = false;
      tip.replaceChildren(...text.split("\n").flatMap((line, k) => (k ? [h("br"), line] : [line])));
      // a focus event has no pointer position: beside the element instead
      const x = ev.clientX ?? g.getBoundingClientRect().left + 10;
      const y = ev.clientY ?? g.getBoundingClientRect().top;
      tip.style.left = `${Math.min(window.innerWidth - 260, x + 12)}px`;
      tip.style.top = `${y + 12}px`;
    };
    g.addEventListener("mousemove", show);
    g.addEventListener("focus", show);
    g.addEventListener("mouseleave", hide);
    g.addEventListener("blur", hide);
  };
  return { tip, attach };
}

/**
 * @param {{name:string, colour:string, fraction:number, std:number|null, lo?:number|null,
 *          hi?:number|null, level?:number, count:number, area:number|null}[]} rows
 * @param {{unit?:string, title?:string}} opts
 */
export function fractionChart(rows, { unit = "", title = "Class fractions" } = {}) {
  const f = chartFrame(212, 38, 22); // a bar's percentage stands above it, up to the 100 % line
  const { H, m, iw, ih } = f;
  const { top: niceTop, ticks } = fractionAxis(rows);
  const y = (v) => m.t + ih - (v / niceTop) * ih;
  const band = iw / Math.max(1, rows.length);
  const bw = Math.min(46, band * 0.62);

  const { tip, attach } = tooltip("chart-tooltip");
  const svg = chartSvg(f, "fraction-chart", title, rows.map((r) => `${r.name} ${fmtPct(r.fraction)}`).join(", "));
  yAxis(svg, f, y, ticks, (v) => `${Math.round(v * 100)}%`);

  rows.forEach((r, i) => {
    const cx = m.l + band * (i + 0.5);
    const text = describe(r, unit);
    const g = s("g", { class: "bar", tabindex: "0", testid: "chart-bar", "data-class": r.name, "aria-label": text });
    g.append(s("title", {}, text));
    g.append(
      s("rect", {
        x: cx - bw / 2,
        y: y(r.fraction),
        width: bw,
        height: Math.max(0, y(0) - y(r.fraction)),
        fill: r.colour,
        rx: 2,
      }),
    );
    const bar = interval(r);
    if (bar) {
      const [lo, hi] = bar;
      const ew = Math.min(12, bw / 3);
      g.append(
        s("path", {
          d: `M${cx},${y(lo)}V${y(hi)}M${cx - ew / 2},${y(lo)}H${cx + ew / 2}M${cx - ew / 2},${y(hi)}H${cx + ew / 2}`,
          stroke: "#1f2933",
          "stroke-width": 1.3,
          fill: "none",
          testid: "error-bar",
          "data-lo": lo,
          "data-hi": hi,
        }),
      );
    }
    g.append(
      s(
        "text",
        { x: cx, y: Math.min(y(upper(r)) - 4, y(0) - 4), "text-anchor": "middle", "font-size": 10, fill: "#1f2933" },
        fmtPct(r.fraction, 1),
      ),
    );
    g.append(
      s(
        "text",
        { x: cx, y: H - m.b + 14, "text-anchor": "middle", "font-size": 10.5, fill: "#1f2933" },
        r.name.length > 12 ? `${r.name.slice(0, 11)}…` : r.name,
      ),
    );
    attach(g, text);
    svg.append(g);
  });
  yName(svg, f, "area fraction");
  return h("div", { class: "chart-box" }, svg, tip);
}

const known = (v) => v !== null && v !== undefined;

/**
 * The fraction axis of fractionChart: its top (10 % above the highest bar or error bar, rounded
 * up to a tenth, between 0.1 and 1) and its ticks (every 0.1 up to 0.5, else every 0.2).
 */
export function fractionAxis(rows) {
  const raw = Math.min(1, Math.max(0.1, ...rows.map((r) => upper(r))) * 1.1);
  const top = Math.min(1, Math.ceil(raw * 10) / 10);
  const ticks = [];
  for (let v = 0; v <= top + 1e-9; v += top <= 0.5 ? 0.1 : 0.2) ticks.push(v);
  return { top, ticks };
}

/** The error bar of a row ([lo, hi] within 0–1), or null. */
export function interval(r) {
  if (known(r.lo) && known(r.hi)) return [Math.max(0, r.lo), Math.min(1, r.hi)];
  if (r.std) return [Math.max(0, r.fraction - r.std), Math.min(1, r.fraction + r.std)];
  return null;
}

function upper(r) {
  const bar = interval(r);
  return Math.max(r.fraction, bar ? bar[1] : 0);
}

function describe(r, unit) {
  const spread =
    known(r.lo) && known(r.hi)
      ? ` (${r.level || 95} % interval ${(r.lo * 100).toFixed(1)}–${fmtPct(r.hi, 1)})`
      : r.std
        ? ` ± ${fmtPct(r.std, 1)}`
        : "";
  const lines = [`${r.name}: ${fmtPct(r.fraction, 1)}${spread}`, `${r.count} chip${r.count === 1 ? "" : "s"}`];
  if (r.area !== null && r.area !== undefined) lines.push(`area ${fmtNum(r.area, 4)} ${unit}`);
  return lines.join("\n");
}

/**
 * SVG histogram of particle sizes (``workers.fewshot.objects.size_distribution``): bars over
 * the bin edges, the median as a line, labelled axes; hovering a bar names its range and count.
 * @param {{histogram:{edges:number[], counts:number[]}, median:number|null, length_unit:string}} dist
 * @param {{colour?:string, title?:string}} opts
 */
export function histogramChart(dist, { colour = "#0072b2", title = "Size distribution" } = {}) {
  const f = chartFrame(190, 40);
  const { m, iw, ih } = f;
  const { edges, counts } = dist.histogram;
  const unit = dist.length_unit || "px";
  const lo = edges[0],
    hi = edges[edges.length - 1];
  const top = Math.max(1, ...counts);
  const x = (v) => m.l + ((v - lo) / Math.max(1e-12, hi - lo)) * iw;
  const y = (v) => m.t + ih - (v / top) * ih;
  const { tip, attach } = tooltip("histogram-tooltip");
  const svg = chartSvg(f, "size-histogram", title, `${counts.reduce((a, b) => a + b, 0)} particles measured`);
  yAxis(svg, f, y, [0, Math.ceil(top / 2), top], String, { grid: false });
  counts.forEach((n, i) => {
    const label = `${fmtNum(edges[i], 3)}–${fmtNum(edges[i + 1], 3)} ${unit}: ${n} particle${n === 1 ? "" : "s"}`;
    const g = s("g", { class: "bar", tabindex: "0", testid: "histogram-bar", "data-count": n, "aria-label": label });
    g.append(s("title", {}, label));
    g.append(
      s("rect", {
        x: x(edges[i]) + 0.5,
        y: y(n),
        width: Math.max(0.5, x(edges[i + 1]) - x(edges[i]) - 1),
        height: Math.max(0, y(0) - y(n)),
        fill: colour,
      }),
    );
    attach(g, label);
    svg.append(g);
  });
  if (known(dist.median)) svg.append(marker(f, x(dist.median), "histogram-median"));
  xAxis(svg, f, x, lo, hi, `equivalent diameter (${unit})`);
  yName(svg, f, "particles");
  return h("div", { class: "chart-box" }, svg, tip);
}

/**
 * SVG line chart of class fractions along one axis of the pixel map (a layer profile), with the
 * interfaces as dashed lines. ``prof``: the result's ``stats.layers.y|x``.
 * @param {{positions_px:number[], positions?:number[], unit?:string, fractions:(number|null)[][],
 *          interfaces:{position_px:number}[]}} prof
 * @param {{name:string, colour:string}[]} classes
 */
export function profileChart(prof, classes, { title = "Class fractions along the image" } = {}) {
  const f = chartFrame(190, 40);
  const { m, iw, ih } = f;
  const physical = Array.isArray(prof.positions) && prof.unit;
  const pos = physical ? prof.positions : prof.positions_px;
  // nm per px from the last band (the first one's centre is 0 px with 1 px bands)
  const last = prof.positions_px.length - 1;
  const scale = physical && prof.positions_px[last] ? prof.positions[last] / prof.positions_px[last] : 1;
  const lo = 0,
    hi = Math.max(1e-9, pos[pos.length - 1] + (pos.length > 1 ? (pos[1] - pos[0]) / 2 : 1));
  const x = (v) => m.l + ((v - lo) / (hi - lo)) * iw;
  const y = (v) => m.t + ih - v * ih;
  const n = prof.interfaces.length;
  const svg = chartSvg(f, "profile-chart", title, `${n} interface${n === 1 ? "" : "s"}`);
  yAxis(svg, f, y, [0, 0.5, 1], (v) => `${v * 100}%`);
  classes.forEach((c, k) => {
    let d = "";
    prof.fractions.forEach((row, i) => {
      const v = row[k];
      if (v === null || v === undefined) return;
      d += `${d && prof.fractions[i - 1] && prof.fractions[i - 1][k] !== null ? "L" : "M"}${x(pos[i]).toFixed(1)},${y(v).toFixed(1)}`;
    });
    svg.append(
      s(
        "path",
        { d, fill: "none", stroke: c.colour, "stroke-width": 1.6, testid: "profile-line", "data-class": c.name },
        s("title", {}, c.name),
      ),
    );
  });
  for (const it of prof.interfaces) svg.append(marker(f, x(it.position_px * scale), "profile-interface"));
  xAxis(svg, f, x, lo, hi, `position (${physical ? prof.unit : "px"})`);
  return h("div", { class: "chart-box" }, svg);
}
