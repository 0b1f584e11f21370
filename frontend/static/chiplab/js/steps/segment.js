// Step 3: segment with one click; progress; the pixel map (the result's mask.png) or the chip
// map (drawn client-side from the label grid), confidence views, fraction chart with error bars,
// statistics table, objects (count and size histogram) and exports.
//
// The step is put together here from its parts (steps/segment/): the state they share
// (store.js), the support-set selector, the model picker, the job runner, the frames of a
// time series and the result view.
import * as api from "../api.js";
import { h, append, showError } from "../ui.js";
import { createFrames } from "./segment/frames.js";
import { createJobRunner } from "./segment/job.js";
import { createJobOptions } from "./segment/job-options.js";
import { createModelPicker } from "./segment/model-picker.js";
import { createResultView } from "./segment/result-view.js";
import { createStore } from "./segment/store.js";
import { createSupportSource } from "./segment/support-source.js";

export async function mount(ws, panel) {
  const { viewer, image } = ws;
  const store = createStore();
  // Annotators segment with their own chips; curators also with a lab consensus; viewers read.
  const canRun = ws.can("annotator");
  const canConsensus = ws.can("curator");

  // disabled until the support set is described (the schema and grid it needs are loaded)
  const runBtn = h(
    "button",
    { type: "button", class: "btn btn-primary btn-big", testid: "segment", disabled: true },
    "Segment",
  );
  const cancelBtn = h("button", { type: "button", class: "btn", testid: "cancel-job", hidden: true }, "Cancel");
  const cancelMsg = h("div", { testid: "cancel-error" });
  const progressBox = h("div", { class: "progress-box", testid: "job-progress", "aria-live": "polite" });
  const resultBox = h("div", { testid: "result" });
  const updateRunBtn = () => {
    runBtn.disabled = store.job.following || !store.support.ok;
    runBtn.title = source.runTitle();
  };

  const source = createSupportSource({ ws, store, canRun, canConsensus, onChange: updateRunBtn });
  const redescribe = () => {
    if (!store.disposed) source.describe().catch((e) => showError(e, "Support set"));
  };
  /** Segment (again): once the map is shown, the summary says what the job froze (it counts
   * examples added elsewhere since the step was opened). */
  const segment = () => jobs.run().then(redescribe);
  const models = createModelPicker({ ws, store });
  const options = createJobOptions({ ws });
  // a correction's re-run is Segment again: freeze the working set, run, show the new map
  const view = createResultView({
    ws,
    store,
    box: resultBox,
    canConsensus,
    canRun,
    rerun: () => segment(),
    onExamples: redescribe,
  });
  const frames = createFrames({ ws, store, select: selectFrame });
  const jobs = createJobRunner({
    ws,
    store,
    ui: { runBtn, cancelBtn, cancelMsg, progressBox },
    freezeBody: source.freezeBody,
    jobFields: () => ({ ...models.chosen(), ...options.chosen() }),
    showResult,
    onChange: updateRunBtn,
  });

  append(panel, [
    h("h2", {}, "Segment"),
    h(
      "p",
      { class: "muted small" },
      "Freezes your current support set as a new version and labels every chip of the grid by its nearest class prototype; a chip on a boundary between classes takes the class that covers most of it (its confidence is then that class's share).",
    ),
    source.box,
    canRun ? models.box : null,
    canRun ? options.box : null,
    source.summary,
    canRun
      ? null
      : h(
          "p",
          { class: "muted small", testid: "read-only-note" },
          "You are a viewer in this lab: you can look at the results; segmenting needs the annotator role.",
        ),
    h("div", { class: "form-actions", style: { justifyContent: "flex-start" } }, canRun ? runBtn : null, cancelBtn),
    progressBox,
    cancelMsg,
    frames.box,
    resultBox,
  ]);
  runBtn.addEventListener("click", segment);
  // examples voted elsewhere (another tab, a pipeline through the API) count in the next job:
  // the summary says so when the user comes back to this tab
  const onVisible = () => document.visibilityState === "visible" && redescribe();
  document.addEventListener("visibilitychange", onVisible);
  cancelBtn.addEventListener("click", jobs.cancel);
  if (canRun) models.load().catch((e) => console.warn("models", e));

  try {
    await ws.ensureSchema();
    options.refresh();
    // A job of this grid still queued or running (the page was reloaded, or the tab left and
    // reopened): follow it rather than show a partial result.
    const active = await jobs.active();
    // Reopen: a result chosen in History, else the newest finished result on this grid
    // (frame 0 of a time series).
    const wanted = ws.openResultId;
    ws.openResultId = null;
    if (wanted) await showResult(wanted);
    else {
      const history = await api.analysis.history(image.id).catch((e) => (api.isMissing(e) ? [] : Promise.reject(e)));
      const latest = newestResult(history, active ? active.id : null);
      if (latest && !store.disposed) await showResult(latest.id);
    }
    if (!store.disposed) await source.describe();
    if (active && !store.disposed) jobs.follow(active, { reattached: true });
  } catch (e) {
    showError(e, "Loading results");
  }

  /** The newest result on this grid (frame 0 of its job), leaving out a job still running. */
  function newestResult(history, skipJob) {
    const here = history.filter((r) => r.grid === ws.grid.id && r.job !== skipJob);
    if (!here.length) return null;
    const newest = here.reduce((a, b) => (String(b.created) > String(a.created) ? b : a));
    return here.filter((r) => r.job === newest.job).reduce((a, b) => ((b.frame || 0) < (a.frame || 0) ? b : a));
  }

  /** Show a result (and its job's frames): the overlay, the panel, the selectors following it.
   * `refresh`: the result is shown already (its job was running): add in place what the job
   * added since (its state, the download links, the other frames), keeping the overlay and
   * the panel as the user left them. */
  async function showResult(resultId, job, { refresh = false } = {}) {
    const shown = store.shown;
    const my = ++shown.seq;
    // the map's image is fetched beside the result (its id is all it needs)
    const early = refresh ? null : view.prefetchOverlay(resultId);
    const r = await api.analysis.result(resultId);
    if (store.disposed || my !== shown.seq) return;
    await frames.load(r, job);
    if (store.disposed || my !== shown.seq) return;
    if (job) shown.job = job;
    if (refresh && shown.result?.id === r.id) {
      // the same object: what holds it (the chip-size check's wait, a draw) carries on
      Object.assign(shown.result, r);
      frames.render(shown.result);
      view.refresh(shown.result, job);
      return;
    }
    shown.result = r;
    if (r.grid !== ws.grid.id) {
      const grid = ws.grids.find((g) => g.id === r.grid) || (await api.labeling.grid(r.grid));
      ws.setGrid(grid);
    }
    store.view.overlays = {};
    view.adoptOverlay(r, early);
    viewer.canvas.dataset.overlay = "loading";
    const drawn = view.drawOverlay();
    viewer.canvas.dataset.result = r.id;
    viewer.canvas.dataset.frame = r.frame || 0;
    showBackground(r.frame || 0);
    frames.render(r);
    view.render(r, job);
    runBtn.textContent = "Segment again";
    source.match(r, job);
    await drawn;
    if (!store.disposed && shown.result === r) viewer.canvas.dataset.overlay = "drawn";
    store.model.shown = r.provenance?.model_version?.id || store.model.shown;
    models.follow(store.model.shown);
  }

  function showBackground(frame) {
    const shown = frames.background(frame);
    viewer
      .setSource(api.images.previewUrl(image.id, shown), { frame0: !shown })
      .catch((e) => showError(e, "Loading the frame's image"));
  }

  function selectFrame(frame) {
    const hit = frames.resultOf(frame);
    if (!hit || (store.shown.result && hit.id === store.shown.result.id)) return;
    const job = store.shown.job;
    showResult(hit.id, job && job.id === hit.job ? job : undefined).catch((e) => showError(e, "Loading the frame"));
  }

  return () => {
    store.disposed = true;
    document.removeEventListener("visibilitychange", onVisible);
    view.dispose();
    frames.bar.remove();
    delete viewer.canvas.dataset.frame;
    viewer.setSource(api.images.previewUrl(image.id)).catch(() => {}); // labelling uses frame 0
    viewer.setOverlay(null);
    viewer.showGrid = true;
    viewer.setChips([]);
    delete viewer.canvas.dataset.overlay;
    delete viewer.canvas.dataset.view;
  };
}
