// Step 3: segment with one click; progress; the pixel map (the result's mask.png) or the chip
// map (drawn client-side from the label grid), confidence views, fraction chart with error bars,
// statistics table, objects (count and size histogram) and exports.
import * as api from "../api.js";
import { fractionChart, histogramChart, profileChart } from "../chart.js";
import { state } from "../state.js";
import { h, append, errorBox, fmtDate, fmtNum, fmtPct, hexToRgb, showError, sleep, toast } from "../ui.js";
import { confidenceCanvas, labelsCanvas } from "../viewer.js";

const EXPORTS = [
  ["overlay.png", "Overlay PNG"], ["mask.png", "Mask PNG"], ["confidence.png", "Confidence PNG"],
  ["mask.ome.tif", "OME-TIFF mask"], ["chart.svg", "Chart SVG"], ["chart.png", "Chart PNG"],
  ["counts.csv", "Counts CSV"], ["particles.csv", "Particles CSV"], ["profile.csv", "Profile CSV"],
  ["result.json", "Result JSON"],
  ["series.csv", "Series CSV"],
];

/** Whether a result has an export: a time series' job writes one series.csv for all frames. */
function hasExport(r, kind, frames) {
  if (r.links && !r.links[kind]) return false;
  return kind !== "series.csv" || frames > 1;
}

const RULES = { majority: "lab majority", curator: "curator approval" };

export async function mount(ws, panel) {
  const { viewer, image } = ws;
  let disposed = false;
  let result = null;
  let mode = "classes";
  let opacity = 0.55;
  let overlays = {}; // mode -> promise of the viewer's overlay source (made once per result)

  // disabled until the support set is described (the schema and grid it needs are loaded)
  const runBtn = h("button", { type: "button", class: "btn btn-primary btn-big", testid: "segment",
    disabled: true }, "Segment");
  const cancelBtn = h("button", { type: "button", class: "btn", testid: "cancel-job", hidden: true }, "Cancel");
  const cancelMsg = h("div", { testid: "cancel-error" });
  let currentJob = null; // the job being polled, while it is queued or running

  // Which support set to segment with: one's own chips, or (curators and owners) a lab consensus.
  // Annotators segment with their own chips; curators also with a lab consensus; viewers read.
  const canRun = ws.can("annotator");
  const canConsensus = ws.can("curator");
  let rule = "single_owner";
  let minVotes = 2;
  const majorityLabel = () => `Lab consensus — majority (min votes ${minVotes})`;
  const majorityOption = h("option", { value: "majority" }, majorityLabel());
  const sourceSelect = h("select", { id: "support-source", testid: "support-source" },
    h("option", { value: "single_owner" }, "My chips"), majorityOption,
    h("option", { value: "curator" }, "Curator approval"));
  const minVotesInput = h("input", { type: "number", id: "min-votes", testid: "min-votes", min: 1, max: 100,
    value: minVotes, style: { width: "4.5rem" } });
  const minVotesField = h("span", { class: "inline-fields", hidden: true },
    h("label", { for: "min-votes" }, "Min votes"), minVotesInput);
  const sourceBox = canConsensus
    ? h("div", { class: "inline-fields", testid: "support-source-box", style: { margin: ".5rem 0", flexWrap: "wrap" } },
      h("label", { for: "support-source" }, "Support set"), sourceSelect, minVotesField)
    : null;
  // Which model: the lab's champion unless another version available to the lab is chosen.
  const modelSelect = h("select", { id: "model-version", testid: "model-version" });
  const modelBox = h("div", { class: "inline-fields", testid: "model-box", hidden: true,
    style: { margin: ".5rem 0", flexWrap: "wrap" } },
  h("label", { for: "model-version" }, "Model"), modelSelect,
  h("a", { href: "#/models", class: "small" }, "About the models"));
  const progressBox = h("div", { class: "progress-box", testid: "job-progress", "aria-live": "polite" });
  const summary = h("div", { class: "small muted", testid: "support-summary" });
  const resultBox = h("div", { testid: "result" });
  // Time series: a frame selector on the viewer and per-frame fractions in the panel.
  const frameBar = h("div", { class: "viewer-frames", testid: "frame-selector", hidden: true });
  const frameBox = h("div", { testid: "frames" });
  viewer.toolbar.append(frameBar);
  let frameResults = []; // this image's results of the shown job, by frame
  let frameJobId = null;
  let frameUi = null; // {job, slider, number, note, rows} while built for one job's frames
  let shownJob = null;
  let showSeq = 0;
  let describeSeq = 0;
  append(panel, [
    h("h2", {}, "Segment"),
    h("p", { class: "muted small" }, "Freezes your current support set as a new version and labels every chip of the grid by its nearest class prototype; a chip on a boundary between classes takes the class that covers most of it (its confidence is then that class's share)."),
    sourceBox,
    canRun ? modelBox : null,
    summary,
    canRun ? null : h("p", { class: "muted small", testid: "read-only-note" },
      "You are a viewer in this lab: you can look at the results; segmenting needs the annotator role."),
    h("div", { class: "form-actions", style: { justifyContent: "flex-start" } }, canRun ? runBtn : null, cancelBtn),
    progressBox, cancelMsg, frameBox, resultBox,
  ]);

  runBtn.addEventListener("click", run);
  cancelBtn.addEventListener("click", cancel);
  sourceSelect.addEventListener("change", () => {
    rule = sourceSelect.value;
    minVotesField.hidden = rule !== "majority";
    describeSupport().catch((e) => showError(e, "Support set"));
  });
  minVotesInput.addEventListener("change", () => {
    const n = Math.round(Number(minVotesInput.value));
    const next = Number.isFinite(n) ? Math.min(100, Math.max(1, n)) : 2;
    minVotesInput.value = next;
    if (next === minVotes) return;
    minVotes = next;
    majorityOption.textContent = majorityLabel();
    describeSupport().catch((e) => showError(e, "Support set"));
  });

  let matchedSupport = null; // the support set the selector was last matched to
  let shownModel = null; // the model version of the result shown (the selector follows it)
  let following = false; // a job is being followed: Segment waits for it
  let supportOk = false; // the chosen support set can be segmented
  const updateRunBtn = () => { runBtn.disabled = following || !supportOk; };

  if (canRun) loadModels().catch((e) => console.warn("models", e));

  /** Fill the model selector: the champion first (chosen), then every version the lab may use. */
  async function loadModels() {
    const labId = ws.dataset.lab;
    const usable = api.usableVersions(await api.registry.versions(), labId);
    // None registered yet: the server picks (and registers) the default when the job is made.
    if (!usable.length || disposed) return;
    const champion = await api.registry.champion(labId);
    if (disposed) return;
    const label = (v) => `${v.name} v${v.version} · ${v.encoder_kind}`;
    modelSelect.replaceChildren(
      h("option", { value: champion.id, selected: true }, `${label(champion)} (lab champion)`),
      ...usable.filter((v) => v.id !== champion.id).map((v) => h("option", { value: v.id }, label(v))));
    selectModel(shownModel);
    modelBox.hidden = false;
  }

  /** Choose ``id`` in the model selector when the lab may use it. */
  function selectModel(id) {
    if (id && [...modelSelect.options].some((o) => o.value === id)) modelSelect.value = id;
  }

  try {
    await ws.ensureSchema();
    // A job of this grid still queued or running (the page was reloaded, or the tab left and
    // reopened): follow it rather than show a partial result.
    const active = await activeJob();
    // Reopen: a result chosen in History, else the newest finished result on this grid
    // (frame 0 of a time series).
    const wanted = ws.openResultId;
    ws.openResultId = null;
    if (wanted) await showResult(wanted);
    else {
      const history = await api.analysis.history(image.id).catch((e) => (api.isMissing(e) ? [] : Promise.reject(e)));
      const latest = newestResult(history, active && active.id);
      if (latest && !disposed) await showResult(latest.id);
    }
    if (!disposed) await describeSupport();
    if (active && !disposed) {
      follow(active, { reattached: true });
    }
  } catch (e) { showError(e, "Loading results"); }

  /** The newest queued or running job that segments this grid (one's own first), or null. */
  async function activeJob() {
    const jobs = await api.analysis.jobs({ grid: ws.grid.id, status: "queued,running" })
      .catch((e) => (api.isMissing(e) ? [] : Promise.reject(e))); // newest first
    const mine = jobs.find((j) => state.user && j.created_by === state.user.username);
    return mine || jobs[0] || null;
  }

  /** The newest result on this grid (frame 0 of its job), leaving out a job still running. */
  function newestResult(history, skipJob) {
    const here = history.filter((r) => r.grid === ws.grid.id && r.job !== skipJob);
    if (!here.length) return null;
    const newest = here.reduce((a, b) => (String(b.created) > String(a.created) ? b : a));
    return here.filter((r) => r.job === newest.job)
      .reduce((a, b) => ((b.frame || 0) < (a.frame || 0) ? b : a));
  }

  /** Point the support-set selector at the set a shown result was made with. */
  function matchSource(r, job) {
    const support = (r.provenance || {}).support_set;
    if (!canConsensus || !support || !support.rule || support.id === matchedSupport) return;
    matchedSupport = support.id;
    let votes = minVotes;
    if (support.rule === "majority") {
      // the rule's params are in the result's provenance (and on its job)
      const params = support.params || (job && job.support_set && job.support_set.params) || {};
      const n = Number(params.min_votes);
      if (Number.isFinite(n) && n >= 1) votes = n;
    }
    if (disposed || (support.rule === rule && votes === minVotes)) return;
    rule = support.rule;
    minVotes = votes;
    sourceSelect.value = rule;
    minVotesInput.value = minVotes;
    majorityOption.textContent = majorityLabel();
    minVotesField.hidden = rule !== "majority";
    describeSupport().catch((e) => showError(e, "Support set"));
  }

  /** The freeze request for the chosen support set. */
  function freezeBody() {
    // reuse: an unchanged support set runs on its newest version instead of an identical new one
    const body = { rule, grids: [ws.grid.id], reuse: true };
    return rule === "majority" ? { ...body, min_votes: minVotes } : body;
  }

  async function describeSupport() {
    if (!canRun || !ws.schema) return;
    if (rule !== "single_owner") return describeConsensus();
    const my = ++describeSeq;
    const votes = await api.labeling.votes(ws.grid.id, ws.schema.id, "me");
    if (my !== describeSeq || disposed) return;
    const counts = {};
    for (const c of votes.chips || []) if (c.class) counts[c.class] = (counts[c.class] || 0) + 1;
    const parts = ws.classes.map((c) => `${c.name} ${counts[c.id] || 0}`);
    summary.replaceChildren(`Support set on the ${ws.grid.chip_size} px grid: `, parts.join(" · ") || "no classes yet", ".");
    // Classes belong to the whole dataset: those without chips on this grid are left out of
    // the frozen set (and the result), so two classes with chips are enough.
    const used = ws.classes.filter((c) => (counts[c.id] || 0) >= 1);
    const ok = used.length >= 2;
    supportOk = ok;
    updateRunBtn();
    runBtn.title = ok ? "" : "Give at least two classes example chips on this grid first (step 2).";
    if (!ok) {
      summary.append(" ", h("span", { testid: "support-missing" },
        `Give at least two classes example chips on this grid (${used.length} ha${used.length === 1 ? "s" : "ve"} some).`),
        " ", h("a", { href: `#/images/${image.id}/support` }, "Add examples"));
    }
    leftOutNote(ws.classes.filter((c) => !(counts[c.id] || 0)), ok);
  }

  /** Say plainly which of the dataset's classes this segmentation will not use. */
  function leftOutNote(unused, ok) {
    if (!ok || !unused.length) return;
    const names = unused.map((c) => c.name);
    const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
    const one = names.length === 1;
    summary.append(h("br"), h("span", { testid: "support-left-out" },
      `${list} ha${one ? "s" : "ve"} no chips here and ${one ? "is" : "are"} left out of this segmentation.`));
  }

  // A consensus set is the server's to judge: show its counts and warnings, and let the job
  // request report what is wrong (e.g. too few classes agreed on).
  async function describeConsensus() {
    const my = ++describeSeq;
    const stale = () => my !== describeSeq || disposed;
    summary.setAttribute("aria-busy", "true"); // keep the old text meanwhile: no layout jump
    const extra = rule === "majority" ? { min_votes: minVotes } : {};
    let s;
    try { s = await api.labeling.support(ws.grid.id, ws.schema.id, rule, extra); } catch (e) {
      if (stale()) return;
      summary.removeAttribute("aria-busy");
      summary.replaceChildren(errorBox(e));
      supportOk = true; // the job request will say what is wrong
      updateRunBtn();
      return;
    }
    if (stale()) return;
    summary.removeAttribute("aria-busy");
    const counts = Object.fromEntries((s.classes || []).map((c) => [c.id, c.count || 0]));
    const name = rule === "majority" ? `Lab consensus (majority, at least ${minVotes} vote${minVotes === 1 ? "" : "s"})` : "Curator approval";
    const parts = ws.classes.map((c) => `${c.name} ${counts[c.id] || 0}`);
    summary.replaceChildren(`${name} on the ${ws.grid.chip_size} px grid: `, parts.join(" · ") || "no classes yet", ".");
    for (const w of s.warnings || []) summary.append(h("br"), h("span", { testid: "support-warning" }, "⚠ ", w));
    supportOk = true;
    updateRunBtn();
    runBtn.title = "";
  }

  async function cancel() {
    if (!currentJob) return;
    cancelBtn.disabled = true;
    try {
      const job = await api.analysis.cancel(currentJob.id);
      currentJob = job;
      toast("Job cancelled.", "ok");
    } catch (e) {
      cancelBtn.disabled = false;
      cancelMsg.replaceChildren(errorBox(e));
      showError(e, "Cancel");
    }
  }

  async function run() {
    following = true;
    updateRunBtn();
    cancelMsg.replaceChildren();
    performance.clearMarks("chiplab:segment-click");
    performance.mark("chiplab:segment-click");
    const t0 = performance.now();
    progress("Freezing the support set…", 0);
    let job;
    try {
      await ws.settled(); // a chip clicked just before Segment belongs in this support set
      const version = await api.labeling.freeze(ws.schema.id, freezeBody());
      progress(`Support set v${version.number} frozen; queueing the job…`, 0);
      const model = modelBox.hidden ? {} : { model_version: modelSelect.value };
      job = await api.analysis.createJob({ support_set: version.id, images: [image.id], ...model });
    } catch (e) {
      progressBox.replaceChildren(errorBox(e));
      showError(e, "Segment");
      following = false;
      updateRunBtn();
      return;
    }
    await follow(job, { t0 });
  }

  /** Poll a job until it finishes (progress and Cancel meanwhile), then show its result. */
  async function follow(job, { t0 = null, reattached = false } = {}) {
    following = true;
    updateRunBtn();
    ws.emit("job", job);
    currentJob = job;
    const own = state.user && job.created_by === state.user.username;
    const by = own ? "" : ` (started by ${job.created_by})`; // kept on every poll, not only the first
    cancelBtn.hidden = !(job.permissions || {}).cancel; // the API says who may cancel it
    cancelBtn.disabled = false;
    progressBox.dataset.job = job.id;
    if (reattached) {
      progress(`Following the job started ${fmtDate(job.created)}${own ? "" : ` by ${job.created_by}`}…`,
        (job.progress || {}).fraction || 0, job.status);
    }
    try {
      // every 100 ms for the first second (a re-run after a support edit takes ~0.3 s on the
      // worker), then backing off to once a second
      const started = performance.now();
      let delay = 100;
      while (!["succeeded", "failed", "cancelled"].includes(job.status)) {
        if (disposed) return;
        await sleep(delay);
        if (performance.now() - started > 1000) delay = Math.min(1000, delay * 1.3);
        if (currentJob && currentJob.status === "cancelled") { job = currentJob; break; }
        job = await api.analysis.job(job.id);
        if (disposed) return;
        const p = job.progress || {};
        progress((job.status === "queued" ? "Waiting for a worker…"
          : `Classifying chips: ${(p.done || 0).toLocaleString()} / ${(p.total || 0).toLocaleString()}`) + by,
          p.fraction || 0, job.status);
      }
      cancelBtn.hidden = true;
      if (job.status === "cancelled") {
        progress("The job was cancelled.", 0, "cancelled");
        return;
      }
      if (job.status !== "succeeded") {
        throw new Error(job.status === "failed" ? `The segmentation failed: ${job.error || "no reason given"}` : "The job was cancelled.");
      }
      const mine = (job.results || []).find((r) => r.image === image.id && r.frame === 0) || (job.results || [])[0];
      if (!mine) throw new Error("The job finished without a result for this image.");
      await showResult(mine.id, job);
      if (t0 === null) {
        progress("Done.", 1, "succeeded");
      } else {
        viewer.draw(); // paint now rather than on the next animation frame, then take the time
        const ms = performance.now() - t0;
        performance.mark("chiplab:overlay-drawn");
        performance.measure("chiplab:segment-to-overlay", "chiplab:segment-click", "chiplab:overlay-drawn");
        window.__chiplabTimings = { ...(window.__chiplabTimings || {}), segmentToOverlayMs: ms };
        progress(`Done in ${(ms / 1000).toFixed(2)} s (click → overlay).`, 1, "succeeded");
        progressBox.dataset.ms = Math.round(ms);
      }
      toast("Segmentation finished.", "ok");
    } catch (e) {
      if (disposed) return;
      progressBox.replaceChildren(errorBox(e));
      showError(e, "Segment");
    } finally {
      currentJob = null;
      cancelBtn.hidden = true;
      following = false;
      if (!disposed) {
        updateRunBtn();
        runBtn.textContent = "Segment again";
      }
    }
  }

  function progress(text, fraction, status) {
    progressBox.replaceChildren(
      h("div", {}, status ? h("span", { class: `pill pill-${status}`, testid: "job-status" }, status) : null, " ", text),
      h("progress", { max: 1, value: fraction, "aria-label": "Segmentation progress" }));
  }

  async function showResult(resultId, job) {
    const my = ++showSeq;
    const r = await api.analysis.result(resultId);
    if (disposed || my !== showSeq) return;
    await loadFrames(r, job);
    if (disposed || my !== showSeq) return;
    if (job) shownJob = job;
    result = r;
    if (r.grid !== ws.grid.id) {
      const grid = ws.grids.find((g) => g.id === r.grid) || await api.labeling.grid(r.grid);
      ws.setGrid(grid);
    }
    overlays = {};
    viewer.canvas.dataset.overlay = "loading";
    const drawn = drawOverlay();
    viewer.canvas.dataset.result = r.id;
    viewer.canvas.dataset.frame = r.frame || 0;
    showBackground(r.frame || 0);
    renderFrames(r);
    renderResult(r, job);
    runBtn.textContent = "Segment again";
    matchSource(r, job);
    await drawn;
    if (!disposed && result === r) viewer.canvas.dataset.overlay = "drawn";
    shownModel = ((r.provenance || {}).model_version || {}).id || shownModel;
    selectModel(shownModel);
  }

  /** The frame behind the overlay: its own preview when it has one, else frame 0. */
  function backgroundFrame(frame) {
    return frame < (image.preview_frames || 1) ? frame : 0;
  }

  function showBackground(frame) {
    viewer.setSource(api.images.previewUrl(image.id, backgroundFrame(frame)))
      .catch((e) => showError(e, "Loading the frame's image"));
  }

  /** The results of r's job for this image, one per frame (only fetched for time series). */
  async function loadFrames(r, job) {
    if (!(image.frames > 1)) { frameResults = []; frameJobId = null; return; }
    if (frameJobId === r.job) return;
    const j = job && job.id === r.job && job.results ? job
      : await api.analysis.job(r.job).catch((e) => { showError(e, "Loading the frames"); return null; });
    frameResults = ((j && j.results) || []).filter((x) => x.image === image.id)
      .sort((a, b) => (a.frame || 0) - (b.frame || 0));
    frameJobId = r.job;
  }

  function selectFrame(frame) {
    const hit = frameResults.find((x) => (x.frame || 0) === frame);
    if (!hit || (result && hit.id === result.id)) return;
    showResult(hit.id, shownJob && shownJob.id === hit.job ? shownJob : undefined)
      .catch((e) => showError(e, "Loading the frame"));
  }

  function renderFrames(r) {
    const frame = r.frame || 0;
    if (frameResults.length <= 1) {
      frameUi = null;
      frameBar.hidden = true;
      frameBox.replaceChildren(image.frames > 1 ? h("p", { class: "small muted", testid: "frame-note" },
        `This image has ${image.frames} frames; this result covers frame ${frame} only.`) : "");
      return;
    }
    if (frameUi && frameUi.job === r.job) { updateFrameUi(frame); return; }
    const first = frameResults[0].frame || 0;
    const last = frameResults[frameResults.length - 1].frame || 0;
    const slider = h("input", { type: "range", min: first, max: last, step: 1, value: frame,
      testid: "frame-slider", "aria-label": "Frame",
      oninput: (ev) => selectFrame(Number(ev.target.value)) });
    const number = h("input", { type: "number", min: first, max: last, step: 1, value: frame,
      testid: "frame-number", "aria-label": "Frame number",
      onchange: (ev) => {
        const f = Math.min(last, Math.max(first, Math.round(Number(ev.target.value)) || 0));
        ev.target.value = f;
        selectFrame(f);
      } });
    const note = h("span", { class: "frame-note", testid: "frame-preview-note" });
    frameBar.hidden = false;
    frameBar.replaceChildren(h("label", {}, "Frame ", slider), number, h("span", {}, ` of ${first}–${last}`), note);

    const classes = r.classes || [];
    frameBox.replaceChildren(
      h("h3", {}, "Frames"),
      h("p", { class: "small muted" }, `${frameResults.length} frames segmented; the image behind the overlay follows the frame shown.`),
      h("div", { class: "table-scroll", style: { maxHeight: "14rem", overflow: "auto" } },
        h("table", { class: "stats", testid: "frame-table" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Frame"),
            classes.map((c) => h("th", { scope: "col" }, h("span", { class: "swatch", style: { background: colourOf(c) } }), c.name)))),
          h("tbody", {}, frameResults.map((x) => h("tr", {
            testid: "frame-row", "data-frame": x.frame || 0, style: { cursor: "pointer" },
            title: `Show frame ${x.frame || 0}`, onclick: () => selectFrame(x.frame || 0) },
          h("td", {}, String(x.frame || 0)),
          classes.map((c, i) => h("td", {}, fmtPct((x.fractions || [])[i] || 0)))))))));
    frameUi = { job: r.job, slider, number, note, rows: [...frameBox.querySelectorAll("tr[data-frame]")] };
    updateFrameUi(frame);
  }

  function updateFrameUi(frame) {
    const { slider, number, note, rows } = frameUi;
    if (Number(slider.value) !== frame) slider.value = frame;
    if (document.activeElement !== number) number.value = frame;
    note.textContent = backgroundFrame(frame) === frame ? `Overlay and background: frame ${frame}.`
      : `Overlay: frame ${frame} · background: frame 0 (previews exist for the first ${image.preview_frames} frames).`;
    for (const tr of rows) {
      const on = Number(tr.dataset.frame) === frame;
      if (on) tr.setAttribute("aria-current", "true"); else tr.removeAttribute("aria-current");
      tr.style.fontWeight = on ? "600" : "";
    }
  }

  function colourOf(c) {
    const live = ws.classById(c.id);
    return (live && live.colour) || c.colour;
  }

  /** What a view draws: the pixel map and its confidence are the result's exports (images at
   * the original's size, in the class colours and the confidence colour map); the chip views
   * are drawn here from the label and confidence grids. Results from before pixel maps have
   * only the chip views. */
  async function overlaySource(r, m) {
    const pixel = r.pixel_map && (m === "classes" || m === "confidence");
    if (pixel) {
      const img = new Image();
      img.src = api.analysis.exportUrl(r.id, m === "classes" ? "mask.png" : "confidence.png");
      await img.decode();
      return { image: img };
    }
    return { canvas: m === "confidence" || m === "chip-confidence"
      ? confidenceCanvas(r.confidence, r.rows, r.cols)
      : labelsCanvas(r.labels, r.rows, r.cols,
        Object.fromEntries(r.classes.map((c) => [c.index, hexToRgb(colourOf(c))]))) };
  }

  async function drawOverlay() {
    if (!result) return;
    if (mode === "off") { viewer.showGrid = true; viewer.setOverlay(null); return; }
    const r = result, m = mode;
    overlays[m] ||= overlaySource(r, m);
    let source;
    try { source = await overlays[m]; } catch {
      delete overlays[m];
      if (disposed || r !== result) return;
      toast("The pixel map could not be loaded; showing the chip map.", "error");
      source = await overlaySource({ ...r, pixel_map: null }, m);
    }
    if (disposed || r !== result || m !== mode) return;
    viewer.showGrid = !source.image; // grid lines would hide the pixel map's edges
    viewer.setOverlay({ ...source, opacity });
  }

  // Examples the model would label as another class when each is held out: listed, and
  // outlined on the map (never shown silently in the other class's colour).
  function supportCheck(r) {
    const check = r.support_check;
    const flagged = check ? check.disagree.filter((d) => d.image === image.id) : [];
    viewer.setChips(flagged.map((d) => ({ row: d.row, col: d.col, kind: "flag" })));
    if (!check) return "";
    const byIndex = Object.fromEntries(r.classes.map((c) => [c.index, c]));
    const name = (i) => (byIndex[i] ? byIndex[i].name : `class ${i}`);
    if (!check.disagree.length) {
      return h("p", { class: "small muted", testid: "support-check" },
        `All ${check.n_checked} examples agree with the model when each is held out.`);
    }
    const n = check.disagree.length;
    return h("div", { class: "support-check", testid: "support-check", role: "status" },
      h("strong", {}, `${n} of your ${check.n_examples} examples disagree${n === 1 ? "s" : ""}`),
      " with the model (each held out of its own class). Check them: a wrong example pulls its class.",
      h("ul", {}, check.disagree.map((d) => h("li", { testid: "support-disagreement" },
        `chip (${d.row}, ${d.col}) was clicked as ${name(d.class_index)}, looks like `,
        h("strong", {}, name(d.predicted_index)), ` (${fmtPct(d.probability)})`,
        d.image !== image.id ? " · on another image" : ""))));
  }

  // How much the fractions move at half and double the chip size: computed by the job right
  // after the result, so it may arrive a moment later.
  async function showSensitivity(box, r, rows) {
    let sens = (r.stats || {}).chip_size_sensitivity;
    if (!sens && r.job_status === "succeeded" && (r.frame || 0) === 0) {
      box.textContent = "Checking the fractions at half and double the chip size…";
      for (let i = 0; i < 120 && !sens; i++) {
        await sleep(1000);
        if (disposed || result !== r) return;
        sens = ((await api.analysis.result(r.id)).stats || {}).chip_size_sensitivity;
      }
    }
    if (!sens) { box.textContent = ""; return; }
    if (sens.error) { box.textContent = `The chip-size check failed: ${sens.error}`; return; }
    if (!sens.compared.length) {
      box.textContent = "No neighbouring chip size could be checked (too small, too large for the image, or an example class would be lost).";
      return;
    }
    const sizes = sens.compared.map((x) => `${x} px`).join(" and ");
    const worst = sens.max_shift.map((m, i) => [m, i]).filter(([, i]) => rows[i]).sort((a, b) => b[0] - a[0])[0];
    const over = sens.exceeds.map((e, i) => (e && rows[i] ? rows[i].name : null)).filter(Boolean);
    box.classList.toggle("support-check", over.length > 0);
    box.replaceChildren(over.length
      ? h("span", {}, h("strong", {}, `Chip size matters here: `),
        `at ${sizes} chips ${over.join(", ")} move${over.length === 1 ? "s" : ""} by more than the interval `
        + `(up to ${(worst[0] * 100).toFixed(1)} points). Report the chip size with these fractions, or compare sizes.`)
      : `At ${sizes} chips the fractions move by at most ${(worst[0] * 100).toFixed(1)} points, within the intervals.`);
  }

  /** Layers: the class-fraction profile across the layers (down the rows or across the
   * columns, the purer one first) with the interfaces, when the map has any. */
  function layersBox(r) {
    const layers = (r.stats || {}).layers;
    if (!layers || !(layers.y.interfaces.length || layers.x.interfaces.length)) return "";
    const classes = r.classes.map((c) => ({ name: c.name, colour: colourOf(c) }));
    let axis = layers.main_axis || "y";
    const body = h("div", {});
    const render = () => {
      const prof = layers[axis];
      const unit = prof.unit || "px";
      const at = (it) => (prof.unit ? it.position : it.position_px);
      const width = (it) => (prof.unit ? it.width : it.width_px);
      body.replaceChildren(profileChart(prof, classes, {
        title: `Class fractions ${axis === "y" ? "down the rows" : "across the columns"}` }),
      prof.interfaces.length
        ? h("ul", { class: "small plain-list" }, prof.interfaces.map((it) => h("li", { testid: "interface" },
          `${classes[it.between[0]].name} | ${classes[it.between[1]].name} at ${fmtNum(at(it), 4)} ${unit}`,
          width(it) !== null && width(it) !== undefined ? ` (10–90 % transition ${fmtNum(width(it), 3)} ${unit})` : "")))
        : h("p", { class: "small muted" }, "No interface along this direction."));
    };
    const pickAxis = (value, label) => h("label", {},
      h("input", { type: "radio", name: "profile-axis", value, checked: axis === value, testid: `profile-axis-${value}`,
        onchange: () => { axis = value; render(); } }), h("span", {}, label));
    render();
    return h("div", { testid: "layers" }, h("h3", {}, "Layers and interfaces"),
      h("div", { class: "seg-controls" }, h("span", {}, "Along"),
        h("div", { class: "segmented", role: "radiogroup", "aria-label": "Profile direction" },
          pickAxis("y", "rows ↓"), pickAxis("x", "columns →"))),
      body);
  }

  /** Count, density and size distribution of each class marked as objects. */
  function objectsBox(r, level) {
    const found = r.objects || {};
    const names = Object.keys(found);
    if (!names.length) return "";
    return h("div", { testid: "objects" }, h("h3", {}, "Objects"), ...names.map((name) => {
      const d = found[name];
      const c = r.classes.find((x) => x.name === name);
      const u = d.length_unit;
      const ci = d.bootstrap && d.bootstrap.intervals ? d.bootstrap.intervals.median : null;
      const density = d.number_density === null ? "–"
        : `${fmtNum(d.number_density, 3)} per ${d.number_density_unit.replace("1/", "").replace("^2", "²")}`;
      return h("div", { class: "objects-class", testid: "objects-class", dataset: { class: name } },
        h("p", {}, h("strong", { testid: "objects-count" }, `${d.n_total} × ${name}`),
          ` · ${d.n_edge} touch the edge (left out of the sizes) · density ${density}`),
        d.median === null ? h("p", { class: "small muted" }, "No particle away from the edge to measure.")
          : h("p", { class: "small", testid: "objects-sizes" },
            `Median equivalent diameter ${fmtNum(d.median, 3)} ${u}`,
            ci ? ` (${level} % interval ${fmtNum(ci[0], 3)}–${fmtNum(ci[1], 3)}, particles resampled)` : "",
            ` · mean ${fmtNum(d.mean, 3)} ${u}, s.d. ${fmtNum(d.std, 3)} ${u} · ${d.n_measured} measured`),
        d.n_measured ? histogramChart(d, { colour: c ? colourOf(c) : undefined, title: `${name}: equivalent diameters` }) : "");
    }));
  }

  function renderResult(r, job) {
    const stats = r.stats || {};
    // Physical areas when the image was calibrated at the time; else the pixel areas.
    const calibrated = Array.isArray(r.areas) && r.areas.length > 0;
    const areas = calibrated ? r.areas : (Array.isArray(stats.areas_px) ? stats.areas_px : []);
    const unit = calibrated ? (r.area_unit || stats.area_unit || "px^2").replace("^2", "²") : "px²";
    const std = r.fraction_std && r.fraction_std.length ? r.fraction_std : stats.fractions_std_prob || [];
    // The bootstrap's percentile interval: never below 0 or above 1, unlike ± s.d.
    const low = stats.fractions_ci_low || [];
    const high = stats.fractions_ci_high || [];
    const level = Math.round(((stats.interval || stats.bootstrap || {}).ci || 0.95) * 100);
    // What the interval covers, in the words of the engine that computed it.
    const covers = stats.interval ? stats.interval.covers : "the choice of support chips only (support resamples)";
    const rows = r.classes.map((c, i) => ({ name: c.name, colour: colourOf(c), fraction: r.fractions[i] || 0,
      std: std[i] ?? null, lo: low[i] ?? null, hi: high[i] ?? null, level,
      count: r.counts[i] || 0, area: areas[i] ?? null }));
    const hasCi = rows.some((x) => x.lo !== null && x.hi !== null);
    const fractionText = (x) => (x.lo !== null && x.hi !== null
      ? `${fmtPct(x.fraction)} (${(x.lo * 100).toFixed(1)}–${fmtPct(x.hi)})`
      : `${fmtPct(x.fraction)}${x.std !== null ? ` ± ${fmtPct(x.std)}` : ""}`);

    const opacityInput = h("input", { type: "range", min: 0, max: 100, value: Math.round(opacity * 100),
      id: "overlay-opacity", testid: "overlay-opacity",
      oninput: (ev) => { opacity = ev.target.value / 100; drawOverlay(); } });
    const modeInput = (value, label) => h("label", {},
      h("input", { type: "radio", name: "overlay-mode", value, checked: mode === value, testid: `view-${value}`,
        onchange: () => { mode = value; drawOverlay(); legend.replaceChildren(...legendItems()); } }),
      h("span", {}, label));
    const legend = h("div", { class: "legend", testid: "legend" });
    const legendItems = () => mode === "confidence" || mode === "chip-confidence"
      ? [h("span", {}, h("span", { class: "swatch", style: { background: "linear-gradient(90deg,#440154,#21918c,#fde725)", width: "4rem" } }), "low → high confidence")]
      : rows.map((x) => h("span", {}, h("span", { class: "swatch", style: { background: x.colour } }), x.name));
    legend.replaceChildren(...legendItems());

    const px = r.pixel_map;
    const table = h("table", { class: "stats", testid: "stats-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Class"), h("th", { scope: "col" }, "Chips"),
        h("th", { scope: "col", title: hasCi ? `${level} % interval; it covers ${covers}` : "" },
          hasCi ? `Fraction (${level} % interval)` : "Fraction"),
        h("th", { scope: "col" }, `Area (${unit})`),
        px ? h("th", { scope: "col", title: "Share of the pixel map's pixels (no interval)" }, "Pixel map") : null)),
      h("tbody", {}, rows.map((x, i) => h("tr", {},
        h("td", {}, h("span", { class: "swatch", style: { background: x.colour } }), x.name),
        h("td", {}, x.count.toLocaleString()),
        h("td", { testid: "stats-fraction" }, fractionText(x)),
        h("td", { testid: "stats-area" }, x.area === null ? "–"
          : calibrated ? fmtNum(x.area, 4) : Math.round(x.area).toLocaleString()),
        px ? h("td", { testid: "stats-pixel-fraction" }, fmtPct(px.fractions[i] || 0)) : null))));
    const areaNote = calibrated ? null : h("p", { class: "small muted", testid: "area-note" },
      "Areas are in pixels: the image had no pixel size when this was segmented.",
      image.pixel_size ? ` It has one now (${fmtNum(image.pixel_size, 4)} ${image.pixel_unit} / px): segment again for physical areas.`
        : canConsensus ? " Curators can set one under “Image metadata” below." : "");

    const check = supportCheck(r);
    const pixelNote = px ? h("p", { class: "small muted", testid: "pixel-map-note" },
      `Pixel map: ${fmtPct(px.uncertain_fraction)} of its pixels are below ${Math.round(px.uncertain_below * 100)} % `
      + "confidence (see the Confidence view); the chip fractions carry the interval.") : "";
    const sensitivityBox = h("p", { class: "small", testid: "chip-size-sensitivity" });
    showSensitivity(sensitivityBox, r, rows);

    const prov = r.provenance || {};
    const model = prov.model_version || prov.model || (job && job.model_version) || null;
    const support = prov.support_set || (job && job.support_set) || null;
    resultBox.replaceChildren(
      h("h3", {}, "Result"),
      h("p", { class: "small muted", testid: "result-meta" },
        image.frames > 1 ? `frame ${r.frame || 0} · ` : "",
        `${r.rows} × ${r.cols} chips · mean confidence ${fmtPct(r.mean_confidence)} · ${fmtDate(r.created)}`,
        support && support.number ? ` · support set v${support.number}${RULES[support.rule] ? ` (${RULES[support.rule]})` : ""}` : "",
        r.job_status && r.job_status !== "succeeded" ? h("span", { testid: "result-partial" },
          ` · from a job that ${r.job_status === "running" || r.job_status === "queued" ? "is still running" : `was ${r.job_status}`}`) : null,
        model && model.name ? ` · model ${model.name} v${model.version}` : "",
        job && job.timings && Object.keys(job.timings).length ? h("span", { testid: "job-timings" }, h("br"),
          "worker: ", Object.entries(job.timings).filter(([, v]) => typeof v === "number")
            .map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(" · ")) : null),
      h("div", { class: "seg-controls" },
        h("span", {}, "View"), h("div", { class: "segmented", role: "radiogroup", "aria-label": "Overlay view" },
          modeInput("classes", r.pixel_map ? "Pixels" : "Classes"),
          r.pixel_map ? modeInput("chips", "Chips") : null,
          modeInput("confidence", "Confidence"),
          r.pixel_map ? modeInput("chip-confidence", "Chip conf.") : null,
          modeInput("off", "Off")),
        h("label", { for: "overlay-opacity" }, "Opacity"), opacityInput),
      check,
      legend,
      fractionChart(rows, { unit, title: hasCi ? `Class area fractions (${level} % interval)`
        : "Class area fractions (± 1 s.d. over support resamples)" }),
      table,
      hasCi ? h("p", { class: "small muted", testid: "interval-note" }, `The ${level} % interval covers ${covers}.`) : "",
      sensitivityBox,
      pixelNote,
      areaNote || "",
      objectsBox(r, level),
      layersBox(r),
      h("h3", {}, "Export"),
      h("div", { class: "exports", testid: "exports" }, EXPORTS.filter(([kind]) => hasExport(r, kind, frameResults.length))
        .map(([kind, label]) => h("a", { class: "btn btn-small", href: api.analysis.exportUrl(r.id, kind), download: "",
          testid: `export-${kind}`,
          title: kind === "series.csv" ? `Every frame's table (${frameResults.length} frames) in one file` : undefined }, label))));
  }

  return () => {
    disposed = true;
    frameBar.remove();
    delete viewer.canvas.dataset.frame;
    viewer.setSource(api.images.previewUrl(image.id)).catch(() => {}); // labelling uses frame 0
    viewer.setOverlay(null);
    viewer.showGrid = true;
    viewer.setChips([]);
    delete viewer.canvas.dataset.overlay;
  };
}
