// The Objects box of a result: count, density and size distribution of each class marked as
// objects (the particles' table is particles.js).
import { histogramChart } from "../../chart.js";
import { h, fmtNum } from "../../ui.js";
import { colourOf } from "./colour.js";

/** Count, density and size distribution of each class marked as objects; `level`: the
 * intervals' level (%). */
export function objectsBox(ws, r, level) {
  const found = r.objects || {};
  const names = Object.keys(found);
  if (!names.length) return "";
  return h(
    "div",
    { testid: "objects" },
    h("h3", {}, "Objects"),
    ...names.map((name) => objectClass(ws, r, name, level)),
  );
}

function objectClass(ws, r, name, level) {
  const d = r.objects[name];
  const c = r.classes.find((x) => x.name === name);
  const u = d.length_unit;
  const ci = d.bootstrap?.intervals ? d.bootstrap.intervals.median : null;
  const density =
    d.number_density === null
      ? "–"
      : `${fmtNum(d.number_density, 3)} per ${d.number_density_unit.replace("1/", "").replace("^2", "²")}`;
  return h(
    "div",
    { class: "objects-class", testid: "objects-class", dataset: { class: name } },
    h(
      "p",
      {},
      h("strong", { testid: "objects-count" }, `${d.n_total} × ${name}`),
      ` · ${d.n_edge} touch the edge (left out of the sizes) · density ${density}`,
    ),
    d.median === null
      ? h("p", { class: "small muted" }, "No particle away from the edge to measure.")
      : h(
          "p",
          { class: "small", testid: "objects-sizes" },
          `Median equivalent diameter ${fmtNum(d.median, 3)} ${u}`,
          ci ? ` (${level} % interval ${fmtNum(ci[0], 3)}–${fmtNum(ci[1], 3)}, particles resampled)` : "",
          ` · mean ${fmtNum(d.mean, 3)} ${u}, s.d. ${fmtNum(d.std, 3)} ${u} · ${d.n_measured} measured`,
        ),
    d.n_measured
      ? histogramChart(d, { colour: c ? colourOf(ws, c) : undefined, title: `${name}: equivalent diameters` })
      : "",
  );
}
