// A webhook's delivery log: the latest 50 deliveries, each with its last answer; refreshable.
import * as api from "../../api.js";
import { h, fmtDate, showError, statusPill, whileBusy } from "../../ui.js";

/** Show the deliveries to `hook` in `box`. */
export async function showLog(box, hook) {
  const body = h("tbody", {});
  const refresh = h("button", { type: "button", class: "btn btn-small", testid: "hook-log-refresh" }, "Refresh");
  refresh.addEventListener("click", () => whileBusy(refresh, fill));
  box.replaceChildren(
    h("h3", {}, `Deliveries to ${hook.url} `, refresh),
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "data-table", testid: "hook-log" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...["Created", "Event", "Status", "Attempts", "Last answer"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        body,
      ),
    ),
  );
  async function fill() {
    try {
      const page = await api.get(`webhooks/${hook.id}/deliveries/`, { limit: 50 });
      body.replaceChildren(...page.results.map(deliveryRow));
      if (!page.results.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No deliveries yet.")));
    } catch (e) {
      showError(e, "Loading deliveries");
    }
  }
  await fill();
}

function deliveryRow(d) {
  const last = d.log[d.log.length - 1];
  const answer = !last ? "–" : last.status_code ? `HTTP ${last.status_code} · ${last.duration_ms} ms` : last.error;
  return h(
    "tr",
    { testid: "hook-log-row" },
    h("td", { class: "small" }, fmtDate(d.created)),
    h("td", {}, d.event),
    h("td", {}, statusPill(d.status)),
    h("td", {}, String(d.attempts)),
    h("td", { class: "small", title: last ? last.error || last.response_excerpt : "" }, answer),
  );
}
