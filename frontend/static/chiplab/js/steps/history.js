// History: earlier grids, support-set versions, jobs and results of this image — reopen any.
import * as api from "../api.js";
import { h, append, fmtDate, fmtPct, showError, statusPill, toast } from "../ui.js";

export async function mount(ws, panel) {
  const { image, viewer } = ws;
  const gridsBox = h("ul", { class: "plain-list", testid: "history-grids" });
  const versionsBox = h("ul", { class: "plain-list", testid: "history-versions" });
  const jobsBox = h("ul", { class: "plain-list", testid: "history-jobs" });
  const resultsBox = h("ul", { class: "plain-list", testid: "history-results" });
  append(panel, [
    h("h2", {}, "History"),
    h("p", { class: "muted small" }, "Everything done on this image is kept. Reopen a grid, look at a frozen support set, or reopen a result."),
    h("section", { class: "history-section" }, h("h3", {}, "Results"), resultsBox),
    h("section", { class: "history-section" }, h("h3", {}, "Segmentation jobs"), jobsBox),
    h("section", { class: "history-section" }, h("h3", {}, "Support-set versions"), versionsBox),
    h("section", { class: "history-section" }, h("h3", {}, "Grids"), gridsBox),
  ]);
  const gridLabel = (id) => {
    const g = ws.grids.find((x) => x.id === id);
    return g ? `${g.chip_size} px grid` : "grid";
  };
  const empty = (box, text) => box.append(h("li", { class: "muted small" }, text));

  // Grids
  if (!ws.grids.length) empty(gridsBox, "No grid yet.");
  for (const g of [...ws.grids].reverse()) {
    gridsBox.append(h("li", { class: "history-item" },
      h("span", {}, `${g.chip_size} px · ${g.rows}×${g.cols}${g.offset_x || g.offset_y ? ` · offset (${g.offset_x}, ${g.offset_y})` : ""}`,
        h("br"), h("span", { class: "muted small" }, fmtDate(g.created))),
      h("button", { type: "button", class: "btn btn-small", testid: "history-open-grid",
        onclick: () => { ws.setGrid(g); ws.goStep("support"); } }, ws.grid?.id === g.id ? "Current" : "Open")));
  }

  const load = async (fn, box, what) => {
    try { return await fn(); } catch (e) {
      empty(box, api.isMissing(e) ? "Not available on this server yet." : `Could not load ${what}: ${e.message}`);
      if (!api.isMissing(e)) showError(e, `Loading ${what}`);
      return null;
    }
  };

  const [results, jobs] = await Promise.all([
    load(() => api.analysis.history(image.id), resultsBox, "results"),
    load(() => api.analysis.jobs({ image: image.id }), jobsBox, "jobs"),
  ]);

  if (results) {
    if (!results.length) empty(resultsBox, "No segmentation yet.");
    for (const r of results) {
      const fr = r.classes.map((c, i) => `${c.name} ${fmtPct(r.fractions[i], 0)}`).join(" · ");
      resultsBox.append(h("li", { class: "history-item", testid: "history-result", dataset: { id: r.id } },
        h("span", {}, `${fmtDate(r.created)} · ${gridLabel(r.grid)}${r.frame ? ` · frame ${r.frame}` : ""}`, h("br"),
          h("span", { class: "muted small" }, fr)),
        h("button", { type: "button", class: "btn btn-small", testid: "history-open-result",
          onclick: () => { ws.openResultId = r.id; ws.goStep("segment"); } }, "Open")));
    }
  }

  if (jobs) {
    if (!jobs.length) empty(jobsBox, "No jobs yet.");
    for (const j of jobs.slice(0, 30)) {
      jobsBox.append(h("li", { class: "history-item", testid: "history-job" },
        h("span", {}, statusPill(j.status), ` ${fmtDate(j.created)} · by ${j.created_by} · support set v${j.support_set.number} · ${j.model_version.name} v${j.model_version.version}`,
          j.error ? h("span", { class: "error-text small" }, h("br"), j.error) : null),
        h("button", { type: "button", class: "btn btn-small", title: "Run again with the same support set, model and parameters",
          onclick: async () => {
            try { await api.analysis.rerun(j.id); toast("Re-run queued; it will appear here.", "ok"); ws.goStep("history"); }
            catch (e) { showError(e, "Re-run"); }
          } }, "Re-run")));
    }
  }

  try {
    await ws.ensureSchema();
    const versions = await load(() => api.labeling.versions(ws.schema.id), versionsBox, "support-set versions");
    if (versions) {
      const gridIds = new Set(ws.grids.map((g) => g.id));
      const here = versions.filter((v) => v.chips.some((c) => gridIds.has(c.grid)));
      if (!here.length) empty(versionsBox, "No frozen support set for this image yet (Segment freezes one).");
      for (const v of here.reverse()) {
        const counts = v.classes.map((c) => `${c.name} ${v.chips.filter((x) => x.class === c.id).length}`).join(" · ");
        versionsBox.append(h("li", { class: "history-item", testid: "history-version" },
          h("span", {}, `v${v.number} · ${v.rule.replace("_", " ")} · ${v.chip_size} px`, h("br"),
            h("span", { class: "muted small" }, `${counts} · ${fmtDate(v.created)}`)),
          h("button", { type: "button", class: "btn btn-small", testid: "history-show-version",
            onclick: () => showVersion(v) }, "Show")));
      }
    }
  } catch (e) { showError(e, "Loading support sets"); }

  function showVersion(v) {
    const grid = ws.grids.find((g) => v.chips.some((c) => c.grid === g.id));
    if (grid && grid.id !== ws.grid?.id) ws.setGrid(grid);
    const colour = Object.fromEntries(v.classes.map((c) => [c.id, c.colour]));
    viewer.setChips(v.chips.filter((c) => c.grid === ws.grid?.id)
      .map((c) => ({ row: c.row, col: c.col, color: colour[c.class] || "#888", kind: "mine" })));
    toast(`Showing support set v${v.number} (${v.chips.length} chips).`, "info");
  }

  return () => viewer.setChips([]);
}
