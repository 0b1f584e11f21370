// What happened to my examples when this grid was chosen after another (said once).
import { h } from "../../ui.js";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function carriedText(c, size) {
  if (c.reason === "")
    return (
      `${plural(c.carried, "example")} carried over from ${size}` +
      (c.carried !== c.examples ? ` (your ${plural(c.examples, "chip")} there)` : "") +
      (c.lost ? `; ${plural(c.lost, "example")} covered no chip here mostly enough and stayed behind` : "") +
      "."
    );
  if (c.reason === "target_labelled")
    return `This grid keeps the examples you gave it; your ${plural(c.examples, "example")} of ${size} were not carried.`;
  return `Your ${plural(c.examples, "example")} of ${size} would cover ${c.carried} chips here, too many to carry: label this grid afresh.`;
}

/** The notice for this grid, or null when nothing was carried to it (it is then forgotten). */
export function carriedNotice(ws, grid) {
  const c = ws.carried;
  if (!c || c.grid !== grid.id || c.reason === "no_examples") return null;
  ws.carried = null;
  const [x, y] = c.from_offset || [0, 0];
  const size = `${c.from_chip_size} px${x || y ? ` (offset ${x}, ${y})` : ""}`;
  return h(
    "div",
    { class: "carried", testid: "carried", role: "status" },
    h("p", { testid: "carried-text" }, carriedText(c, size)),
    c.reason === ""
      ? h(
          "p",
          { class: "muted small" },
          "Each chip here took the class of the examples covering most of it. " +
            `The ${size} grid keeps your original clicks.`,
        )
      : null,
    c.from
      ? h(
          "button",
          { type: "button", class: "btn btn-small", testid: "carried-back", onclick: () => ws.setGrid(c.from) },
          `Back to ${size}`,
        )
      : null,
  );
}
