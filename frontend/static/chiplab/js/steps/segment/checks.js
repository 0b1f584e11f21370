// The checks of a result a microscopist reads before trusting it: support examples the model
// would label as another class, and how much the fractions move with the chip size.
import * as api from "../../api.js";
import { h, fmtPct } from "../../ui.js";
import { poll } from "../../poll.js";

/** Examples the model would label as another class when each is held out: listed, and
 * outlined on the map through `view.flags` (never shown silently in the other class's
 * colour; the caller repaints the map). */
export function supportCheck(r, image, view) {
  const check = r.support_check;
  const flagged = check ? check.disagree.filter((d) => d.image === image.id) : [];
  view.flags = flagged.map((d) => ({ row: d.row, col: d.col, kind: "flag" }));
  if (!check) return "";
  const byIndex = Object.fromEntries(r.classes.map((c) => [c.index, c]));
  const name = (i) => (byIndex[i] ? byIndex[i].name : `class ${i}`);
  if (!check.disagree.length) {
    // with one example per class there is nothing to hold an example out against
    const text = check.n_checked
      ? `All ${check.n_checked} examples agree with the model when each is held out.`
      : "Your examples could not be checked: with one example per class none can be held out. " +
        "Add a second example of a class to have them checked.";
    return h("p", { class: "small muted", testid: "support-check" }, text);
  }
  const n = check.disagree.length;
  return h(
    "div",
    { class: "support-check", testid: "support-check", role: "status" },
    h("strong", {}, `${n} of your ${check.n_examples} examples disagree${n === 1 ? "s" : ""}`),
    " with the model (each held out of its own class). Check them: a wrong example pulls its" +
      " class; if one is right, its class varies more than your other examples of it show," +
      " so add a few more like it.",
    h(
      "ul",
      {},
      check.disagree.map((d) =>
        h(
          "li",
          { testid: "support-disagreement" },
          `chip (${d.row}, ${d.col}) was clicked as ${name(d.class_index)}, looks like `,
          h("strong", {}, name(d.predicted_index)),
          ` (${fmtPct(d.probability)})`,
          d.image !== image.id ? " · on another image" : "",
        ),
      ),
    ),
    // measured on the report set (bench.uncertainty --set unseen, k = 3 / 5: 6 % / 4 %)
    h(
      "p",
      { class: "small muted", testid: "support-check-rate" },
      "The percentage is how sure the model is without that example, not the chance that it was" +
        " mis-clicked: on test images it was never tuned on, the check also lists 4–6 % of correct" +
        " examples (most often one across a boundary, or one unlike its class's others).",
    ),
  );
}

/** How much the fractions of `rows` move at half and double the chip size: computed by the
 * job right after the result, so it may arrive a moment later (waited for until `gone()`).
 * A result shown while its job still runs has no check yet: `showSensitivity(box, r, ...)`
 * again with the finished job's result waits for it. */
export function sensitivityBox(r, rows, gone) {
  const box = h("p", { class: "small", testid: "chip-size-sensitivity" });
  showSensitivity(box, r, rows, gone);
  return box;
}

export async function showSensitivity(box, r, rows, gone) {
  if (box.dataset.waiting) return; // already waiting for this result's check
  let sens = r.stats?.chip_size_sensitivity;
  if (!sens && r.job_status === "succeeded" && (r.frame || 0) === 0) {
    box.dataset.waiting = "1";
    box.textContent = "Checking the fractions at half and double the chip size…";
    await poll(
      async () => {
        if (gone()) return true;
        sens = (await api.analysis.result(r.id)).stats?.chip_size_sensitivity;
        return Boolean(sens);
      },
      { every: 1000, tries: 120 },
    ).done;
    delete box.dataset.waiting;
    if (gone()) return;
  }
  if (!sens) {
    box.textContent = "";
    return;
  }
  if (sens.error) {
    box.textContent = `The chip-size check failed: ${sens.error}`;
    return;
  }
  if (sens.skipped) {
    box.textContent = `Chip-size check ${sens.skipped}.`;
    return;
  }
  if (!sens.compared.length) {
    box.textContent =
      "No neighbouring chip size could be checked (too small, too large for the image, or an example class would be lost).";
    return;
  }
  const sizes = sens.compared.map((x) => `${x} px`).join(" and ");
  const worst = sens.max_shift
    .map((m, i) => [m, i])
    .filter(([, i]) => rows[i])
    .sort((a, b) => b[0] - a[0])[0];
  const over = sens.exceeds.map((e, i) => (e && rows[i] ? rows[i].name : null)).filter(Boolean);
  box.classList.toggle("support-check", over.length > 0);
  box.replaceChildren(
    over.length
      ? h(
          "span",
          {},
          h("strong", {}, `Chip size matters here: `),
          `at ${sizes} chips ${over.join(", ")} move${over.length === 1 ? "s" : ""} by more than the interval ` +
            `(up to ${(worst[0] * 100).toFixed(1)} points). Report the chip size with these fractions, or compare sizes.`,
        )
      : `At ${sizes} chips the fractions move by at most ${(worst[0] * 100).toFixed(1)} points, within the intervals.`,
  );
}
