// The Support step's state, in one place: every part of the board reads and writes it here,
// with the counting rules that read it.

export const MIN_PER_CLASS = 2;
export const MAX_PER_CLASS = 10;
// examples per class from which the map is markedly better (docs/benchmarks.md, "Where the
// remaining error lies": 3 -> 5 per class, seen chip mIoU particles 0.743 -> 0.782, textures
// 0.794 -> 0.811, lattices 0.952 -> 0.953; the lead on unseen data grows with k likewise)
export const SUGGESTED_PER_CLASS = 5;

/** A fresh store for one mounted board (one grid). */
export function createStore() {
  return {
    disposed: false, // the board was left: late answers are dropped
    mine: new Map(), // "r,c" -> class id (my current labels)
    others: [], // [{row, col, counts: {class: n}}] from everyone else
    showOthers: false,
    serverWarnings: [], // the server's guidance beyond counting
    // The classes of the dataset that apply to this image (several materials in one dataset):
    // guidance, crowd tasks and suggestions only ask about these. null until loaded.
    onImage: null, // Set of class ids
    classMode: null, // "chosen" (ticked here), "labels" (those labelled here) or "all"
  };
}

/** How many of my chips have this class. */
export function countOf(store, classId) {
  let n = 0;
  for (const v of store.mine.values()) if (v === classId) n++;
  return n;
}

/** Whether a class is one of this image's (my examples of it make it one). */
export function applies(store, cls) {
  const { onImage, classMode } = store;
  return !onImage || classMode === "all" || onImage.has(cls.id) || countOf(store, cls.id) > 0;
}

/** The chip of a "r,c" key. */
export function chipOf(key) {
  const [row, col] = key.split(",").map(Number);
  return { row, col };
}
