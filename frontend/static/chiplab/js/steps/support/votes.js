// My labels on this grid: loaded once (and again after a class is restored), and a click on a
// chip votes it into the active class, or retracts the vote (class null) when it has it.
import * as api from "../../api.js";
import { showError, toast } from "../../ui.js";

/**
 * `refresh()` redraws the board, `dropSuggestion(row, col)` takes a chip just labelled off the
 * suggestions, `tickIfChosen(cls)` makes a class one of the image's when an example says so.
 */
export function createVotes({ ws, grid, store, canVote, refresh, dropSuggestion, tickIfChosen }) {
  const { mine } = store;

  /** My current labels on this grid (again after a class is restored: its votes come back). */
  async function loadMine() {
    if (!ws.schema || !canVote) return;
    const current = await api.labeling.votes(grid.id, ws.schema.id, "me");
    mine.clear();
    for (const c of current.chips || []) if (c.class) mine.set(`${c.row},${c.col}`, c.class);
  }

  async function toggle(row, col) {
    if (!ws.schema) return;
    const key = `${row},${col}`;
    const before = mine.get(key) || null;
    if (!ws.activeClassId && !before) {
      toast("Add a class first, then click chips.", "error");
      return;
    }
    const next = before && (before === ws.activeClassId || !ws.activeClassId) ? null : ws.activeClassId;
    if (next) mine.set(key, next);
    else mine.delete(key);
    if (next) dropSuggestion(row, col);
    refresh();
    try {
      await ws.write(api.labeling.vote(grid.id, { schema: ws.schema.id, row, col, class: next }));
      const cls = next && ws.classById(next);
      if (cls) await tickIfChosen(cls);
    } catch (e) {
      if (before) mine.set(key, before);
      else mine.delete(key);
      refresh();
      showError(e, `Chip (${row}, ${col})`);
    }
  }

  /** Whether chip (row, col) has the active class already. */
  const labelled = (row, col) => mine.get(`${row},${col}`) === ws.activeClassId;

  return { loadMine, toggle, labelled };
}
