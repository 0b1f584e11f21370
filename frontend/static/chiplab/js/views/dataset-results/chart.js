// The chart of a dataset's results: per class the mean fraction across images as a bar, ± 1 s.d.
// as whiskers, the smallest and largest image as dots.
import { h, s, clear, fmtPct } from "../../ui.js";

// the SVG's size and margins, in its own units
const W = 560;
const H = 200;
const LEFT = 48;
const BOTTOM = 40;
const TOP = 10;
const y = (v) => TOP + (1 - v) * (H - TOP - BOTTOM);

/** Into ``chart`` (a figure): the mean fraction per class over ``count`` images, with the spread. */
export function renderChart(chart, aggregate, count) {
  clear(chart).append(h("h2", { style: { margin: "0 0 .4rem", fontSize: "1.05rem" } }, "Mean fraction per class"));
  const shown = aggregate.filter((a) => a.n_images);
  if (!shown.length) {
    chart.append(h("p", { class: "muted", testid: "chart-empty" }, "No results yet: segment the dataset first."));
    return;
  }
  const band = (W - LEFT - 10) / shown.length;
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: "100%",
    role: "img",
    style: { maxWidth: `${W}px` },
    "aria-label": "Mean fraction per class across images, with the spread",
  });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(
      s("line", { x1: LEFT, x2: W - 10, y1: y(t), y2: y(t), stroke: "#e3e6ea" }),
      s("text", { x: LEFT - 6, y: y(t) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6470" }, `${t * 100} %`),
    );
  }
  shown.forEach((a, i) => {
    svg.append(...classMarks(a, LEFT + i * band + band * 0.2, band * 0.6));
  });
  chart.append(
    svg,
    h(
      "figcaption",
      { class: "muted small" },
      `Bars: mean fraction over the ${count} image(s) shown by the filters that have a result; whiskers: ± 1 s.d. across images; dots: smallest and largest image.`,
    ),
  );
}

/** One class's bar (at ``x``, ``w`` wide), whiskers, min and max dots and labels. */
function classMarks(a, x, w) {
  const cx = x + w / 2;
  const lo = Math.max(0, a.mean - a.sd);
  const hi = Math.min(1, a.mean + a.sd);
  const whisker = { stroke: "#222", "stroke-width": 1.5 };
  return [
    s(
      "rect",
      {
        class: "bar",
        x,
        y: y(a.mean),
        width: w,
        height: y(0) - y(a.mean),
        fill: a.colour || "#888",
        "data-testid": "aggregate-bar",
        "data-class": a.name,
        "data-mean": a.mean,
        "data-sd": a.sd,
      },
      s(
        "title",
        {},
        `${a.name}: mean ${fmtPct(a.mean)} ± ${fmtPct(a.sd)} (s.d.) over ${a.n_images} image(s); min ${fmtPct(a.min)}, max ${fmtPct(a.max)}`,
      ),
    ),
    s("line", { x1: cx, x2: cx, y1: y(hi), y2: y(lo), ...whisker }),
    s("line", { x1: cx - 6, x2: cx + 6, y1: y(hi), y2: y(hi), ...whisker }),
    s("line", { x1: cx - 6, x2: cx + 6, y1: y(lo), y2: y(lo), ...whisker }),
    s("circle", { cx: cx + w / 2 - 4, cy: y(a.min), r: 2.5, fill: "#222" }),
    s("circle", { cx: cx + w / 2 - 4, cy: y(a.max), r: 2.5, fill: "#222" }),
    s("text", { x: cx, y: H - BOTTOM + 16, "text-anchor": "middle", "font-size": 12, fill: "#222" }, a.name),
    s(
      "text",
      { x: cx, y: H - BOTTOM + 30, "text-anchor": "middle", "font-size": 11, fill: "#5b6470" },
      `${fmtPct(a.mean)} · n=${a.n_images}`,
    ),
  ];
}
