// The next job's options a user chooses: one kind per particle, offered when two or more
// classes are counted as objects (job param object_kinds, off by default); where no class is,
// a tip that particles should be (it changes how the map is made, not only what is counted).
import { h } from "../../ui.js";

const KINDS_HELP =
  "Each particle takes one kind from its shape and brightness profile, matched to the particles under your examples, " +
  "instead of chip by chip (where a particle can come out part one kind, part the other). " +
  "Helps where kinds differ in shape over the whole particle (round vs rod); on our held-out test images " +
  "it about halved the wrongly counted pieces but did not raise the map's accuracy overall, so it is off by default.";

// where no class is an object the segmentation adds brightness-free texture features (the
// texture view: right for grains, phases and textures, worse for particles told apart by material)
const OBJECTS_TIP =
  "Particles, precipitates or voids on a support? Tick “objects” on their classes (step 2): the map then tells " +
  "them apart by their brightness, as a material differs, rather than also by texture, and the result counts and sizes them.";

export function createJobOptions({ ws }) {
  const kinds = h("input", { type: "checkbox", id: "object-kinds", testid: "object-kinds" });
  const kindsLabel = h("label", { for: "object-kinds", title: KINDS_HELP }, kinds, " One kind per particle");
  const tip = h("p", { class: "muted small", testid: "objects-tip", style: { margin: 0 } }, OBJECTS_TIP);
  const box = h("div", { class: "small", testid: "job-options", style: { margin: ".25rem 0 .5rem" } }, kindsLabel, tip);

  /** The kinds option only where it acts (two or more classes counted as objects); the tip
   * only where no class is. */
  function refresh() {
    const objects = ws.classes.filter((c) => c.kind === "objects").length;
    kindsLabel.hidden = objects < 2;
    tip.hidden = objects > 0;
    box.hidden = kindsLabel.hidden && tip.hidden;
  }

  /** The job request's params for the chosen options (none while the option is not offered). */
  const chosen = () => (!kindsLabel.hidden && kinds.checked ? { params: { object_kinds: true } } : {});

  return { box, refresh, chosen };
}
