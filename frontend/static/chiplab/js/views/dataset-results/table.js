// The per-image table of a dataset's results: per image its latest result, fractions with their
// interval, objects and mean confidence; the column headers sort (on the server).
import { h, append, clear, fmtDate, fmtPct, statusPill } from "../../ui.js";

const LINKLIKE = {
  background: "none",
  border: "0",
  padding: "0",
  font: "inherit",
  fontWeight: "550",
  color: "inherit",
  cursor: "pointer",
  textAlign: "left",
};

/** Into ``box``: the table of one page of results (``body``), sorted by ``sort``;
 * ``onSort(sort)`` asks for another order. */
export function renderTable(box, body, { sort, onSort }) {
  // an objects column only for the classes with an object count on this page
  const objectClasses = body.classes.filter((c) =>
    body.results.some((r) => r.classes.some((k) => k.name === c.name && k.objects !== null)),
  );
  const header = (label, key, attrs) => sortHeader(label, key, { sort, onSort }, attrs);
  const head = h(
    "tr",
    {},
    header("Image", "filename"),
    header("Result", "created"),
    ...body.classes.map((c) =>
      header([swatch(c.colour), c.name], `fraction:${c.name}`, { dataset: { class: c.name } }),
    ),
    ...objectClasses.map((c) => header(`${c.name} objects`, `objects:${c.name}`)),
    header("Mean confidence", "confidence"),
    h("th", {}, ""),
  );
  const rows = body.results.map((r) => resultRow(r, body.classes, objectClasses));
  const interval = body.results.find((r) => r.interval)?.interval;
  append(clear(box), [
    h("table", { class: "data-table", testid: "results-table" }, h("thead", {}, head), h("tbody", {}, rows)),
    rows.length ? null : h("p", { class: "pad muted", testid: "results-empty" }, "No image matches."),
    interval ? h("p", { class: "muted small", style: { padding: ".5rem .75rem" } }, `In brackets: ${interval}.`) : null,
  ]);
}

/** A column header that sorts by ``key`` (again: reversed), showing the current order. */
function sortHeader(label, key, { sort, onSort }, attrs = {}) {
  const on = sort.replace(/^-/, "") === key;
  const desc = on && sort.startsWith("-");
  return h(
    "th",
    { "aria-sort": on ? (desc ? "descending" : "ascending") : "none", ...attrs },
    h(
      "button",
      {
        type: "button",
        class: "linklike",
        testid: "sort",
        dataset: { key },
        style: LINKLIKE,
        title: "Sort by this column (again: reverse)",
        onclick: () => onSort(on && !desc ? `-${key}` : key),
      },
      label,
      on ? (desc ? " ▼" : " ▲") : "",
    ),
  );
}

function swatch(colour) {
  return h("span", {
    class: "swatch",
    style: {
      display: "inline-block",
      width: ".7em",
      height: ".7em",
      background: colour || "#888",
      marginRight: ".3em",
      borderRadius: "2px",
    },
  });
}

/** One image's row: its name and status, its result, a fraction per class, objects, confidence. */
function resultRow(r, classes, objectClasses) {
  const byName = Object.fromEntries(r.classes.map((k) => [k.name, k]));
  return h(
    "tr",
    { testid: "results-row", dataset: { image: r.image, result: r.result || "" } },
    h(
      "td",
      {},
      h("a", { href: `#/images/${r.image}/history`, testid: "results-image" }, r.filename),
      r.status !== "ready" ? [" ", statusPill(r.status)] : null,
    ),
    h(
      "td",
      { class: "small" },
      r.result
        ? [fmtDate(r.created), h("br"), h("span", { class: "muted" }, r.model_version)]
        : h("span", { class: "muted" }, "no result yet"),
    ),
    ...classes.map((c) => fractionCell(byName[c.name], r)),
    ...objectClasses.map((c) => h("td", { testid: "cell-objects" }, byName[c.name]?.objects ?? "–")),
    h("td", {}, r.mean_confidence === null ? "–" : fmtPct(r.mean_confidence)),
    h(
      "td",
      { class: "actions" },
      r.result
        ? h("a", { class: "btn btn-small", href: `#/compare/${r.image}`, testid: "results-compare" }, "Compare")
        : null,
    ),
  );
}

/** A class's fraction in result ``r`` with its interval (or ± s.d.), "–" without one. */
function fractionCell(k, r) {
  if (!k) return h("td", { class: "muted" }, "–");
  const interval =
    k.fraction_ci_low !== null
      ? ` (${fmtPct(k.fraction_ci_low)}–${fmtPct(k.fraction_ci_high)})`
      : k.fraction_std !== null
        ? ` ± ${fmtPct(k.fraction_std)}`
        : "";
  return h(
    "td",
    {
      testid: "cell-fraction",
      dataset: { class: k.name, value: k.fraction },
      title: `${k.chips} chips · ${r.interval}`,
    },
    fmtPct(k.fraction),
    h("span", { class: "muted small" }, interval),
  );
}
