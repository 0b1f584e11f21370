// Shared state of one image workspace: the active grid, the label schema and its classes.
import * as api from "./api.js";
import { hasRole, labById } from "./state.js";
import { showError } from "./ui.js";

export function createWorkspace({ image, dataset, viewer }) {
  const handlers = {};
  viewer.setDisplayKey(image.id); // brightness, contrast, gamma, invert and grid lines, per image
  const ws = {
    image,
    dataset,
    viewer,
    // The user's role where the image lives (none for another lab's public data): what the
    // API will allow. Viewers read; annotators also label and segment; curators manage classes.
    lab: labById(dataset.lab),
    can(role) {
      return hasRole(ws.lab, role);
    },
    grids: [],
    grid: null,
    schema: null,
    classes: [],
    activeClassId: null,
    missing: new Set(), // API areas that are not deployed on this server yet
    carried: null, // the last carry of example clicks onto a new grid (shown by the Support step)
    writes: new Set(), // label writes still in flight: a freeze waits for them

    /** Run a label write so that `settled()` waits for it. */
    write(promise) {
      ws.writes.add(promise);
      const done = () => ws.writes.delete(promise);
      promise.then(done, done);
      return promise;
    },
    /** Every label write made so far has been answered (failed ones included). */
    async settled() {
      await Promise.allSettled([...ws.writes]);
    },
    on(evt, fn) {
      handlers[evt] ||= new Set();
      handlers[evt].add(fn);
      return () => handlers[evt].delete(fn);
    },
    emit(evt, data) {
      for (const fn of handlers[evt] || []) fn(data);
    },

    async load() {
      try {
        ws.grids = await api.labeling.grids(image.id);
      } catch (e) {
        if (!api.isMissing(e)) throw e;
        ws.missing.add("labeling");
        ws.grids = [];
      }
      const remembered = localStorage.getItem(`chiplab.grid.${image.id}`);
      const grid = ws.grids.find((g) => g.id === remembered) || ws.grids[ws.grids.length - 1] || null;
      if (grid) ws.setGrid(grid);
    },

    setGrid(grid) {
      ws.grid = grid;
      if (grid) {
        localStorage.setItem(`chiplab.grid.${image.id}`, grid.id);
        if (!ws.grids.some((g) => g.id === grid.id)) ws.grids.push(grid);
      }
      viewer.setGrid(grid ? geometry(grid) : null);
      ws.emit("grid", grid);
    },

    /** The dataset's default label schema (created on first use) with its classes; null for
     * a reader of a dataset nobody has labelled yet (creating it needs the annotator role). */
    async ensureSchema() {
      if (ws.schema) return ws.schema;
      const schemas = await api.labeling.schemas(dataset.id);
      const schema =
        schemas.find((s) => s.is_default) ||
        (ws.can("annotator") ? await api.labeling.defaultSchema(dataset.id) : null);
      if (schema) ws.setSchema(schema);
      return ws.schema;
    },

    setSchema(schema) {
      ws.schema = schema;
      ws.classes = (schema.classes || []).filter((c) => c.active !== false && !c.removed_at);
      if (!ws.classes.some((c) => c.id === ws.activeClassId)) ws.activeClassId = ws.classes[0]?.id || null;
      ws.emit("classes", ws.classes);
    },

    async refreshSchema() {
      ws.setSchema(await api.labeling.schema(ws.schema.id));
    },

    /** Carry my example clicks of grid `from` onto `to` (another chip size or offset of this
     * image); the server stores them as my votes there unless I labelled `to` already. */
    async carryExamples(from, to) {
      ws.carried = null;
      if (!from || !to || from.id === to.id || !ws.can("annotator")) return null;
      try {
        if (!(await ws.ensureSchema())) return null;
        const answer = await ws.write(api.post(`grids/${to.id}/carry`, { from_grid: from.id, schema: ws.schema.id }));
        ws.carried = { ...answer, grid: to.id, from };
      } catch (e) {
        if (!api.isMissing(e)) showError(e, "Carrying your examples to the new grid");
      }
      return ws.carried;
    },

    classById(id) {
      return ws.classes.find((c) => c.id === id) || null;
    },

    destroy() {
      for (const k of Object.keys(handlers)) delete handlers[k];
    },
  };
  return ws;
}

/** A grid row from the API as the viewer's geometry. */
export function geometry(grid) {
  return { chip: grid.chip_size, ox: grid.offset_x || 0, oy: grid.offset_y || 0, rows: grid.rows, cols: grid.cols };
}

/** rows, cols and margins of a grid, computed exactly like workers.fewshot.chipping.ChipGrid. */
export function gridShape(width, height, chip, ox = 0, oy = 0) {
  const rows = Math.max(0, Math.floor((height - oy) / chip));
  const cols = Math.max(0, Math.floor((width - ox) / chip));
  return {
    rows,
    cols,
    margins: { top: oy, left: ox, bottom: height - oy - rows * chip, right: width - ox - cols * chip },
  };
}
