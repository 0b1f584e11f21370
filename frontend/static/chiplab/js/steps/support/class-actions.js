// What curators do to the dataset's classes from the board: add, rename or recolour, remove
// (with Undo). Classes belong to the dataset, so each change shows on every image.
import * as api from "../../api.js";
import { h, showError, toast, whileBusy } from "../../ui.js";
import { countOf } from "./store.js";

/**
 * `refresh()` redraws the board, `loadMine()` reloads my labels, `tickIfChosen(cls)` makes a
 * class added here one of the image's classes.
 */
export function createClassActions({ ws, store, refresh, loadMine, tickIfChosen }) {
  const newName = h("input", {
    type: "text",
    id: "new-class",
    placeholder: "New class, e.g. Ge",
    maxlength: 100,
    testid: "new-class-name",
    "aria-label": "New class name",
  });
  const addBtn = h("button", { type: "submit", class: "btn", testid: "add-class", disabled: true }, "Add class");
  const addForm = h(
    "form",
    {
      class: "add-class",
      onsubmit: (ev) => {
        ev.preventDefault();
        add();
      },
    },
    newName,
    addBtn,
  );

  function add() {
    const name = newName.value.trim();
    if (!name) {
      newName.focus();
      return;
    }
    if (!ws.schema) {
      toast("The label schema could not be loaded; reload the page.", "error");
      return;
    }
    whileBusy(addBtn, async () => {
      newName.value = ""; // typing the next name may start while this one is saved
      try {
        // the server picks a colour far from the classes' colours (colour-blind-safe palette)
        const cls = await api.labeling.addClass(ws.schema.id, { name });
        ws.classes.push(cls);
        await tickIfChosen(cls); // added while on this image
        ws.activeClassId = cls.id;
        refresh();
        // Back to the image, where chips are clicked and 1–9 switch class (in the name box
        // they typed digits) — unless the next name is already being typed.
        if (!(document.activeElement === newName && newName.value)) ws.viewer.canvas.focus({ preventScroll: true });
      } catch (e) {
        if (!newName.value) newName.value = name;
        showError(e, "Adding a class");
      }
    });
  }

  async function update(cls, body) {
    try {
      Object.assign(cls, await ws.write(api.labeling.updateClass(cls.id, body)));
    } catch (e) {
      showError(e, `Updating ${cls.name}`);
    }
    refresh();
  }

  /** Classes belong to the dataset (one label schema), not to this image: the question says so. */
  function confirmRemoval(cls) {
    const n = countOf(store, cls.id);
    const here = n ? ` (${n} of them yours on this image)` : "";
    return confirm(
      `Remove class “${cls.name}” from the dataset “${ws.dataset.title}”?\n\n` +
        "Classes are shared by all images of this dataset: it is removed from every image, " +
        `and everyone's chips of this class stop counting in support sets${here}. ` +
        "Frozen support sets and earlier results keep it.\n\nThe message that follows offers Undo.",
    );
  }

  /** The API keeps removed classes with their votes, and the toast's Undo restores one. */
  async function remove(cls) {
    if (!confirmRemoval(cls)) return;
    try {
      await api.labeling.removeClass(cls.id);
      ws.classes = ws.classes.filter((c) => c.id !== cls.id);
      for (const [k, v] of [...store.mine]) if (v === cls.id) store.mine.delete(k);
      if (ws.activeClassId === cls.id) ws.activeClassId = ws.classes[0]?.id || null;
      refresh();
      toast(`Class “${cls.name}” removed from every image of “${ws.dataset.title}”.`, "ok", {
        timeout: 15000,
        action: { label: "Undo", testid: "undo-remove-class", onClick: () => restore(cls) },
      });
    } catch (e) {
      showError(e, `Removing ${cls.name}`);
    }
  }

  /** Undo a removal: the class comes back with everyone's votes (409 while its name is taken). */
  async function restore(cls) {
    try {
      await api.labeling.updateClass(cls.id, { active: true });
    } catch (e) {
      showError(e, `Restoring ${cls.name}`);
      return;
    }
    toast(`Class “${cls.name}” restored with its chips.`, "ok");
    if (store.disposed) return; // another step or page: it loads the classes afresh
    try {
      await ws.refreshSchema(); // emits "classes", which re-renders the board
      await loadMine();
      if (!store.disposed) refresh();
    } catch (e) {
      showError(e, "Reloading the classes");
    }
  }

  return { addForm, addBtn, update, remove };
}
