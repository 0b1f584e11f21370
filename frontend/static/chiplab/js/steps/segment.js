// Step 3: segment with one click; progress; overlay (drawn client-side from the label grid),
// confidence view, fraction chart with error bars, statistics table and exports.
import * as api from "../api.js";
import { fractionChart } from "../chart.js";
import { h, append, errorBox, fmtDate, fmtNum, fmtPct, hexToRgb, showError, sleep, toast } from "../ui.js";
import { confidenceCanvas, labelsCanvas } from "../viewer.js";

const EXPORTS = [
  ["overlay.png", "Overlay PNG"], ["mask.png", "Mask PNG"], ["mask.ome.tif", "OME-TIFF mask"],
  ["chart.svg", "Chart SVG"], ["chart.png", "Chart PNG"], ["counts.csv", "Counts CSV"],
  ["result.json", "Result JSON"],
];

export async function mount(ws, panel) {
  const { viewer, image } = ws;
  let disposed = false;
  let result = null;
  let mode = "classes";
  let opacity = 0.55;
  let overlays = {}; // mode -> canvas (built once per result)

  const runBtn = h("button", { type: "button", class: "btn btn-primary btn-big", testid: "segment" }, "Segment");
  const progressBox = h("div", { class: "progress-box", testid: "job-progress", "aria-live": "polite" });
  const summary = h("div", { class: "small muted", testid: "support-summary" });
  const resultBox = h("div", { testid: "result" });
  append(panel, [
    h("h2", {}, "Segment"),
    h("p", { class: "muted small" }, "Freezes your current support set as a new version and labels every chip of the grid by its nearest class prototype."),
    summary,
    h("div", { class: "form-actions", style: { justifyContent: "flex-start" } }, runBtn),
    progressBox, resultBox,
  ]);

  runBtn.addEventListener("click", run);

  try {
    await ws.ensureSchema();
    await describeSupport();
    // Reopen: a result chosen in History, else the newest result on this grid.
    const wanted = ws.openResultId;
    ws.openResultId = null;
    if (wanted) await showResult(wanted);
    else {
      const history = await api.analysis.history(image.id).catch((e) => (api.isMissing(e) ? [] : Promise.reject(e)));
      const latest = history.find((r) => r.grid === ws.grid.id);
      if (latest && !disposed) await showResult(latest.id);
    }
  } catch (e) { showError(e, "Loading results"); }

  async function describeSupport() {
    const state = await api.labeling.votes(ws.grid.id, ws.schema.id, "me");
    const counts = {};
    for (const c of state.chips || []) if (c.class) counts[c.class] = (counts[c.class] || 0) + 1;
    const parts = ws.classes.map((c) => `${c.name} ${counts[c.id] || 0}`);
    summary.replaceChildren(`Support set on the ${ws.grid.chip_size} px grid: `, parts.join(" · ") || "no classes yet", ".");
    const ok = ws.classes.length >= 2 && ws.classes.every((c) => (counts[c.id] || 0) >= 1);
    runBtn.disabled = !ok;
    runBtn.title = ok ? "" : "Give at least two classes example chips first (step 2).";
    if (!ok) summary.append(" ", h("a", { href: `#/images/${image.id}/support` }, "Add examples"));
  }

  async function run() {
    runBtn.disabled = true;
    performance.clearMarks("chiplab:segment-click");
    performance.mark("chiplab:segment-click");
    const t0 = performance.now();
    progress("Freezing the support set…", 0);
    try {
      const version = await api.labeling.freeze(ws.schema.id, { rule: "single_owner", grids: [ws.grid.id] });
      progress(`Support set v${version.number} frozen; queueing the job…`, 0);
      let job = await api.analysis.createJob({ support_set: version.id, images: [image.id] });
      ws.emit("job", job);
      let delay = 250;
      while (!["succeeded", "failed", "cancelled"].includes(job.status)) {
        if (disposed) return;
        await sleep(delay);
        delay = Math.min(1000, delay * 1.3);
        job = await api.analysis.job(job.id);
        const p = job.progress || {};
        progress(job.status === "queued" ? "Waiting for a worker…"
          : `Classifying chips: ${(p.done || 0).toLocaleString()} / ${(p.total || 0).toLocaleString()}`, p.fraction || 0, job.status);
      }
      if (job.status !== "succeeded") {
        throw new Error(job.status === "failed" ? `The segmentation failed: ${job.error || "no reason given"}` : "The job was cancelled.");
      }
      const mine = (job.results || []).find((r) => r.image === image.id && r.frame === 0) || (job.results || [])[0];
      if (!mine) throw new Error("The job finished without a result for this image.");
      await showResult(mine.id, job);
      viewer.draw(); // paint now rather than on the next animation frame, then take the time
      const ms = performance.now() - t0;
      performance.mark("chiplab:overlay-drawn");
      performance.measure("chiplab:segment-to-overlay", "chiplab:segment-click", "chiplab:overlay-drawn");
      window.__chiplabTimings = { ...(window.__chiplabTimings || {}), segmentToOverlayMs: ms };
      progress(`Done in ${(ms / 1000).toFixed(2)} s (click → overlay).`, 1, "succeeded");
      progressBox.dataset.ms = Math.round(ms);
      toast("Segmentation finished.", "ok");
    } catch (e) {
      progressBox.replaceChildren(errorBox(e));
      showError(e, "Segment");
    } finally {
      runBtn.disabled = false;
      runBtn.textContent = "Segment again";
    }
  }

  function progress(text, fraction, status) {
    progressBox.replaceChildren(
      h("div", {}, status ? h("span", { class: `pill pill-${status}`, testid: "job-status" }, status) : null, " ", text),
      h("progress", { max: 1, value: fraction, "aria-label": "Segmentation progress" }));
  }

  async function showResult(resultId, job) {
    const r = await api.analysis.result(resultId);
    if (disposed) return;
    result = r;
    if (r.grid !== ws.grid.id) {
      const grid = ws.grids.find((g) => g.id === r.grid) || await api.labeling.grid(r.grid);
      ws.setGrid(grid);
    }
    overlays = {};
    drawOverlay();
    viewer.canvas.dataset.overlay = "drawn";
    viewer.canvas.dataset.result = r.id;
    renderResult(r, job);
    runBtn.textContent = "Segment again";
  }

  function colourOf(c) {
    const live = ws.classById(c.id);
    return (live && live.colour) || c.colour;
  }

  function drawOverlay() {
    if (!result) return;
    if (mode === "off") { viewer.setOverlay(null); return; }
    if (!overlays[mode]) {
      overlays[mode] = mode === "confidence"
        ? confidenceCanvas(result.confidence, result.rows, result.cols)
        : labelsCanvas(result.labels, result.rows, result.cols,
          Object.fromEntries(result.classes.map((c) => [c.index, hexToRgb(colourOf(c))])));
    }
    viewer.setOverlay({ canvas: overlays[mode], opacity });
  }

  function renderResult(r, job) {
    const areaKnown = Array.isArray(r.areas);
    const std = r.fraction_std && r.fraction_std.length ? r.fraction_std : (r.stats && r.stats.fractions_std_prob) || [];
    const rows = r.classes.map((c, i) => ({ name: c.name, colour: colourOf(c), fraction: r.fractions[i] || 0,
      std: std[i] ?? null, count: r.counts[i] || 0, area: areaKnown ? r.areas[i] : null }));
    const unit = (r.area_unit || "px^2").replace("^2", "²");

    const opacityInput = h("input", { type: "range", min: 0, max: 100, value: Math.round(opacity * 100),
      id: "overlay-opacity", testid: "overlay-opacity",
      oninput: (ev) => { opacity = ev.target.value / 100; drawOverlay(); } });
    const modeInput = (value, label) => h("label", {},
      h("input", { type: "radio", name: "overlay-mode", value, checked: mode === value, testid: `view-${value}`,
        onchange: () => { mode = value; drawOverlay(); legend.replaceChildren(...legendItems()); } }),
      h("span", {}, label));
    const legend = h("div", { class: "legend", testid: "legend" });
    const legendItems = () => mode === "confidence"
      ? [h("span", {}, h("span", { class: "swatch", style: { background: "linear-gradient(90deg,#440154,#21918c,#fde725)", width: "4rem" } }), "low → high confidence")]
      : rows.map((x) => h("span", {}, h("span", { class: "swatch", style: { background: x.colour } }), x.name));
    legend.replaceChildren(...legendItems());

    const table = h("table", { class: "stats", testid: "stats-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Class"), h("th", { scope: "col" }, "Chips"),
        h("th", { scope: "col" }, "Fraction"), h("th", { scope: "col" }, `Area (${unit})`))),
      h("tbody", {}, rows.map((x) => h("tr", {},
        h("td", {}, h("span", { class: "swatch", style: { background: x.colour } }), x.name),
        h("td", {}, x.count.toLocaleString()),
        h("td", {}, `${fmtPct(x.fraction)}${x.std !== null ? ` ± ${fmtPct(x.std)}` : ""}`),
        h("td", {}, x.area !== null ? fmtNum(x.area, 4) : "–")))));

    const prov = r.provenance || {};
    const model = prov.model_version || prov.model || (job && job.model_version) || null;
    const support = prov.support_set || (job && job.support_set) || null;
    resultBox.replaceChildren(
      h("h3", {}, "Result"),
      h("p", { class: "small muted", testid: "result-meta" },
        `${r.rows} × ${r.cols} chips · mean confidence ${fmtPct(r.mean_confidence)} · ${fmtDate(r.created)}`,
        support && support.number ? ` · support set v${support.number}` : "",
        model && model.name ? ` · model ${model.name} v${model.version}` : "",
        job && job.timings && Object.keys(job.timings).length ? h("span", { testid: "job-timings" }, h("br"),
          "worker: ", Object.entries(job.timings).filter(([, v]) => typeof v === "number")
            .map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(" · ")) : null),
      h("div", { class: "seg-controls" },
        h("span", {}, "View"), h("div", { class: "segmented", role: "radiogroup", "aria-label": "Overlay view" },
          modeInput("classes", "Classes"), modeInput("confidence", "Confidence"), modeInput("off", "Off")),
        h("label", { for: "overlay-opacity" }, "Opacity"), opacityInput),
      legend,
      fractionChart(rows, { unit, title: "Class area fractions (± 1 s.d. over support resamples)" }),
      table,
      h("h3", {}, "Export"),
      h("div", { class: "exports", testid: "exports" }, EXPORTS.map(([kind, label]) =>
        h("a", { class: "btn btn-small", href: api.analysis.exportUrl(r.id, kind), download: "",
          testid: `export-${kind}` }, label))));
  }

  return () => {
    disposed = true;
    viewer.setOverlay(null);
    delete viewer.canvas.dataset.overlay;
  };
}
