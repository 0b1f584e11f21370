// SVG bar chart of class fractions with error bars: the bootstrap interval (lo–hi) when known,
// else ± one standard deviation clipped to 0–1.
import { h, s, fmtNum, fmtPct } from "./ui.js";

/**
 * @param {{name:string, colour:string, fraction:number, std:number|null, lo?:number|null,
 *          hi?:number|null, level?:number, count:number, area:number|null}[]} rows
 * @param {{unit?:string, title?:string}} opts
 */
export function fractionChart(rows, { unit = "", title = "Class fractions" } = {}) {
  const W = 320,
    H = 200,
    m = { l: 38, r: 8, t: 10, b: 38 };
  const iw = W - m.l - m.r,
    ih = H - m.t - m.b;
  const { top: niceTop, ticks } = fractionAxis(rows);
  const y = (v) => m.t + ih - (v / niceTop) * ih;
  const band = iw / Math.max(1, rows.length);
  const bw = Math.min(46, band * 0.62);

  const tip = h("div", { class: "chart-tip", hidden: true, role: "tooltip", testid: "chart-tooltip" });
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    testid: "fraction-chart",
    "aria-label": `${title}: ${rows.map((r) => `${r.name} ${fmtPct(r.fraction)}`).join(", ")}`,
  });
  svg.append(s("title", {}, title));

  // Axis and grid lines.
  for (const v of ticks) {
    svg.append(
      s("line", {
        x1: m.l,
        x2: W - m.r,
        y1: y(v),
        y2: y(v),
        stroke: v === 0 ? "#8a94a3" : "#e3e7ec",
        "stroke-width": 1,
      }),
    );
    svg.append(
      s(
        "text",
        { x: m.l - 5, y: y(v) + 3.5, "text-anchor": "end", "font-size": 9.5, fill: "#5f6b7a" },
        `${Math.round(v * 100)}%`,
      ),
    );
  }

  rows.forEach((r, i) => {
    const cx = m.l + band * (i + 0.5);
    const g = s("g", {
      class: "bar",
      tabindex: "0",
      testid: "chart-bar",
      "data-class": r.name,
      "aria-label": describe(r, unit),
    });
    g.append(s("title", {}, describe(r, unit)));
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
    const show = (ev) => {
      tip.hidden = false;
      tip.replaceChildren(
        ...describe(r, unit)
          .split("\n")
          .flatMap((line, k) => (k ? [h("br"), line] : [line])),
      );
      const x = ev.clientX ?? g.getBoundingClientRect().left + 10;
      const yy = ev.clientY ?? g.getBoundingClientRect().top;
      tip.style.left = `${Math.min(window.innerWidth - 260, x + 12)}px`;
      tip.style.top = `${yy + 12}px`;
    };
    g.addEventListener("mousemove", show);
    g.addEventListener("focus", show);
    g.addEventListener("mouseleave", () => {
      tip.hidden = true;
    });
    g.addEventListener("blur", () => {
      tip.hidden = true;
    });
    svg.append(g);
  });
  svg.append(
    s(
      "text",
      {
        x: 10,
        y: m.t + ih / 2,
        transform: `rotate(-90 10 ${m.t + ih / 2})`,
        "text-anchor": "middle",
        "font-size": 9.5,
        fill: "#5f6b7a",
      },
      "area fraction",
    ),
  );
  return h("div", { class: "chart-box" }, svg, tip);
}

const known = (v) => v !== null && v !== undefined;

/** The error bar's ends: the interval when known, else ± s.d. clipped to 0–1; null for none. */
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
  const W = 320,
    H = 190,
    m = { l: 38, r: 8, t: 10, b: 40 };
  const iw = W - m.l - m.r,
    ih = H - m.t - m.b;
  const { edges, counts } = dist.histogram;
  const unit = dist.length_unit || "px";
  const lo = edges[0],
    hi = edges[edges.length - 1];
  const top = Math.max(1, ...counts);
  const x = (v) => m.l + ((v - lo) / Math.max(1e-12, hi - lo)) * iw;
  const y = (v) => m.t + ih - (v / top) * ih;
  const tip = h("div", { class: "chart-tip", hidden: true, role: "tooltip", testid: "histogram-tooltip" });
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    testid: "size-histogram",
    "aria-label": `${title}: ${counts.reduce((a, b) => a + b, 0)} particles measured`,
  });
  svg.append(s("title", {}, title));
  svg.append(s("line", { x1: m.l, x2: W - m.r, y1: y(0), y2: y(0), stroke: "#8a94a3" }));
  for (const v of [0, Math.ceil(top / 2), top]) {
    svg.append(
      s("text", { x: m.l - 5, y: y(v) + 3.5, "text-anchor": "end", "font-size": 9.5, fill: "#5f6b7a" }, String(v)),
    );
  }
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
    const show = (ev) => {
      tip.hidden = false;
      tip.textContent = label;
      const r = g.getBoundingClientRect();
      tip.style.left = `${Math.min(window.innerWidth - 260, (ev.clientX ?? r.left) + 12)}px`;
      tip.style.top = `${(ev.clientY ?? r.top) + 12}px`;
    };
    g.addEventListener("mousemove", show);
    g.addEventListener("focus", show);
    g.addEventListener("mouseleave", () => {
      tip.hidden = true;
    });
    g.addEventListener("blur", () => {
      tip.hidden = true;
    });
    svg.append(g);
  });
  if (dist.median !== null && dist.median !== undefined) {
    svg.append(
      s("line", {
        x1: x(dist.median),
        x2: x(dist.median),
        y1: m.t,
        y2: y(0),
        stroke: "#1f2933",
        "stroke-dasharray": "3 2",
        testid: "histogram-median",
      }),
    );
  }
  [lo, (lo + hi) / 2, hi].forEach((v, i) => {
    svg.append(
      s(
        "text",
        { x: x(v), y: H - m.b + 13, "text-anchor": ["start", "middle", "end"][i], "font-size": 9.5, fill: "#5f6b7a" },
        fmtNum(v, 3),
      ),
    );
  });
  svg.append(
    s(
      "text",
      { x: m.l + iw / 2, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#1f2933" },
      `equivalent diameter (${unit})`,
    ),
  );
  svg.append(
    s(
      "text",
      {
        x: 10,
        y: m.t + ih / 2,
        transform: `rotate(-90 10 ${m.t + ih / 2})`,
        "text-anchor": "middle",
        "font-size": 9.5,
        fill: "#5f6b7a",
      },
      "particles",
    ),
  );
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
  const W = 320,
    H = 190,
    m = { l: 38, r: 8, t: 10, b: 40 };
  const iw = W - m.l - m.r,
    ih = H - m.t - m.b;
  const physical = Array.isArray(prof.positions) && prof.unit;
  const pos = physical ? prof.positions : prof.positions_px;
  // nm per px from the last band (the first one's centre is 0 px with 1 px bands)
  const last = prof.positions_px.length - 1;
  const scale = physical && prof.positions_px[last] ? prof.positions[last] / prof.positions_px[last] : 1;
  const lo = 0,
    hi = Math.max(1e-9, pos[pos.length - 1] + (pos.length > 1 ? (pos[1] - pos[0]) / 2 : 1));
  const x = (v) => m.l + ((v - lo) / (hi - lo)) * iw;
  const y = (v) => m.t + ih - v * ih;
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    testid: "profile-chart",
    "aria-label": `${title}: ${prof.interfaces.length} interface${prof.interfaces.length === 1 ? "" : "s"}`,
  });
  svg.append(s("title", {}, title));
  for (const v of [0, 0.5, 1]) {
    svg.append(s("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), stroke: v === 0 ? "#8a94a3" : "#e3e7ec" }));
    svg.append(
      s("text", { x: m.l - 5, y: y(v) + 3.5, "text-anchor": "end", "font-size": 9.5, fill: "#5f6b7a" }, `${v * 100}%`),
    );
  }
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
  for (const it of prof.interfaces) {
    const v = it.position_px * scale;
    svg.append(
      s("line", {
        x1: x(v),
        x2: x(v),
        y1: m.t,
        y2: y(0),
        stroke: "#1f2933",
        "stroke-dasharray": "3 2",
        testid: "profile-interface",
      }),
    );
  }
  [lo, (lo + hi) / 2, hi].forEach((v, i) => {
    svg.append(
      s(
        "text",
        { x: x(v), y: H - m.b + 13, "text-anchor": ["start", "middle", "end"][i], "font-size": 9.5, fill: "#5f6b7a" },
        fmtNum(v, 3),
      ),
    );
  });
  svg.append(
    s(
      "text",
      { x: m.l + iw / 2, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#1f2933" },
      `position (${physical ? prof.unit : "px"})`,
    ),
  );
  return h("div", { class: "chart-box" }, svg);
}
