// Class areas in a result's table: in a readable unit (µm² rather than 1.41e+5 nm²), with
// ± (half the fraction's interval, times the measured area) to the decimals it supports.
import { h, fmtNum } from "../../ui.js";

// Lengths of the units areas come in, in nm; areas move up to µm² / mm² when they get large.
const NM_PER = { pm: 1e-3, Å: 0.1, nm: 1, µm: 1e3, um: 1e3, mm: 1e6 };

/** The unit to show areas in (from e.g. "nm²") and the factor to multiply them by. */
export function readableAreaUnit(unit, areas) {
  const base = String(unit).replace("²", "");
  if (!(base in NM_PER)) return { unit, factor: 1 };
  const largest = Math.max(0, ...areas.filter((a) => typeof a === "number")) * NM_PER[base] ** 2; // nm²
  const target = largest >= 1e10 ? "mm" : largest >= 1e4 ? "µm" : "nm";
  return { unit: `${target}²`, factor: (NM_PER[base] / NM_PER[target]) ** 2 };
}

/** How a result's class areas read: `unit` (the column's), `text(row)` (the value with its
 * spread) and `range(row)` (the interval as areas, for the cell's title). `calibrated`:
 * `areas` are physical, in `unit`; else pixel counts. */
export function areaFormat({ calibrated, unit, areas, level }) {
  const shown = calibrated ? readableAreaUnit(unit, areas) : { unit, factor: 1 };
  const total = areas.reduce((sum, a) => sum + (a || 0), 0);
  // the value to the decimals of its uncertainty's 2 significant digits (2.25 ± 0.26)
  const num = (a, decimals) =>
    !calibrated
      ? Math.round(a).toLocaleString("en")
      : decimals === undefined
        ? fmtNum(a * shown.factor, 3)
        : (a * shown.factor).toLocaleString("en", {
            minimumFractionDigits: decimals,
            maximumFractionDigits: decimals,
          });
  // [below, above] the value: the fraction's interval as area (s.d. × 1.96 without one)
  const spread = (x) =>
    x.lo !== null && x.hi !== null
      ? [(x.fraction - Math.max(0, x.lo)) * total, (Math.min(1, x.hi) - x.fraction) * total]
      : x.std !== null
        ? [1.96 * x.std * total, 1.96 * x.std * total]
        : null;
  const text = (x) => {
    if (x.area === null) return "–";
    const around = spread(x);
    if (around === null || !(Math.max(...around) > 0)) return num(x.area);
    const [below, above] = around.map((v) => Math.max(0, v));
    const step = Math.min(below || above, above || below) * shown.factor;
    const decimals = Math.min(6, Math.max(0, 1 - Math.floor(Math.log10(step))));
    // ± when the interval is about symmetric; else "+above / −below" (never a negative area)
    const symmetric = Math.abs(above - below) <= 0.25 * Math.max(above, below);
    // each part kept whole; a narrow column breaks the line between them
    const nowrap = (t) => h("span", { class: "nowrap" }, t);
    const plusMinus = symmetric
      ? [nowrap(`± ${num((above + below) / 2, decimals)}`)]
      : [nowrap(`+${num(above, decimals)}`), " / ", nowrap(`−${num(below, decimals)}`)];
    return [num(x.area, decimals), " ", ...plusMinus];
  };
  const range = (x) =>
    x.area === null || x.lo === null || x.hi === null
      ? ""
      : `${level} % interval: ${num(Math.max(0, x.lo) * total)}–${num(Math.min(1, x.hi) * total)} ${shown.unit}`;
  return { unit: shown.unit, text, range };
}
