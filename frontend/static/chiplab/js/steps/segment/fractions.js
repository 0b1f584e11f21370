// The class fractions of a result: each class's chips, fraction with its interval and area,
// as a chart and a table, with notes on what the interval covers, the pixel map's uncertain
// pixels and areas left in pixels.
import { fractionChart } from "../../chart.js";
import { h, fmtNum, fmtPct } from "../../ui.js";
import { areaFormat } from "./areas.js";
import { colourOf } from "./colour.js";

/** A result's rows (one per class) and what their intervals are: `level` (%), `covers` (in
 * the words of the engine that computed it), `hasCi` and how areas read (`area`). */
export function fractionSummary(ws, r) {
  const stats = r.stats || {};
  // Physical areas when the image was calibrated at the time; else the pixel areas.
  const calibrated = Array.isArray(r.areas) && r.areas.length > 0;
  const areas = calibrated ? r.areas : Array.isArray(stats.areas_px) ? stats.areas_px : [];
  const unit = calibrated ? (r.area_unit || stats.area_unit || "px^2").replace("^2", "²") : "px²";
  const std = r.fraction_std || [];
  // The bootstrap's percentile interval: never below 0 or above 1, unlike ± s.d.
  const low = stats.fractions_ci_low || [];
  const high = stats.fractions_ci_high || [];
  const level = Math.round(((stats.interval || stats.bootstrap)?.ci || 0.95) * 100);
  const covers = stats.interval ? stats.interval.covers : "the choice of support chips only (support resamples)";
  const rows = r.classes.map((c, i) => ({
    name: c.name,
    colour: colourOf(ws, c),
    fraction: r.fractions[i] || 0,
    std: std[i] ?? null,
    lo: low[i] ?? null,
    hi: high[i] ?? null,
    level,
    count: r.counts[i] || 0,
    area: areas[i] ?? null,
  }));
  const hasCi = rows.some((x) => x.lo !== null && x.hi !== null);
  return { rows, level, covers, hasCi, calibrated, unit, area: areaFormat({ calibrated, unit, areas, level }) };
}

export function fractionsChart(f) {
  return fractionChart(f.rows, {
    unit: f.unit,
    title: f.hasCi
      ? `Class area fractions (${f.level} % interval)`
      : "Class area fractions (± 1 s.d. over support resamples)",
  });
}

const fractionText = (x) =>
  x.lo !== null && x.hi !== null
    ? `${fmtPct(x.fraction)} (${(x.lo * 100).toFixed(1)}–${fmtPct(x.hi)})`
    : `${fmtPct(x.fraction)}${x.std !== null ? ` ± ${fmtPct(x.std)}` : ""}`;

/** The table of `f.rows`, with the pixel map's share of each class when `r` has one. */
export function statsTable(r, f) {
  const px = r.pixel_map;
  const { level, hasCi } = f;
  return h(
    "table",
    { class: "stats", testid: "stats-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Class"),
        h("th", { scope: "col" }, "Chips"),
        h(
          "th",
          { scope: "col", title: hasCi ? `${level} % interval; it covers ${f.covers}` : "" },
          hasCi ? `Fraction (${level} % interval)` : "Fraction",
        ),
        h(
          "th",
          { scope: "col", title: hasCi ? `± or +/−: the fraction's ${level} % interval, as area` : "" },
          `Area (${f.area.unit})`,
        ),
        px ? h("th", { scope: "col", title: "Share of the pixel map's pixels (no interval)" }, "Pixel map") : null,
      ),
    ),
    h(
      "tbody",
      {},
      f.rows.map((x, i) =>
        h(
          "tr",
          {},
          h("td", {}, h("span", { class: "swatch", style: { background: x.colour } }), x.name),
          h("td", {}, x.count.toLocaleString()),
          h("td", { testid: "stats-fraction" }, fractionText(x)),
          h("td", { testid: "stats-area", title: f.area.range(x) }, f.area.text(x)),
          px ? h("td", { testid: "stats-pixel-fraction" }, fmtPct(px.fractions[i] || 0)) : null,
        ),
      ),
    ),
  );
}

export function intervalNote(f) {
  return f.hasCi
    ? h("p", { class: "small muted", testid: "interval-note" }, `The ${f.level} % interval covers ${f.covers}.`)
    : "";
}

export function pixelNote(r) {
  const px = r.pixel_map;
  return px
    ? h(
        "p",
        { class: "small muted", testid: "pixel-map-note" },
        `Pixel map: ${fmtPct(px.uncertain_fraction)} of its pixels are below ${Math.round(px.uncertain_below * 100)} % ` +
          "confidence (see the Confidence view); the chip fractions carry the interval.",
      )
    : "";
}

/** Why areas are in pixels, when they are, and how to get physical ones. */
export function areaNote(f, image, canConsensus) {
  if (f.calibrated) return "";
  return h(
    "p",
    { class: "small muted", testid: "area-note" },
    "Areas are in pixels: the image had no pixel size when this was segmented.",
    image.pixel_size
      ? ` It has one now (${fmtNum(image.pixel_size, 4)} ${image.pixel_unit} / px): segment again for physical areas.`
      : canConsensus
        ? " Curators can set one under “Image metadata” below."
        : "",
  );
}
