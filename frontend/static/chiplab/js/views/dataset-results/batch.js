// "Segment this dataset": one segmentation job over every image of the dataset, started from the
// results page and followed there until it ends.
import * as api from "../../api.js";
import { poll } from "../../poll.js";
import { h, clear, errorBox, showError, statusPill, toast, whileBusy } from "../../ui.js";

const ACTIVE = ["queued", "running"];

/** The form: one job over every image, with the dataset's schema and either your current
 * examples (frozen now) or a frozen support-set version; `onJob(job)` once it is created. */
export async function segmentForm(box, ds, canRun, onJob) {
  box.append(h("h2", { style: { margin: "0 0 .4rem", fontSize: "1.05rem" } }, "Segment this dataset"));
  if (!canRun) {
    box.append(
      h(
        "p",
        { class: "muted small", testid: "segment-dataset-note" },
        "Annotators, curators and owners of the lab run segmentations.",
      ),
    );
    return;
  }
  let schemas = [];
  try {
    schemas = await api.labeling.schemas(ds.id);
  } catch (e) {
    box.append(errorBox(e));
    return;
  }
  const choice = await supportChoice(schemas);
  if (!schemas.length) {
    box.append(h("p", { class: "muted small" }, "Label some chips of an image first (open an image of this dataset)."));
    return;
  }
  const button = h(
    "button",
    { type: "button", class: "btn btn-primary", testid: "segment-dataset" },
    "Segment this dataset",
  );
  button.onclick = () =>
    whileBusy(button, async () => {
      const [kind, id] = choice.value.split(":");
      const body = kind === "schema" ? { schema: id, rule: "single_owner" } : { support_set: id };
      try {
        const job = await api.analysis.createJob({ ...body, images: { dataset: ds.id } });
        toast(`Segmenting ${job.images.length} image(s).`, "info");
        onJob(job);
      } catch (e) {
        showError(e, "Segment this dataset");
      }
    });
  box.append(
    h(
      "p",
      { class: "muted small" },
      "Every ready image of the dataset is segmented with the examples you choose, on their chip size; each gets a new result.",
    ),
    h(
      "div",
      { class: "inline-fields", style: { display: "flex", gap: ".6rem", alignItems: "center", flexWrap: "wrap" } },
      choice,
      button,
    ),
  );
}

/** The support-set choice: per schema my current examples, then its frozen versions. */
async function supportChoice(schemas) {
  const choice = h("select", { testid: "segment-dataset-source", "aria-label": "Support set" });
  for (const schema of schemas) {
    const label = schema.name || "Default classes";
    choice.append(h("option", { value: `schema:${schema.id}` }, `${label}: my current examples`));
    let versions = [];
    try {
      versions = await api.labeling.versions(schema.id);
    } catch {
      /* none readable */
    }
    for (const v of versions) {
      choice.append(
        h(
          "option",
          { value: `version:${v.id}` },
          `${label}: support set v${v.number} (${v.rule.replace("_", " ")}, ${v.chip_size} px)`,
        ),
      );
    }
  }
  return choice;
}

/** Follows one batch job at a time in ``box`` (its status and progress); `onFinished()` once it
 * has ended, `stopped()` is true once the page is left. Returns {follow(job), stop()}. */
export function batchFollower(box, { onFinished, stopped }) {
  let follow = null; // polling the batch job
  let line = null; // the job's status line, made on the first follow
  const show = (j) => {
    clear(line).append(
      statusPill(j.status),
      " ",
      h(
        "span",
        { testid: "batch-progress" },
        `${j.progress.done} / ${j.progress.total} chips${j.progress.stage ? ` · ${j.progress.stage}` : ""}`,
      ),
      " · ",
      h("a", { href: "#/jobs" }, "All my jobs"),
    );
    line.dataset.status = j.status;
    line.dataset.job = j.id;
    // one batch at a time from this page: the button waits for the running one
    const button = box.querySelector("button[data-testid=segment-dataset]");
    if (button) button.disabled = ACTIVE.includes(j.status);
  };
  const step = async (job) => {
    try {
      const j = await api.analysis.job(job.id);
      if (stopped()) return true;
      show(j);
      if (ACTIVE.includes(j.status)) return false;
      if (j.status === "failed") toast(`The batch job failed: ${j.error || "no reason given"}`, "error");
      else if (j.status === "succeeded") toast("The dataset is segmented.", "ok");
      await onFinished();
      return true;
    } catch (e) {
      showError(e, "Following the batch job");
      return true;
    }
  };
  return {
    follow(job) {
      if (follow) follow.stop();
      line = line || h("p", { class: "small", testid: "batch-job" });
      box.append(line);
      show(job);
      follow = poll(() => step(job), { every: 2000, first: 700, grow: 1.3 });
    },
    stop() {
      if (follow) follow.stop();
    },
  };
}

/** A batch of mine still running on this dataset (the page was left and opened again): followed. */
export function resumeRunningBatch(ds, follower, stopped) {
  api
    .get("segmentation-jobs/overview/", { dataset: ds.id, status: "queued,running", limit: 1 })
    .then((page) => {
      if (!stopped() && page.results.length && page.results[0].n_images > 1) follower.follow(page.results[0]);
    })
    .catch((e) => showError(e, "Looking for running jobs"));
}
