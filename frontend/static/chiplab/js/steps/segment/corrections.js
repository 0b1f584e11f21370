// Correct a result and re-run from it: in "Correct" mode a click on a chip of the map gives it
// the active class, as an example in my working set (the same vote the Support step casts);
// "Re-run" (or R) freezes the set again and segments, and the new map replaces this one.
import * as api from "../../api.js";
import { h, showError, toast } from "../../ui.js";

/**
 * `rerun()` runs a segmentation with the current working set and resolves when its result is
 * shown (the job runner's `run`); `onExamples()` is called when my examples changed;
 * `canRun`: the user may vote and segment.
 */
export function createCorrections({ ws, store, canRun, rerun, onExamples }) {
  const { viewer } = ws;
  const v = store.view;
  const c = store.correct;
  const shown = () => store.shown.result;
  let box = null;
  let busy = false;

  /** The chips drawn over the map: examples the model disagrees with, and in Correct mode
   * my examples on this grid (corrections among them). */
  function paint() {
    const chips = [...(v.flags || [])];
    if (c.on) {
      for (const [key, cid] of c.mine) {
        const cls = ws.classById(cid);
        if (!cls) continue;
        const [row, col] = key.split(",").map(Number);
        chips.push({ row, col, color: cls.colour, kind: "mine" });
      }
    }
    viewer.setChips(chips);
  }

  async function loadMine(gridId) {
    const current = await api.labeling.votes(gridId, ws.schema.id, "me");
    c.mine.clear();
    for (const x of current.chips || []) if (x.class) c.mine.set(`${x.row},${x.col}`, x.class);
    c.gridId = gridId;
  }

  async function setOn(on) {
    const r = shown();
    if (on && (!r || !canRun || !ws.schema || (r.frame || 0) !== 0)) return;
    c.on = on;
    viewer.onChipClick = on ? onChip : viewer.onChipClick === onChip ? null : viewer.onChipClick;
    if (on && !ws.activeClassId) ws.activeClassId = ws.classes[0]?.id || null;
    if (on && c.gridId !== r.grid) {
      try {
        await loadMine(r.grid);
      } catch (e) {
        showError(e, "Loading your examples");
      }
    }
    render();
    paint();
  }

  /** A click on the map: the chip becomes an example of the active class (again: removed). */
  async function onChip(row, col) {
    const r = shown();
    if (!c.on || !r || store.disposed) return;
    const cid = ws.activeClassId;
    if (!cid) {
      toast("Choose the right class first (keys 1–9).", "error");
      return;
    }
    c.clickAt = performance.now();
    const key = `${row},${col}`;
    const before = c.mine.get(key) || null;
    const next = before === cid ? null : cid;
    if (next) c.mine.set(key, next);
    else c.mine.delete(key);
    const predicted = r.labels?.[row] ? r.labels[row][col] : null;
    const from = r.classes.find((x) => x.index === predicted);
    c.made = c.made.filter((m) => m.key !== key);
    if (next) c.made.push({ key, row, col, from: from ? from.name : "?", to: next });
    render();
    paint();
    try {
      await ws.write(api.labeling.vote(r.grid, { schema: ws.schema.id, row, col, class: next }));
      if (!store.disposed && onExamples) onExamples();
    } catch (e) {
      if (before) c.mine.set(key, before);
      else c.mine.delete(key);
      c.made = c.made.filter((m) => m.key !== key);
      render();
      paint();
      showError(e, `Chip (${row}, ${col})`);
    }
  }

  async function runAgain() {
    if (busy || store.job.following || !shown()) return;
    busy = true;
    const clickAt = c.clickAt;
    render();
    try {
      performance.clearMarks("chiplab:rerun-click");
      performance.mark("chiplab:rerun-click");
      const t0 = performance.now();
      await rerun();
      if (store.disposed) return;
      const now = performance.now();
      c.took = { rerun: Math.round(now - t0), correct: clickAt !== null ? Math.round(now - clickAt) : null };
    } finally {
      busy = false;
      if (!store.disposed) render();
    }
  }

  function choose(cid) {
    ws.activeClassId = cid;
    render();
  }

  const onKey = (ev) => {
    if (!c.on || store.disposed) return;
    if (ev.target.closest?.("input, textarea, select")) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = parseInt(ev.key, 10);
    if (k >= 1 && k <= 9 && ws.classes[k - 1]) {
      ev.preventDefault();
      choose(ws.classes[k - 1].id);
    } else if (ev.key === "r" || ev.key === "R") {
      ev.preventDefault();
      runAgain();
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      setOn(false);
    }
  };
  const onToggleKey = (ev) => {
    if (store.disposed || c.on || ev.key !== "c" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.closest?.("input, textarea, select")) return;
    ev.preventDefault();
    setOn(true);
  };
  document.addEventListener("keydown", onKey);
  document.addEventListener("keydown", onToggleKey);

  function render() {
    if (!box) return;
    const r = shown();
    if (!r || !canRun) {
      box.replaceChildren();
      return;
    }
    if ((r.frame || 0) !== 0) {
      box.replaceChildren(
        h("p", { class: "small muted" }, "Corrections are made on frame 0 (the frame examples are clicked on)."),
      );
      return;
    }
    const toggle = h(
      "button",
      {
        type: "button",
        class: `btn btn-small${c.on ? " btn-selected" : ""}`,
        testid: "correct-toggle",
        "aria-pressed": String(c.on),
        onclick: () => setOn(!c.on),
      },
      c.on ? "Done correcting" : "Correct chips",
      " ",
      h("span", { class: "kbd" }, c.on ? "Esc" : "C"),
    );
    const nMade = c.made.length;
    const runBtn = h(
      "button",
      {
        type: "button",
        class: "btn btn-primary btn-small",
        testid: "correct-rerun",
        disabled: busy || store.job.following || !nMade,
        title: nMade ? "Freeze your examples, corrections included, and segment again" : "Correct a chip first",
        onclick: runAgain,
      },
      busy ? "Re-running…" : `Re-run with ${nMade} correction${nMade === 1 ? "" : "s"}`,
      " ",
      h("span", { class: "kbd" }, "R"),
    );
    const palette = h(
      "div",
      { class: "correct-classes", role: "radiogroup", "aria-label": "Right class" },
      ws.classes.map((cls, i) =>
        h(
          "button",
          {
            type: "button",
            role: "radio",
            class: `btn btn-small${cls.id === ws.activeClassId ? " btn-selected" : ""}`,
            testid: "correct-class",
            "aria-checked": String(cls.id === ws.activeClassId),
            dataset: { id: cls.id },
            onclick: () => choose(cls.id),
          },
          h("span", { class: "swatch", style: { background: cls.colour } }),
          i < 9 ? `${i + 1} ` : "",
          cls.name,
        ),
      ),
    );
    const name = (id) => (ws.classById(id) || { name: "?" }).name;
    // (replaceChildren would write a null as the text "null")
    box.replaceChildren(
      ...[
        h("div", { class: "correct-bar" }, toggle, c.on ? runBtn : null),
        c.on
          ? h(
              "p",
              { class: "small muted" },
              "Click a chip whose class is wrong: it becomes an example of the chosen class. ",
              "Click it again to take it back. Keys ",
              h("span", { class: "kbd" }, "1"),
              "–",
              h("span", { class: "kbd" }, "9"),
              " choose the class.",
            )
          : null,
        c.on ? palette : null,
        c.on && nMade
          ? h(
              "ul",
              { class: "small correct-list", testid: "corrections" },
              c.made.map((m) =>
                h(
                  "li",
                  { testid: "correction", dataset: { row: m.row, col: m.col } },
                  `chip (${m.row}, ${m.col}): ${m.from} → `,
                  h("strong", {}, name(m.to)),
                ),
              ),
            )
          : null,
        c.on && c.took ? took(c.took) : null,
        c.on && store.support.rule !== "single_owner"
          ? h(
              "p",
              { class: "small muted", testid: "correct-rule-note" },
              "Corrections are your examples: with a lab consensus they count as your votes.",
            )
          : null,
      ].filter(Boolean),
    );
  }

  /** How long the latest re-run took to show its map (also as data-rerun-ms, data-correct-ms). */
  function took({ rerun, correct }) {
    const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
    return h(
      "p",
      {
        class: "small muted",
        testid: "rerun-took",
        dataset: { rerunMs: rerun, ...(correct !== null ? { correctMs: correct } : {}) },
      },
      `New map shown ${secs(rerun)} after Re-run`,
      correct !== null ? `, ${secs(correct)} after your last correction.` : ".",
    );
  }

  return {
    /** The box for a shown result (a new result starts with no corrections listed). */
    box(r) {
      if (c.resultId !== r.id) {
        c.resultId = r.id;
        c.made = [];
        c.clickAt = null;
      }
      box = h("div", { class: "correct-box", testid: "correct-box" });
      render();
      if (c.on && c.gridId !== r.grid) setOn(true);
      return box;
    },
    paint,
    dispose() {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("keydown", onToggleKey);
      if (viewer.onChipClick === onChip) viewer.onChipClick = null;
    },
  };
}
