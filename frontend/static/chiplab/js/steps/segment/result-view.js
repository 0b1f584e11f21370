// A result of the Segment step, put together from its parts: the overlay and its controls
// (overlay.js), the fraction chart and table (fractions.js), the support and chip-size checks
// (checks.js), objects, particles, layers and exports.
import { h, fmtDate, fmtPct, fmtWorkerTimings } from "../../ui.js";
import { sensitivityBox, showSensitivity, supportCheck } from "./checks.js";
import { createCorrections } from "./corrections.js";
import { exportsBox } from "./exports.js";
import { areaNote, fractionSummary, fractionsChart, intervalNote, pixelNote, statsTable } from "./fractions.js";
import { layersBox } from "./layers.js";
import { objectsBox } from "./objects.js";
import { createOverlay } from "./overlay.js";
import { createParticles } from "./particles.js";

const RULES = { majority: "lab majority", curator: "curator approval" };

/** Renders results into `box`; `canConsensus`: curators, who may set the pixel size;
 * `canRun`, `rerun()` and `onExamples()`: annotators correct chips of a result (examples)
 * and segment again. */
export function createResultView({ ws, store, box, canConsensus, canRun, rerun, onExamples }) {
  const { image } = ws;
  const shown = () => store.shown.result;
  const overlay = createOverlay({ ws, store });
  const particles = createParticles({ ws, store });
  const corrections = createCorrections({ ws, store, canRun, rerun, onExamples });

  let meta = null; // the parts a finished job's refresh replaces
  let downloads = null;
  let sensitivity = null; // the chip-size check's box and the rows it names

  function renderResult(r, job) {
    meta = resultMeta(r, job, image);
    downloads = exportsBox(r, store.frames.results.length);
    const f = fractionSummary(ws, r);
    const view = overlay.controls(r, f.rows);
    const check = supportCheck(r, image, store.view);
    corrections.paint(); // the support check's flags
    sensitivity = { box: sensitivityBox(r, f.rows, gone(r)), rows: f.rows };
    box.replaceChildren(
      h("h3", {}, "Result"),
      meta,
      view.bar,
      corrections.box(r),
      check,
      view.legend,
      fractionsChart(f),
      statsTable(r, f),
      intervalNote(f),
      sensitivity.box,
      pixelNote(r),
      areaNote(f, image, canConsensus),
      objectsBox(ws, r, f.level),
      particles.box(r),
      layersBox(ws, r),
      h("h3", {}, "Export"),
      downloads,
    );
  }

  /** Whether the result shown is no longer `r` (the chip-size check's wait stops). */
  const gone = (r) => () => store.disposed || shown() !== r;

  /** What a job adds to the result shown while it ran, once it finishes: the line with its
   * state and timings, the download links and the chip-size check (which starts when the job
   * has succeeded), into their own elements (which stay in the page: one being scrolled to or
   * read is not swapped under the user); the rest of the panel (charts, tables, the controls)
   * stays as the user left it. */
  function refresh(r, job) {
    if (!meta || !downloads) return renderResult(r, job);
    meta.replaceChildren(...resultMeta(r, job, image).childNodes);
    downloads.replaceChildren(...exportsBox(r, store.frames.results.length).childNodes);
    showSensitivity(sensitivity.box, r, sensitivity.rows, gone(r));
  }

  return {
    render: renderResult,
    refresh,
    drawOverlay: overlay.draw,
    prefetchOverlay: overlay.prefetch,
    adoptOverlay: overlay.adopt,
    dispose: () => {
      particles.dispose();
      corrections.dispose();
    },
  };
}

/** The line under the heading: grid, confidence, date, support set, model, the job's state
 * when it did not succeed, and the worker's stage timings. */
function resultMeta(r, job, image) {
  const prov = r.provenance || {};
  const model = prov.model_version || prov.model || job?.model_version || null;
  const support = prov.support_set || job?.support_set || null;
  return h(
    "p",
    { class: "small muted", testid: "result-meta" },
    image.frames > 1 ? `frame ${r.frame || 0} · ` : "",
    `${r.rows} × ${r.cols} chips · mean confidence ${fmtPct(r.mean_confidence)} · ${fmtDate(r.created)}`,
    support?.number ? ` · support set v${support.number}${RULES[support.rule] ? ` (${RULES[support.rule]})` : ""}` : "",
    r.job_status && r.job_status !== "succeeded"
      ? h(
          "span",
          { testid: "result-partial" },
          ` · from a job that ${r.job_status === "running" || r.job_status === "queued" ? "is still running" : `was ${r.job_status}`}`,
        )
      : null,
    model?.name ? ` · model ${model.name} v${model.version}` : "",
    job?.timings && Object.keys(job.timings).length
      ? h("span", { testid: "job-timings" }, h("br"), "worker: ", fmtWorkerTimings(job.timings))
      : null,
  );
}
