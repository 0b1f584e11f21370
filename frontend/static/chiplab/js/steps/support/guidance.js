// What the support set still needs: counted here for every class of this image, plus the
// server's other warnings (asked again, debounced, after each change).
import * as api from "../../api.js";
import { h, debounce } from "../../ui.js";
import { MAX_PER_CLASS, MIN_PER_CLASS, SUGGESTED_PER_CLASS, applies, countOf } from "./store.js";

/** `loadImageClasses()` reloads which classes this image shows (they change with my chips). */
export function createGuidance({ ws, grid, store, canVote, canManage, loadImageClasses }) {
  const box = h("div", { class: "guidance", testid: "guidance", "aria-live": "polite" });

  function countingAdvice() {
    const lines = [];
    if (ws.classes.length < 2)
      lines.push(
        canManage
          ? "Add at least two classes."
          : "The dataset needs at least two classes; the lab's curators add them.",
      );
    for (const cls of ws.classes.filter((c) => applies(store, c))) {
      const n = countOf(store, cls.id);
      if (n < MIN_PER_CLASS)
        lines.push(`${cls.name}: add ${MIN_PER_CLASS - n} more chip${MIN_PER_CLASS - n === 1 ? "" : "s"}.`);
      else if (n > MAX_PER_CLASS)
        lines.push(`${cls.name}: ${n} chips — more than ${MAX_PER_CLASS} rarely helps; keep the clearest.`);
    }
    return lines;
  }

  /** Classes with fewer examples than suggested, once the support set is ready (so each has
   * at least MIN_PER_CLASS): a hint, not a blocker. */
  function moreExamplesHint() {
    const few = ws.classes
      .filter((c) => applies(store, c) && countOf(store, c.id) < SUGGESTED_PER_CLASS)
      .map((c) => c.name);
    if (!few.length) return [];
    return [
      h(
        "p",
        { class: "muted small", testid: "more-examples-hint" },
        `${few.join(", ")}: fewer than ${SUGGESTED_PER_CLASS} examples. On our held-out test images ${SUGGESTED_PER_CLASS} per class `,
        "instead of 3 mapped particles and textures clearly better (chip mIoU +0.05 on each). ",
        "Add examples that differ: a particle's rim and centre, a bright and a dim grain.",
      ),
    ];
  }

  function render() {
    if (!canVote) {
      box.replaceChildren();
      box.hidden = true;
      return;
    }
    const lines = countingAdvice();
    const elsewhere = ws.classes.filter((c) => !applies(store, c)).map((c) => c.name);
    const ready = !lines.length;
    box.replaceChildren(
      h("strong", {}, ready ? "Ready to segment." : "Guidance"),
      h(
        "ul",
        { class: "small" },
        [...lines, ...store.serverWarnings].map((t) => h("li", {}, t)),
      ),
      ...(ready ? moreExamplesHint() : []),
      ...(elsewhere.length
        ? [
            h(
              "p",
              { class: "muted small", testid: "not-here-note" },
              `Not on this image (no guidance, no crowd tasks): ${elsewhere.join(", ")}. Tick “on this image” to include one.`,
            ),
          ]
        : []),
    );
    box.dataset.ready = ready;
  }

  const refreshServer = debounce(async () => {
    if (store.disposed || !ws.schema || !canVote) return;
    try {
      const [s] = await Promise.all([api.labeling.support(grid.id, ws.schema.id), loadImageClasses()]);
      // Counting advice is already given locally; keep the server's other warnings.
      store.serverWarnings = (s.warnings || []).filter(
        (w) => !/more chips?|at least|no chips|fewer than|more than/i.test(w),
      );
      render();
    } catch (e) {
      if (!api.isMissing(e)) console.warn("support guidance", e);
    }
  }, 400);

  return { box, render, refreshServer };
}
