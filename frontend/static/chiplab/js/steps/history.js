// History: earlier grids, support-set versions, jobs and results of this image — reopen any.
import * as api from "../api.js";
import { poll } from "../poll.js";
import { h, append, fmtDate, fmtPct, showError, statusPill, toast } from "../ui.js";

export async function mount(ws, panel) {
  const { image, viewer } = ws;
  const gridsBox = h("ul", { class: "plain-list", testid: "history-grids" });
  const versionsBox = h("ul", { class: "plain-list", testid: "history-versions" });
  const jobsBox = h("ul", { class: "plain-list", testid: "history-jobs" });
  const resultsBox = h("ul", { class: "plain-list", testid: "history-results" });
  append(panel, [
    h("h2", {}, "History"),
    h(
      "p",
      { class: "muted small" },
      "Everything done on this image is kept. Reopen a grid, look at a frozen support set, or reopen a result.",
    ),
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
    gridsBox.append(
      h(
        "li",
        { class: "history-item" },
        h(
          "span",
          {},
          `${g.chip_size} px · ${g.rows}×${g.cols}${g.offset_x || g.offset_y ? ` · offset (${g.offset_x}, ${g.offset_y})` : ""}`,
          h("br"),
          h("span", { class: "muted small" }, fmtDate(g.created)),
        ),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            testid: "history-open-grid",
            onclick: () => {
              ws.setGrid(g);
              ws.goStep("support");
            },
          },
          ws.grid?.id === g.id ? "Current" : "Open",
        ),
      ),
    );
  }

  let stopped = false;
  let runsPoll = null; // following the image's jobs while one is queued or running
  const shown = { results: null, jobs: null };
  const ACTIVE = ["queued", "running"];

  /** Results and jobs of this image; polled while a job is queued or running. Returns
   * whether one is. */
  async function loadRuns({ quiet = false } = {}) {
    const grab = async (fn, what) => {
      try {
        return { data: await fn() };
      } catch (e) {
        if (!quiet && !api.isMissing(e)) showError(e, `Loading ${what}`);
        return {
          error: api.isMissing(e) ? "Not available on this server yet." : `Could not load ${what}: ${e.message}`,
        };
      }
    };
    const [results, jobs] = await Promise.all([
      grab(() => api.analysis.history(image.id), "results"),
      grab(() => api.analysis.jobs({ image: image.id }), "jobs"),
    ]);
    if (stopped) return;
    // Redraw only what changed: a list rebuilt under the pointer would swallow clicks.
    const sig = (x, f) => x.error || JSON.stringify((x.data || []).map(f));
    const rs = sig(results, (r) => r.id);
    const js = sig(jobs, (j) => [j.id, j.status, j.progress?.done]);
    if (rs !== shown.results) {
      shown.results = rs;
      renderResults(results);
    }
    if (js !== shown.jobs) {
      shown.jobs = js;
      renderJobs(jobs);
    }
    const active = Boolean(jobs.data?.some((j) => ACTIVE.includes(j.status)));
    if (active && !runsPoll) {
      runsPoll = poll(async () => !(await loadRuns({ quiet: true })), { every: 1000 });
      runsPoll.done.finally(() => {
        runsPoll = null;
      });
    }
    return active;
  }

  function renderResults({ data: results, error }) {
    resultsBox.replaceChildren();
    if (error) {
      empty(resultsBox, error);
      return;
    }
    if (!results.length) empty(resultsBox, "No segmentation yet.");
    for (const r of results) {
      const fr = r.classes.map((c, i) => `${c.name} ${fmtPct(r.fractions[i], 0)}`).join(" · ");
      // the chip map in the result's colours, drawn by the server at most 128 px wide
      const thumb = h("img", {
        class: "history-thumb",
        testid: "history-thumb",
        alt: `Chip map of the result of ${fmtDate(r.created)}`,
        src: api.analysis.thumbnailUrl(r.id),
        loading: "lazy",
        decoding: "async",
        width: 64,
        style: { aspectRatio: `${r.cols} / ${r.rows}` },
      });
      resultsBox.append(
        h(
          "li",
          { class: "history-item history-result", testid: "history-result", dataset: { id: r.id } },
          thumb,
          h(
            "span",
            { class: "history-text" },
            `${fmtDate(r.created)} · ${gridLabel(r.grid)}${r.frame ? ` · frame ${r.frame}` : ""}`,
            h("br"),
            r.model
              ? h("span", { class: "small", testid: "history-model" }, `model ${r.model.name} v${r.model.version}`)
              : null,
            r.model ? h("br") : null,
            h("span", { class: "muted small" }, fr),
          ),
          h(
            "button",
            {
              type: "button",
              class: "btn btn-small",
              testid: "history-open-result",
              onclick: () => {
                ws.openResultId = r.id;
                ws.goStep("segment");
              },
            },
            "Open",
          ),
        ),
      );
    }
  }

  function renderJobs({ data: jobs, error }) {
    jobsBox.replaceChildren();
    if (error) {
      empty(jobsBox, error);
      return;
    }
    if (!jobs.length) empty(jobsBox, "No jobs yet.");
    for (const j of jobs.slice(0, 30)) {
      const p = j.progress || {};
      const running = ACTIVE.includes(j.status);
      const rerun = h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          testid: "history-rerun",
          title: "Run again with the same support set, model and parameters",
          onclick: async () => {
            rerun.disabled = true;
            try {
              const job = await api.analysis.rerun(j.id);
              toast("Re-run queued; it is at the top of the jobs list.", "ok");
              highlight = job.id;
              shown.jobs = null;
              await loadRuns();
            } catch (e) {
              showError(e, "Re-run");
              rerun.disabled = false;
            }
          },
        },
        "Re-run",
      );
      const cancel = h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          testid: "history-cancel",
          title: "Stop this job",
          onclick: async () => {
            cancel.disabled = true;
            try {
              await api.analysis.cancel(j.id);
              toast("Job cancelled.", "ok");
              shown.jobs = null;
              await loadRuns();
            } catch (e) {
              showError(e, "Cancel");
              cancel.disabled = false;
            }
          },
        },
        "Cancel",
      );
      // What this user may do with the job is the API's to say (permissions).
      const may = j.permissions || {};
      jobsBox.append(
        h(
          "li",
          {
            class: "history-item",
            testid: "history-job",
            dataset: { id: j.id, status: j.status },
            "aria-current": j.id === highlight ? "true" : undefined,
          },
          h(
            "span",
            {},
            statusPill(j.status),
            ` ${fmtDate(j.created)} · by ${j.created_by} · support set v${j.support_set.number} · ${j.model_version.name} v${j.model_version.version}`,
            j.rerun_of ? h("span", { class: "muted small" }, " · re-run") : null,
            running
              ? h(
                  "span",
                  { class: "history-progress", testid: "history-job-progress" },
                  h("br"),
                  h("progress", { max: 1, value: p.fraction || 0, "aria-label": "Job progress" }),
                  " ",
                  h(
                    "span",
                    { class: "muted small" },
                    // a job that gave way to a newer one says so, with what it has done
                    j.status === "queued" && !p.stage
                      ? "waiting for a worker"
                      : `${j.status === "queued" ? `${p.stage} · ` : ""}${(p.done || 0).toLocaleString()} / ${(p.total || 0).toLocaleString()} chips`,
                  ),
                )
              : null,
            j.error ? h("span", { class: "error-text small" }, h("br"), j.error) : null,
          ),
          running ? (may.cancel ? cancel : null) : may.rerun ? rerun : null,
        ),
      );
    }
  }

  let highlight = null; // the job just queued from here
  await loadRuns();

  try {
    await ws.ensureSchema();
    let versions = []; // a reader of a dataset nobody labelled yet has no schema
    if (ws.schema) {
      try {
        versions = await api.labeling.versions(ws.schema.id);
      } catch (e) {
        versions = null;
        empty(
          versionsBox,
          api.isMissing(e) ? "Not available on this server yet." : `Could not load support-set versions: ${e.message}`,
        );
        if (!api.isMissing(e)) showError(e, "Loading support-set versions");
      }
    }
    if (versions) {
      const gridIds = new Set(ws.grids.map((g) => g.id));
      const here = versions.filter((v) => v.chips.some((c) => gridIds.has(c.grid)));
      if (!here.length) empty(versionsBox, "No frozen support set for this image yet (Segment freezes one).");
      for (const v of here.reverse()) {
        const counts = v.classes.map((c) => `${c.name} ${v.chips.filter((x) => x.class === c.id).length}`).join(" · ");
        versionsBox.append(
          h(
            "li",
            { class: "history-item", testid: "history-version" },
            h(
              "span",
              {},
              `v${v.number} · ${v.rule.replace("_", " ")} · ${v.chip_size} px`,
              h("br"),
              h("span", { class: "muted small" }, `${counts} · ${fmtDate(v.created)}`),
            ),
            h(
              "button",
              { type: "button", class: "btn btn-small", testid: "history-show-version", onclick: () => showVersion(v) },
              "Show",
            ),
          ),
        );
      }
    }
  } catch (e) {
    showError(e, "Loading support sets");
  }

  function showVersion(v) {
    const grid = ws.grids.find((g) => v.chips.some((c) => c.grid === g.id));
    if (grid && grid.id !== ws.grid?.id) ws.setGrid(grid);
    const colour = Object.fromEntries(v.classes.map((c) => [c.id, c.colour]));
    viewer.setChips(
      v.chips
        .filter((c) => c.grid === ws.grid?.id)
        .map((c) => ({ row: c.row, col: c.col, color: colour[c.class] || "#888", kind: "mine" })),
    );
    toast(`Showing support set v${v.number} (${v.chips.length} chips).`, "info");
  }

  return () => {
    stopped = true;
    if (runsPoll) runsPoll.stop();
    viewer.setChips([]);
  };
}
