// Running a segmentation job: queue it (it freezes the support set), follow it, cancel it.
import * as api from "../../api.js";
import { state } from "../../state.js";
import { h, errorBox, fmtDate, showError, toast } from "../../ui.js";
import { poll } from "../../poll.js";

const FINISHED = ["succeeded", "failed", "cancelled"];

/**
 * `ui`: the Segment and Cancel buttons, the cancel message and the progress box.
 * `freezeBody()` (what the job freezes) and `jobFields()` (model, params) make the request; `showResult(id, job, {refresh})`
 * shows the job's result (its map as soon as the job lists it, refreshed when the job finishes);
 * `onChange()` is called when `store.job.following` changes.
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

  /** Queue a job on the working set and follow it; resolves once its map is shown (or it
   * ended without one): the job may still be writing its downloads then. */
  async function run() {
    setFollowing(true);
    cancelMsg.replaceChildren();
    performance.clearMarks("chiplab:segment-click");
    performance.mark("chiplab:segment-click");
    const t0 = performance.now();
    progress("Freezing the support set and queueing the job…", 0);
    let job;
    try {
      await ws.settled(); // a chip clicked just before Segment belongs in this support set
      // one request: the job freezes the working set (an unchanged one runs on its newest
      // version), rather than a freeze and then a job (~30-50 ms more per click)
      job = await api.analysis.createJob({ schema: ws.schema.id, ...freezeBody(), images: [image.id], ...jobFields() });
    } catch (e) {
      progressBox.replaceChildren(errorBox(e));
      showError(e, "Segment");
      setFollowing(false);
      return;
    }
    let mapShown;
    const shown = new Promise((resolve) => {
      mapShown = resolve;
    });
    follow(job, { t0, onShown: mapShown }).then(mapShown, mapShown);
    await shown;
  }

  /** This image's result (frame 0) among a job's results, or null. */
  const ownResult = (job) => (job.results || []).find((r) => r.image === image.id && r.frame === 0) || null;
  /** The result a finished job shows here: this image's, else its first. */
  const resultHere = (job) => ownResult(job) || (job.results || [])[0] || null;

  /** Poll the job until it finishes (progress and Cancel meanwhile), the step is left or a
   * newer job is followed (`current()` false). `onResult(job)` is awaited once, as soon as the
   * running job lists this image's result: the worker writes the map first and the downloads
   * after it. */
  async function untilFinished(job, onResult, current) {
    const own = state.user && job.created_by === state.user.username;
    const by = own ? "" : ` (started by ${job.created_by})`; // kept on every poll, not only the first
    let last = job;
    let early = false;
    if (FINISHED.includes(last.status)) return last;
    /** One look at the job (query: the API's, e.g. {wait}): true once following it is over. */
    const check = async (query) => {
      if (!current()) return true;
      if (j.current && j.current.status === "cancelled") {
        last = j.current;
        return true;
      }
      last = await api.analysis.job(job.id, query);
      if (!current()) return true;
      if (FINISHED.includes(last.status)) return true;
      // this image's own result only: a job over several images lists the others' first
      if (!early && last.status === "running" && ownResult(last)) {
        early = true;
        await onResult(last);
        if (!current()) return true;
      }
      const p = last.progress || {};
      const chips = `${(p.done || 0).toLocaleString()} / ${(p.total || 0).toLocaleString()} chips`;
      progress(
        (last.status === "queued"
          ? `${p.stage || "Waiting for a worker"}…` // a stage: it gave way to a newer job
          : p.stage
            ? `${p.stage}… ${early ? "" : chips}`
            : `Classifying chips: ${chips}`) + by,
        early ? 1 : p.fraction || 0,
        last.status,
      );
      return false;
    };
    // until a map is listed the server answers as soon as one is (or after 1 s, for the
    // progress): polling every 100 ms learned of it ~75 ms late on average
    while (!early && !(last.results || []).length) {
      if (await check({ wait: 1 })) return last;
    }
    // then the downloads: every 100 ms for the first second, backing off to once a second
    const polling = poll(() => check(), { first: 100, every: 1000, grow: 1.3, growAfter: 1000 });
    await polling.done;
    return last;
  }

  let followed = 0; // the number of the newest follow: an older one lets go of the page

  /** Follow a job until it finishes, then show its result (its map as soon as it is saved).
   * Once the map is shown, Segment is free again: the job still writes its downloads, and a
   * newer job (a correction re-run at once) takes the page over from this follow. */
  async function follow(job, { t0 = null, reattached = false, onShown = null } = {}) {
    const number = ++followed;
    const current = () => number === followed && !store.disposed;
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
    let shown = null; // the result shown while the job still wrote its downloads
    let ms = null;
    const show = async (running, refresh = false) => {
      const mine = resultHere(running);
      await showResult(mine.id, running, { refresh });
      if (t0 !== null && ms === null) {
        viewer.draw(); // paint now rather than on the next animation frame, then take the time
        ms = performance.now() - t0;
        performance.mark("chiplab:overlay-drawn");
        performance.measure("chiplab:segment-to-overlay", "chiplab:segment-click", "chiplab:overlay-drawn");
        progressBox.dataset.ms = Math.round(ms);
      }
      shown = mine.id;
      onShown?.();
      // the downloads follow: nothing to cancel that the user waits for
      if (running.status === "running" && current()) release();
    };
    try {
      job = await untilFinished(job, show, current);
      if (!current()) return;
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
      const mine = resultHere(job);
      if (!mine) throw new Error("The job finished without a result for this image.");
      // shown early: refreshed now with its download links and the job's other frames (the
      // overlay kept), unless the user moved on to another result meanwhile
      if (shown === null) await show(job);
      else if (store.shown.result?.id === shown) await show(job, true);
      const took = ms === null ? "" : ` in ${(ms / 1000).toFixed(2)} s (click → overlay)`;
      // no toast: the progress line says it, and a toast covered the support check's box
      progress(`Done${took}.`, 1, "succeeded");
    } catch (e) {
      if (!current()) return;
      progressBox.replaceChildren(errorBox(e));
      showError(e, "Segment");
    } finally {
      if (current()) finish();
    }
  }

  /** Segment free again (no Cancel): the newest job's map is shown, or it ended. */
  function release() {
    cancelBtn.hidden = true;
    setFollowing(false);
    runBtn.textContent = "Segment again";
  }

  /** The page after the newest follow ended: no job followed, Segment free. */
  function finish() {
    j.current = null;
    release();
  }

  return { run, follow, cancel, active };
}
