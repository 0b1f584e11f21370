// The lab's fine-tuning jobs: a table followed while a job is queued or running, with each
// job's progress, held-out accuracy and result, and Cancel (curators).
import * as api from "../../api.js";
import { poll } from "../../poll.js";
import { h, fmtDate, showError, statusPill, toast, whileBusy } from "../../ui.js";
import { accuracy, tableCard } from "./format.js";

const ACTIVE = ["queued", "running"];

/** `onFinished()` when a job succeeded since the last look (a new version was registered). */
export function createTrainingJobs(store, { onFinished }) {
  const body = h("tbody", {});
  let following = null; // the poll of the jobs while one is queued or running
  let shown = ""; // the signature of the jobs on show

  /** Shows the jobs (when they changed); resolves whether one is still active. */
  async function load({ quiet = false } = {}) {
    let jobs;
    try {
      jobs = await api.registry.trainingJobs(store.lab.id);
    } catch (e) {
      if (!quiet) showError(e, "Loading training jobs");
      return;
    }
    if (store.stopped) return;
    const sig = JSON.stringify(jobs.map((j) => [j.id, j.status, j.progress, (j.history || []).length]));
    if (sig !== shown) {
      const finished = shown && jobs.some((j) => j.status === "succeeded" && !shown.includes(`"${j.id}","succeeded"`));
      shown = sig;
      render(jobs);
      if (finished) onFinished();
    }
    const active = jobs.some((j) => ACTIVE.includes(j.status));
    if (active && !following) {
      following = poll(async () => !(await load({ quiet: true })), { every: 1500 });
      following.done.finally(() => {
        following = null;
      });
    }
    return active;
  }

  /** Loads the jobs after a change made here (shown whatever they were). */
  function reload() {
    shown = "";
    return load();
  }

  function render(jobs) {
    body.replaceChildren();
    if (!jobs.length)
      body.append(h("tr", { testid: "training-empty" }, h("td", { colspan: 6, class: "muted" }, "No training yet.")));
    for (const j of jobs) body.append(jobRow(j, store.canManage, reload));
  }

  return {
    table: tableCard("training-jobs", ["Started", "Base model", "Status", "Held-out accuracy", "Result", ""], body),
    load,
    reload,
    stop: () => following?.stop(),
  };
}

function jobRow(j, canManage, reload) {
  const running = ACTIVE.includes(j.status);
  const epochs = j.params?.epochs;
  const sets = (j.support_set_versions || []).length;
  return h(
    "tr",
    { testid: "training-job", dataset: { id: j.id, status: j.status } },
    h(
      "td",
      { class: "small" },
      fmtDate(j.created),
      h("br"),
      h("span", { class: "muted" }, `by ${j.created_by || "–"}`),
    ),
    h(
      "td",
      { class: "small" },
      j.base_version ? `${j.base_version.name} v${j.base_version.version}` : "–",
      h("br"),
      h(
        "span",
        { class: "muted" },
        `${sets} support set${sets === 1 ? "" : "s"} · ${epochs} epoch${epochs === 1 ? "" : "s"}`,
      ),
    ),
    h(
      "td",
      { testid: "training-status" },
      statusPill(j.status),
      running ? progress(j, epochs) : null,
      j.error ? h("div", { class: "error-text small" }, j.error) : null,
    ),
    h("td", {}, accuracy(j.metrics)),
    h(
      "td",
      { class: "small", testid: "training-result" },
      j.result_version ? `${j.result_version.name} v${j.result_version.version}` : "–",
    ),
    h("td", { class: "actions" }, running && canManage ? cancelButton(j, reload) : null),
  );
}

function progress(j, epochs) {
  return h(
    "div",
    { class: "training-progress" },
    h("progress", { max: 1, value: j.progress || 0, "aria-label": "Training progress" }),
    " ",
    h(
      "span",
      { class: "muted small", testid: "training-progress" },
      j.status === "queued" ? "waiting for a worker" : `epoch ${(j.history || []).length} / ${epochs ?? "?"}`,
    ),
  );
}

function cancelButton(j, reload) {
  const button = h("button", { type: "button", class: "btn btn-small", testid: "training-cancel" }, "Cancel");
  button.addEventListener("click", () =>
    whileBusy(button, async () => {
      try {
        await api.registry.cancelTraining(j.id);
        toast("Training cancelled.", "ok");
        await reload();
      } catch (e) {
        showError(e, "Cancel training");
      }
    }),
  );
  return button;
}
