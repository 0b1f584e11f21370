// Which of the dataset's classes this image shows: loaded from the server, ticked here.
import * as api from "../../api.js";
import { showError, toast } from "../../ui.js";
import { applies } from "./store.js";

/**
 * `render()` redraws the class list (a refused tick is put back), `refresh()` the whole board
 * (after a tick was saved).
 */
export function createImageClasses({ ws, store, render, refresh }) {
  const keep = (body) => {
    store.onImage = new Set(body.classes);
    store.classMode = body.mode;
  };

  async function load() {
    if (!ws.schema) return;
    try {
      keep(await api.labeling.imageClasses(ws.image.id, ws.schema.id));
    } catch (e) {
      if (!api.isMissing(e)) throw e;
    } // an older server: every class applies
  }

  /** Tick a class on or off for this image (annotators and up). */
  async function setApplies(cls, on) {
    const wanted = ws.classes.filter((c) => (c.id === cls.id ? on : applies(store, c))).map((c) => c.id);
    if (!wanted.length) {
      toast("An image needs at least one class.", "error");
      render();
      return;
    }
    try {
      keep(await ws.write(api.labeling.setImageClasses(ws.image.id, ws.schema.id, wanted)));
    } catch (e) {
      showError(e, `Ticking ${cls.name} for this image`);
    }
    refresh();
  }

  /** An example of a class not ticked for this image makes it one of the image's classes. */
  async function tickIfChosen(cls) {
    if (store.classMode === "chosen" && !store.onImage.has(cls.id)) await setApplies(cls, true);
  }

  return { load, setApplies, tickIfChosen };
}
