// Running a segmentation job: freeze the support set, queue the job, follow it, cancel it.
import * as api from "../../api.js";
import { state } from "../../state.js";
import { h, errorBox, fmtDate, showError, toast } from "../../ui.js";
import { poll } from "../../poll.js";

const FINISHED = ["succeeded", "failed", "cancelled"];

/**
 * `ui`: the Segment and Cancel buttons, the cancel message and the progress box.
 * `freezeBody()` and `jobFields()` (model, params) make the requests; `showResult(id, job)` shows the
 * finished job's result; `onChange()` is called when `store.job.following` changes.
 */
export function createJobRunner({ ws, store, ui, freezeBody, jobFields, showResult, onChange }) {
  const { runBtn, cancelBtn, cancelMsg, progressBox } = ui;
  const { viewer, image } = ws;
  const j = store.job;
  const setFollowing = (on) => {
    j.following = on;
    onChange();
  };

  function progress(text, fraction, status) {
    progressBox.replaceChildren(
      h(
        "div",
        {},
        status ? h("span", { class: `pill pill-${status}`, testid: "job-status" }, status) : null,
        " ",
        text,
      ),
      h("progress", { max: 1, value: fraction, "aria-label": "Segmentation progress" }),
    );
  }

  /** The newest queued or running job that segments this grid (one's own first), or null. */
  async function active() {
    const jobs = await api.analysis
      .jobs({ grid: ws.grid.id, status: "queued,running" })
      .catch((e) => (api.isMissing(e) ? [] : Promise.reject(e))); // newest first
    const mine = jobs.find((x) => state.user && x.created_by === state.user.username);
    return mine || jobs[0] || null;
  }

  async function cancel() {
    if (!j.current) return;
    cancelBtn.disabled = true;
    try {
      j.current = await api.analysis.cancel(j.current.id);
      toast("Job cancelled.", "ok");
    } catch (e) {
      cancelBtn.disabled = false;
      cancelMsg.replaceChildren(errorBox(e));
      showError(e, "Cancel");
    }
  }

  async function run() {
    setFollowing(true);
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
      job = await api.analysis.createJob({ support_set: version.id, images: [image.id], ...jobFields() });
    } catch (e) {
      progressBox.replaceChildren(errorBox(e));
      showError(e, "Segment");
      setFollowing(false);
      return;
    }
    await follow(job, { t0 });
  }

  /** Poll the job until it finishes (progress and Cancel meanwhile), or the step is left. */
  async function untilFinished(job) {
    const own = state.user && job.created_by === state.user.username;
    const by = own ? "" : ` (started by ${job.created_by})`; // kept on every poll, not only the first
    let last = job;
    if (FINISHED.includes(last.status)) return last;
    // every 100 ms for the first second (a re-run after a support edit takes ~0.3 s on the
    // worker), then backing off to once a second
    const polling = poll(
      async () => {
        if (store.disposed) return true;
        if (j.current && j.current.status === "cancelled") {
          last = j.current;
          return true;
        }
        last = await api.analysis.job(job.id);
        if (store.disposed) return true;
        const p = last.progress || {};
        const chips = `${(p.done || 0).toLocaleString()} / ${(p.total || 0).toLocaleString()} chips`;
        progress(
          (last.status === "queued"
            ? "Waiting for a worker…"
            : p.stage
              ? `${p.stage}… ${chips}`
              : `Classifying chips: ${chips}`) + by,
          p.fraction || 0,
          last.status,
        );
        return FINISHED.includes(last.status);
      },
      { first: 100, every: 1000, grow: 1.3, growAfter: 1000 },
    );
    await polling.done;
    return last;
  }

  /** Follow a job until it finishes, then show its result. */
  async function follow(job, { t0 = null, reattached = false } = {}) {
    setFollowing(true);
    ws.emit("job", job);
    j.current = job;
    const own = state.user && job.created_by === state.user.username;
    cancelBtn.hidden = !job.permissions?.cancel; // the API says who may cancel it
    cancelBtn.disabled = false;
    progressBox.dataset.job = job.id;
    if (reattached) {
      progress(
        `Following the job started ${fmtDate(job.created)}${own ? "" : ` by ${job.created_by}`}…`,
        job.progress?.fraction || 0,
        job.status,
      );
    }
    try {
      job = await untilFinished(job);
      if (store.disposed) return;
      cancelBtn.hidden = true;
      if (job.status === "cancelled") {
        progress("The job was cancelled.", 0, "cancelled");
        return;
      }
      if (job.status !== "succeeded") {
        throw new Error(
          job.status === "failed"
            ? `The segmentation failed: ${job.error || "no reason given"}`
            : "The job was cancelled.",
        );
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
        progress(`Done in ${(ms / 1000).toFixed(2)} s (click → overlay).`, 1, "succeeded");
        progressBox.dataset.ms = Math.round(ms);
      }
      toast("Segmentation finished.", "ok");
    } catch (e) {
      if (store.disposed) return;
      progressBox.replaceChildren(errorBox(e));
      showError(e, "Segment");
    } finally {
      j.current = null;
      cancelBtn.hidden = true;
      j.following = false;
      if (!store.disposed) {
        onChange();
        runBtn.textContent = "Segment again";
      }
    }
  }

  return { run, follow, cancel, active };
}
