// The next job's options a user chooses: one kind per particle, offered when two or more
// classes are counted as objects (job param object_kinds, off by default).
import { h } from "../../ui.js";

const KINDS_HELP =
  "Each particle takes one kind from its shape and brightness profile, matched to the particles under your examples, " +
  "instead of chip by chip (where a particle can come out part one kind, part the other). " +
  "Helps where kinds differ in shape over the whole particle (round vs rod); on our held-out test images " +
  "it about halved the wrongly counted pieces but did not raise the map's accuracy overall, so it is off by default.";

export function createJobOptions({ ws }) {
  const kinds = h("input", { type: "checkbox", id: "object-kinds", testid: "object-kinds" });
  const box = h(
    "div",
    { class: "small", testid: "job-options", hidden: true, style: { margin: ".25rem 0 .5rem" } },
    h("label", { for: "object-kinds", title: KINDS_HELP }, kinds, " One kind per particle"),
  );

  /** Offer the option only where it acts: two or more classes counted as objects. */
  function refresh() {
    box.hidden = ws.classes.filter((c) => c.kind === "objects").length < 2;
  }

  /** The job request's params for the chosen options (none while the option is not offered). */
  const chosen = () => (!box.hidden && kinds.checked ? { params: { object_kinds: true } } : {});

  return { box, refresh, chosen };
}
