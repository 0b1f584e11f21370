// "Label these next": the chips the newest result on this grid is least sure about, framed in
// amber on the image; N moves through them, and one key labels the one in focus.
import * as api from "../../api.js";
import { h, showError, whileBusy } from "../../ui.js";
import { zoomToChip } from "./zoom.js";

/**
 * `label(row, col)` gives a chip the active class (the board's vote), `labelled(row, col)` says
 * whether it has it already; `onChange()` repaints the image; `disposed()`: the step was left.
 */
export function createSuggestions({ ws, grid, label, labelled, onChange, disposed }) {
  const { viewer } = ws;
  let list = []; // [{row, col, score, reason}]
  let focused = -1;
  const button = h(
    "button",
    {
      type: "button",
      class: "btn btn-small",
      testid: "suggest-next",
      title: "Chips the last result on this grid is least sure about, and that look least like your examples",
      onclick: () => load(),
    },
    "Label these next",
  );
  const box = h("div", { class: "next-chips", testid: "next-chips", "aria-live": "polite" });

  async function load() {
    if (!ws.schema) return;
    await whileBusy(button, async () => {
      try {
        const answer = await api.get(`grids/${grid.id}/next-chips`, { schema: ws.schema.id, n: 8 });
        if (disposed()) return;
        list = answer.chips || [];
        focused = -1;
        render();
        onChange();
      } catch (e) {
        if (e.code === "no_result") {
          box.replaceChildren(
            h(
              "p",
              { class: "muted small", testid: "next-chips-note" },
              "Segment once on this grid first: suggestions come from its newest result.",
            ),
          );
        } else showError(e, "Suggestions");
      }
    });
  }

  function render() {
    if (!list.length) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(
      h(
        "p",
        { class: "small", testid: "next-chips-note" },
        `${list.length} chip${list.length === 1 ? "" : "s"} to label next, framed in amber on the image. `,
        h("span", { class: "kbd" }, "N"),
        " shows the next one; then one key labels it and moves on: ",
        h("span", { class: "kbd" }, "1"),
        "–",
        h("span", { class: "kbd" }, "9"),
        " as that class, ",
        h("span", { class: "kbd" }, "Enter"),
        " or ",
        h("span", { class: "kbd" }, "A"),
        " as the active class. Or click it.",
      ),
      h(
        "ul",
        { class: "next-list", testid: "next-list" },
        list.map((c, i) =>
          h(
            "li",
            {},
            h(
              "button",
              {
                type: "button",
                class: `btn btn-small${i === focused ? " btn-selected" : ""}`,
                testid: "next-chip",
                title: c.reason,
                dataset: { row: c.row, col: c.col },
                onclick: () => focus(i),
              },
              `${i + 1}: (${c.row}, ${c.col})`,
            ),
          ),
        ),
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet",
          testid: "next-clear",
          onclick: () => {
            list = [];
            focused = -1;
            render();
            onChange();
          },
        },
        "Clear",
      ),
    );
  }

  function focus(i) {
    if (!list.length) return;
    focused = ((i % list.length) + list.length) % list.length;
    const c = list[focused];
    zoomToChip(viewer, grid, c.row, c.col);
    render();
    onChange();
    // the list may be below the fold of the panel: keep the chip in focus in sight
    const btn = box.querySelector(".btn-selected");
    if (btn) btn.scrollIntoView({ block: "nearest" });
  }

  /** A chip just labelled is no longer a suggestion. */
  function drop(row, col) {
    const i = list.findIndex((c) => c.row === row && c.col === col);
    if (i < 0) return;
    list.splice(i, 1);
    if (focused > i) focused -= 1;
    else if (focused === i) focused = list.length ? Math.min(i, list.length - 1) : -1;
    render();
  }

  /** Label the suggestion in focus with the active class, then show the next one. */
  function accept() {
    const c = list[focused];
    if (!c || !ws.activeClassId) return;
    if (!labelled(c.row, c.col)) label(c.row, c.col);
    else drop(c.row, c.col);
    if (focused >= 0) focus(focused);
  }

  return {
    button,
    box,
    drop,
    accept,
    focusNext: () => focus(focused + 1),
    /** How many chips are suggested. */
    get count() {
      return list.length;
    },
    /** The suggestion in focus, or null. */
    get current() {
      return (focused >= 0 && list[focused]) || null;
    },
    /** The suggestions as the viewer's chips. */
    chips: () =>
      list.map((c, i) => ({ row: c.row, col: c.col, kind: "suggest", label: String(i + 1), focused: i === focused })),
  };
}
