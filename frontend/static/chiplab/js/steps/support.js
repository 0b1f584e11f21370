// Step 2: the support-set board. Click chips to vote them into the active class; click again
// to retract (a vote with class null). Number keys switch class.
//
// The board is put together here from its parts (steps/support/): the state they share
// (store.js), the class list and the curators' class actions, my votes, the chips drawn on the
// image, the guidance, the suggestions and the keys.
import { h, append, errorBox, showError } from "../ui.js";
import { carriedNotice } from "./support/carried.js";
import { createClassActions } from "./support/class-actions.js";
import { createClassList } from "./support/class-list.js";
import { createGuidance } from "./support/guidance.js";
import { createImageChips } from "./support/image-chips.js";
import { createImageClasses } from "./support/image-classes.js";
import { boardKeys } from "./support/keys.js";
import { MAX_PER_CLASS, MIN_PER_CLASS, createStore } from "./support/store.js";
import { createSuggestions } from "./support/suggestions.js";
import { createVotes } from "./support/votes.js";

/** The board of the current grid; rebuilt when the grid changes under it (e.g. "Back to 64
 * px" after examples were carried to a new chip size). */
export async function mount(ws, panel) {
  let gridId = ws.grid?.id;
  let unmount = (await mountBoard(ws, panel)) || (() => {});
  const offGrid = ws.on("grid", async (g) => {
    if (!g || g.id === gridId || !unmount) return;
    gridId = g.id;
    const previous = unmount;
    unmount = null;
    previous();
    panel.replaceChildren();
    unmount = (await mountBoard(ws, panel)) || (() => {});
  });
  return () => {
    offGrid();
    if (unmount) unmount();
    unmount = null;
  };
}

async function mountBoard(ws, panel) {
  const { viewer } = ws;
  // What the API allows here: curators manage the dataset's classes, annotators label chips,
  // viewers look.
  const can = { canManage: ws.can("curator"), canVote: ws.can("annotator") };
  const store = createStore();
  const board = createBoard(ws, ws.grid, store, can);
  const errors = h("div");
  append(panel, layout(ws, board, errors, can));

  // Chip clicks are taken from the start: those made while my labels load wait for them
  // (a click toggles the chip's current label, so it needs them) and are then applied in
  // order. A click is never dropped.
  const waiting = [];
  let clicksLive = false;
  const onChip = (row, col) => {
    if (store.disposed) return;
    if (clicksLive) board.votes.toggle(row, col);
    else waiting.push([row, col]);
  };
  viewer.onChipClick = can.canVote ? onChip : null;

  try {
    await ws.ensureSchema();
    await Promise.all([board.votes.loadMine(), board.imageClasses.load()]);
  } catch (e) {
    errors.replaceChildren(errorBox(e));
    showError(e, "Loading the support set");
  }
  if (store.disposed) return;
  board.actions.addBtn.disabled = !ws.schema;
  await viewer.ready.catch(() => {});

  const onKey = boardKeys({ ws, canVote: can.canVote, suggest: board.suggest, select: board.classList.select });
  document.addEventListener("keydown", onKey);
  const offClasses = ws.on("classes", board.refresh);
  board.refresh();
  clicksLive = true;
  for (const [row, col] of waiting.splice(0)) board.votes.toggle(row, col);

  return () => {
    store.disposed = true;
    document.removeEventListener("keydown", onKey);
    if (viewer.onChipClick === onChip) viewer.onChipClick = null; // not another step's
    offClasses();
  };
}

/** The board's parts, wired to each other; `refresh()` redraws the whole board. */
function createBoard(ws, grid, store, { canManage, canVote }) {
  const renderClasses = () => {
    classList.render();
    guidance.render();
  };
  const refresh = () => {
    renderClasses();
    chips.paint();
    guidance.refreshServer();
  };
  const suggest = createSuggestions({
    ws,
    grid,
    label: (row, col) => votes.toggle(row, col),
    labelled: (row, col) => votes.labelled(row, col),
    onChange: () => chips.paint(),
    disposed: () => store.disposed,
  });
  const imageClasses = createImageClasses({ ws, store, render: renderClasses, refresh });
  const { tickIfChosen } = imageClasses;
  const guidance = createGuidance({ ws, grid, store, canVote, canManage, loadImageClasses: imageClasses.load });
  const chips = createImageChips({ ws, grid, store, suggest });
  const votes = createVotes({ ws, grid, store, canVote, refresh, dropSuggestion: suggest.drop, tickIfChosen });
  const actions = createClassActions({ ws, store, refresh, loadMine: votes.loadMine, tickIfChosen });
  const classList = createClassList({
    ws,
    grid,
    store,
    canManage,
    canVote,
    on: { toggle: votes.toggle, update: actions.update, remove: actions.remove, setApplies: imageClasses.setApplies },
  });
  return { refresh, suggest, imageClasses, guidance, chips, votes, actions, classList };
}

function layout(ws, board, errors, { canManage, canVote }) {
  return [
    h("h2", {}, "Support set"),
    canVote
      ? h(
          "p",
          { class: "muted small" },
          "Choose a class, then click example chips on the image. Click a chip again to remove it. ",
          `Give each class ${MIN_PER_CLASS}–${MAX_PER_CLASS} clear examples. Keys `,
          h("span", { class: "kbd" }, "1"),
          "–",
          h("span", { class: "kbd" }, "9"),
          " switch class.",
        )
      : h(
          "p",
          { class: "muted small", testid: "read-only-note" },
          "You are a viewer in this lab: you can look at the classes and chips; labelling needs the annotator role.",
        ),
    carriedNotice(ws, ws.grid),
    board.classList.box,
    canManage ? board.actions.addForm : null,
    errors,
    board.guidance.box,
    canVote ? h("div", { class: "next-chips" }, board.suggest.button, board.suggest.box) : null,
    h(
      "label",
      { class: "toggle", for: "show-others" },
      board.chips.othersToggle,
      "Show other annotators' votes (crowd)",
    ),
    h(
      "p",
      { class: "muted small" },
      "Others' votes appear as a small corner triangle in the colour of their most-voted class.",
    ),
    h(
      "div",
      { class: "form-actions" },
      h(
        "button",
        { type: "button", class: "btn btn-primary", testid: "to-segment", onclick: () => ws.goStep("segment") },
        "Next: segment →",
      ),
    ),
  ];
}
