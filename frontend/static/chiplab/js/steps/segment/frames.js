// Time series: a frame selector on the viewer and the per-frame fractions in the panel.
import * as api from "../../api.js";
import { h, fmtPct, showError } from "../../ui.js";
import { colourOf } from "./colour.js";

/** `select(frame)` shows that frame's result. */
export function createFrames({ ws, store, select }) {
  const { image, viewer } = ws;
  const f = store.frames;
  const bar = h("div", { class: "viewer-frames", testid: "frame-selector", hidden: true });
  const box = h("div", { testid: "frames" });
  viewer.toolbar.append(bar);

  /** The frame behind the overlay: its own preview when it has one, else frame 0. */
  function background(frame) {
    return frame < (image.preview_frames || 1) ? frame : 0;
  }

  /** The results of r's job for this image, one per frame (only fetched for time series). */
  async function load(r, job) {
    if (!(image.frames > 1)) {
      f.results = [];
      f.jobId = null;
      return;
    }
    // a job passed in is newer than what was loaded (its frames listed as they are saved)
    const fresh = job && job.id === r.job && job.results;
    if (f.jobId === r.job && !fresh) return;
    const j = fresh
      ? job
      : await api.analysis.job(r.job).catch((e) => {
          showError(e, "Loading the frames");
          return null;
        });
    f.results = (j?.results || []).filter((x) => x.image === image.id).sort((a, b) => (a.frame || 0) - (b.frame || 0));
    f.jobId = r.job;
  }

  /** The result of ``frame`` in the shown job, or null. */
  const resultOf = (frame) => f.results.find((x) => (x.frame || 0) === frame) || null;

  function render(r) {
    const frame = r.frame || 0;
    if (f.results.length <= 1) {
      f.ui = null;
      bar.hidden = true;
      box.replaceChildren(
        image.frames > 1
          ? h(
              "p",
              { class: "small muted", testid: "frame-note" },
              `This image has ${image.frames} frames; this result covers frame ${frame} only.`,
            )
          : "",
      );
      return;
    }
    if (f.ui && f.ui.job === r.job && f.ui.count === f.results.length) {
      update(frame);
      return;
    }
    const first = f.results[0].frame || 0;
    const last = f.results[f.results.length - 1].frame || 0;
    const slider = h("input", {
      type: "range",
      min: first,
      max: last,
      step: 1,
      value: frame,
      testid: "frame-slider",
      "aria-label": "Frame",
      oninput: (ev) => select(Number(ev.target.value)),
    });
    const number = h("input", {
      type: "number",
      min: first,
      max: last,
      step: 1,
      value: frame,
      testid: "frame-number",
      "aria-label": "Frame number",
      onchange: (ev) => {
        const n = Math.min(last, Math.max(first, Math.round(Number(ev.target.value)) || 0));
        ev.target.value = n;
        select(n);
      },
    });
    const note = h("span", { class: "frame-note", testid: "frame-preview-note" });
    bar.hidden = false;
    bar.replaceChildren(h("label", {}, "Frame ", slider), number, h("span", {}, ` of ${first}–${last}`), note);

    const classes = r.classes || [];
    box.replaceChildren(
      h("h3", {}, "Frames"),
      h(
        "p",
        { class: "small muted" },
        `${f.results.length} frames segmented; the image behind the overlay follows the frame shown.`,
      ),
      h(
        "div",
        { class: "table-scroll", style: { maxHeight: "14rem", overflow: "auto" } },
        h(
          "table",
          { class: "stats", testid: "frame-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Frame"),
              classes.map((c) =>
                h(
                  "th",
                  { scope: "col" },
                  h("span", { class: "swatch", style: { background: colourOf(ws, c) } }),
                  c.name,
                ),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            f.results.map((x) =>
              h(
                "tr",
                {
                  testid: "frame-row",
                  "data-frame": x.frame || 0,
                  style: { cursor: "pointer" },
                  title: `Show frame ${x.frame || 0}`,
                  onclick: () => select(x.frame || 0),
                },
                h("td", {}, String(x.frame || 0)),
                classes.map((_c, i) => h("td", {}, fmtPct((x.fractions || [])[i] || 0))),
              ),
            ),
          ),
        ),
      ),
    );
    f.ui = {
      job: r.job,
      count: f.results.length,
      slider,
      number,
      note,
      rows: [...box.querySelectorAll("tr[data-frame]")],
    };
    update(frame);
  }

  function update(frame) {
    const { slider, number, note, rows } = f.ui;
    if (Number(slider.value) !== frame) slider.value = frame;
    if (document.activeElement !== number) number.value = frame;
    note.textContent =
      background(frame) === frame
        ? `Overlay and background: frame ${frame}.`
        : `Overlay: frame ${frame} · background: frame 0 (previews exist for the first ${image.preview_frames} frames).`;
    for (const tr of rows) {
      const on = Number(tr.dataset.frame) === frame;
      if (on) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
      tr.style.fontWeight = on ? "600" : "";
    }
  }

  return { bar, box, load, render, background, resultOf };
}
