// How the Models page shows a model version and its tables: where the version comes from, its
// licences and its held-out accuracy (the champion, the versions and the training jobs).
import { h, fmtPct } from "../../ui.js";

export const SOURCES = { builtin: "built-in", trained: "fine-tuned here", imported: "imported" };

/** The licences of a version's card, in one line. */
export function licenceOf(v) {
  const card = v.card || {};
  return (
    [
      card.licence ? `Licence ${card.licence}` : null,
      (card.data_licences || []).length ? `data licences ${card.data_licences.join(", ")}` : null,
    ]
      .filter(Boolean)
      .join(" · ") || "licence not stated"
  );
}

/** The held-out accuracy in `metrics` (a version's or a training job's), with the base
 * model's beside it when known. */
export function accuracy(metrics) {
  const m = metrics || {};
  if (m.holdout_acc === undefined || m.holdout_acc === null) return h("span", { class: "muted" }, "–");
  return h(
    "span",
    {},
    fmtPct(m.holdout_acc),
    m.base_holdout_acc !== undefined
      ? h("span", { class: "muted small" }, ` (base ${fmtPct(m.base_holdout_acc)})`)
      : null,
  );
}

/** A table in a card, with `headers` ("" for the actions column) over `body`. */
export function tableCard(testid, headers, body) {
  return h(
    "div",
    { class: "card table-card" },
    h(
      "table",
      { class: "data-table", testid },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((t) => h("th", { scope: "col" }, t || h("span", { class: "visually-hidden" }, "Actions"))),
        ),
      ),
      body,
    ),
  );
}
