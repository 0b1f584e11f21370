// The chips drawn on the image: mine in their class's colour, other annotators' votes (the
// crowd, on request) as corner marks, and the suggestions.
import * as api from "../../api.js";
import { state } from "../../state.js";
import { h, showError, toast } from "../../ui.js";
import { chipOf } from "./store.js";

export function createImageChips({ ws, grid, store, suggest }) {
  const { viewer } = ws;
  const othersToggle = h("input", {
    type: "checkbox",
    id: "show-others",
    testid: "show-others",
    onchange: () => {
      store.showOthers = othersToggle.checked;
      loadOthers();
    },
  });

  function paint() {
    const chips = [];
    if (store.showOthers) {
      for (const o of store.others) {
        const best = Object.entries(o.counts || {}).sort((a, b) => b[1] - a[1])[0];
        const cls = best && ws.classById(best[0]);
        if (cls) chips.push({ row: o.row, col: o.col, color: cls.colour, kind: "other" });
      }
    }
    for (const [key, cid] of store.mine) {
      const cls = ws.classById(cid);
      if (cls) chips.push({ ...chipOf(key), color: cls.colour, kind: "mine" });
    }
    chips.push(...suggest.chips());
    viewer.setChips(chips);
  }

  /** Everyone else's votes on this grid, by chip: {row, col, counts: {class: n}}. */
  async function othersVotes() {
    const s = await api.labeling.votes(grid.id, ws.schema.id, "all");
    const me = state.user?.id;
    return (s.chips || [])
      .map((c) => {
        const counts = {};
        for (const u of c.users || []) if (u.user !== me && u.class) counts[u.class] = (counts[u.class] || 0) + 1;
        return { row: c.row, col: c.col, counts };
      })
      .filter((c) => Object.keys(c.counts).length);
  }

  async function loadOthers() {
    if (!store.showOthers || !ws.schema) {
      paint();
      return;
    }
    try {
      store.others = await othersVotes();
      paint();
      const n = store.others.length;
      toast(`${n} chip${n === 1 ? "" : "s"} labelled by others.`, "info");
    } catch (e) {
      showError(e, "Loading others' votes");
    }
  }

  return { othersToggle, paint };
}
