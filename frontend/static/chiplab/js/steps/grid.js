// Step 1: choose the chip grid with a slider that redraws the grid live.
import * as api from "../api.js";
import { h, append, errorBox, fmtDate, fmtNum, showError, toast } from "../ui.js";
import { gridShape } from "../workspace.js";

const SLIDER_STEPS = 1000;

export async function mount(ws, panel) {
  const { image, viewer } = ws;
  const minSide = Math.min(image.width, image.height);
  const min = Math.min(8, minSide);
  const max = Math.max(min + 1, Math.min(512, Math.floor(minSide / 2)));
  let suggestion = null;
  const start = ws.grid ? ws.grid.chip_size : Math.min(max, Math.max(min, 32));
  // The slider is logarithmic (8 -> 16 px moves it as far as 128 -> 256 px): small chip sizes
  // are not cramped at one end. Its position is 0..SLIDER_STEPS; the number box holds pixels.
  const toPos = (px) => Math.round((SLIDER_STEPS * Math.log(px / min)) / Math.log(max / min));
  const fromPos = (pos) => clamp(Math.round(min * (max / min) ** (pos / SLIDER_STEPS)), min, max);

  const slider = h("input", {
    type: "range",
    id: "chip-size",
    min: 0,
    max: SLIDER_STEPS,
    step: 1,
    value: toPos(start),
    testid: "chip-size-slider",
    "aria-describedby": "chip-count",
    "aria-valuetext": `${start} px`,
    list: "chip-size-marks",
  });
  const marks = h("datalist", { id: "chip-size-marks" });
  const number = h("input", {
    type: "number",
    id: "chip-size-number",
    min,
    max,
    value: start,
    class: "num",
    testid: "chip-size-input",
    "aria-label": "Chip size in pixels",
  });
  const marker = h("div", { class: "slider-marker", hidden: true, testid: "suggestion-marker", "aria-hidden": "true" });
  const ox = h("input", {
    type: "number",
    id: "offset-x",
    min: 0,
    value: ws.grid?.offset_x || 0,
    class: "num",
    testid: "offset-x",
  });
  const oy = h("input", {
    type: "number",
    id: "offset-y",
    min: 0,
    value: ws.grid?.offset_y || 0,
    class: "num",
    testid: "offset-y",
  });
  const count = h("p", { id: "chip-count", class: "readout", testid: "chip-count", "aria-live": "polite" });
  // Why a typed value was changed: out-of-range input is clamped where the user can see it.
  const hint = h("p", { class: "field-hint small", testid: "grid-hint", "aria-live": "polite", hidden: true });
  const maxWhy = max === Math.floor(minSide / 2) ? "half the image's shorter side" : "the largest chip size offered";
  const suggestBox = h(
    "div",
    { class: "suggestion", testid: "suggestion" },
    h("span", { class: "muted small" }, "Looking for a suggested chip size…"),
  );
  const errors = h("div");
  const useBtn = h("button", { type: "button", class: "btn btn-primary", testid: "use-grid" }, "Use this grid");

  append(panel, [
    h("h2", {}, "Choose a chip grid"),
    h(
      "p",
      { class: "muted small" },
      "Each chip is one square tile the model classifies. Pick a size so that one chip shows one feature (a few lattice periods). Edges that do not fill a chip are cropped.",
    ),
    h("label", { for: "chip-size", class: "field-label" }, "Chip size (px)"),
    h("div", { class: "slider-row" }, h("div", { class: "slider-wrap" }, slider, marker, marks), number),
    suggestBox,
    h(
      "details",
      { class: "offsets" },
      h("summary", {}, "Offset"),
      h(
        "div",
        { class: "inline-fields" },
        h("label", { for: "offset-x" }, "x"),
        ox,
        h("label", { for: "offset-y" }, "y"),
        oy,
      ),
    ),
    hint,
    count,
    errors,
    h("div", { class: "form-actions" }, useBtn),
    earlierGrids(ws),
  ]);

  function values() {
    const chip = clamp(parseInt(number.value, 10) || fromPos(Number(slider.value)), min, max);
    const x = clamp(parseInt(ox.value, 10) || 0, 0, chip - 1);
    const y = clamp(parseInt(oy.value, 10) || 0, 0, chip - 1);
    return { chip, x, y };
  }

  function redraw() {
    const { chip, x, y } = values();
    const shape = gridShape(image.width, image.height, chip, x, y);
    viewer.setGrid({ chip, ox: x, oy: y, rows: shape.rows, cols: shape.cols });
    const n = shape.rows * shape.cols;
    const phys = image.pixel_size ? ` · ${fmtNum(chip * image.pixel_size, 3)} ${image.pixel_unit} per chip` : "";
    const m = shape.margins;
    count.replaceChildren(
      h("strong", { testid: "chip-total" }, n.toLocaleString()),
      ` chips (${shape.rows} × ${shape.cols})${phys}`,
      h("br"),
      h("span", { class: "muted small" }, `cropped: right ${m.right} px, bottom ${m.bottom} px`),
    );
    ox.max = oy.max = chip - 1;
    slider.setAttribute("aria-valuetext", `${chip} px`);
    const existing = ws.grids.find((g) => g.chip_size === chip && (g.offset_x || 0) === x && (g.offset_y || 0) === y);
    useBtn.textContent = existing ? "Use this grid (saved)" : "Use this grid";
    // New grids need the annotator role; readers open the saved ones.
    const mayCreate = existing || ws.can("annotator");
    useBtn.disabled = n < 1 || !mayCreate;
    useBtn.title = mayCreate ? "" : "Viewers can open the saved grids below; new grids need the annotator role.";
  }

  function say(text) {
    hint.textContent = text || "";
    hint.hidden = !text;
  }

  /** Put a typed offset back in 0..chip-1 in the box itself, saying why. */
  function fixOffset(input, axis) {
    const chip = values().chip;
    const v = parseInt(input.value, 10) || 0; // as values() reads it
    const fixed = clamp(v, 0, chip - 1);
    if (String(fixed) === input.value) return "";
    input.value = fixed; // an empty or fractional entry is normalised without a word
    if (v < 0) return `${axis} offset: at least 0 px.`;
    if (v > chip - 1)
      return `${axis} offset: at most ${chip - 1} px with ${chip} px chips (a whole chip more is the same grid).`;
    return "";
  }

  const offsetNotes = () => [fixOffset(ox, "x"), fixOffset(oy, "y")].filter(Boolean).join(" ");

  slider.addEventListener("input", () => {
    number.value = fromPos(Number(slider.value));
    redraw();
    say(offsetNotes());
  });
  number.addEventListener("input", () => {
    const v = parseInt(number.value, 10);
    if (v >= min && v <= max) {
      slider.value = toPos(v);
      redraw();
    }
  });
  number.addEventListener("change", () => {
    const raw = Number(number.value);
    let v = fromPos(Number(slider.value));
    let note = "";
    if (number.value === "" || !Number.isFinite(raw)) {
      note = `Chip size: a whole number of pixels, ${min}–${max}.`;
    } else {
      v = clamp(Math.trunc(raw), min, max);
      if (raw < min) note = `Chip size: at least ${min} px.`;
      else if (raw > max) note = `Chip size: at most ${max} px for this image (${maxWhy}).`;
    }
    slider.value = toPos(v);
    number.value = v;
    redraw();
    say([note, offsetNotes()].filter(Boolean).join(" "));
  });
  for (const [input, axis] of [
    [ox, "x"],
    [oy, "y"],
  ]) {
    input.addEventListener("input", redraw);
    input.addEventListener("change", () => {
      say(fixOffset(input, axis));
      redraw();
    });
  }

  useBtn.addEventListener("click", async () => {
    errors.replaceChildren();
    const { chip, x, y } = values();
    useBtn.disabled = true;
    try {
      const existing = ws.grids.find((g) => g.chip_size === chip && (g.offset_x || 0) === x && (g.offset_y || 0) === y);
      const grid = existing || (await api.labeling.createGrid(image.id, { chip_size: chip, offset_x: x, offset_y: y }));
      const previous = ws.grid;
      ws.setGrid(grid);
      await ws.carryExamples(previous, grid); // the Support step says what came across
      toast(`Grid of ${grid.rows * grid.cols} chips (${chip} px) selected.`, "ok");
      ws.goStep("support");
    } catch (e) {
      errors.replaceChildren(
        errorBox(
          api.isMissing(e) ? new Error("Saving grids is not available on this server yet (labeling API missing).") : e,
        ),
      );
      useBtn.disabled = false;
    }
  });

  redraw();

  // The suggestion arrives asynchronously; it never blocks the slider.
  api.labeling
    .chipSizeSuggestion(image.id)
    .then((s) => {
      suggestion = s.chip_size ?? s.suggested ?? s.suggestion ?? null;
      if (!suggestion) {
        suggestBox.replaceChildren(h("span", { class: "muted small" }, "No chip-size suggestion for this image."));
        return;
      }
      const clamped = clamp(suggestion, min, max);
      marks.append(h("option", { value: toPos(clamped), label: `${suggestion} px` }));
      const frac = toPos(clamped) / SLIDER_STEPS;
      marker.style.left = `calc(${frac * 100}% + ${(0.5 - frac) * 16}px)`;
      marker.hidden = false;
      marker.title = `Suggested: ${suggestion} px`;
      const why = s.reason || s.explanation || (s.period_px ? `lattice period ≈ ${fmtNum(s.period_px)} px` : "");
      suggestBox.replaceChildren(
        h(
          "span",
          {},
          "Suggested: ",
          h("strong", { testid: "suggested-size" }, `${suggestion} px`),
          s.grid
            ? h(
                "span",
                { testid: "suggested-grid" },
                ` (${s.grid[0]} × ${s.grid[1]} chips; ` +
                  `${(s.uncovered_fraction * 100).toFixed(1)} % of the image outside the grid)`,
              )
            : null,
        ),
        why ? h("span", { class: "muted small" }, ` — ${why}`) : null,
        " ",
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            testid: "use-suggestion",
            onclick: () => {
              slider.value = toPos(clamped);
              number.value = clamped;
              say("");
              redraw();
            },
          },
          "Use suggestion",
        ),
      );
      if (!ws.grid && values().chip === start) {
        slider.value = toPos(clamped);
        number.value = clamped;
        redraw();
      }
    })
    .catch((e) => {
      suggestBox.replaceChildren(
        h(
          "span",
          { class: "muted small" },
          api.isMissing(e)
            ? "Chip-size suggestions are not available on this server yet."
            : `No suggestion: ${e.message}`,
        ),
      );
      if (!api.isMissing(e)) showError(e, "Chip-size suggestion");
    });

  return () => ws.setGrid(ws.grid);
}

function earlierGrids(ws) {
  if (!ws.grids.length) return null;
  return h(
    "div",
    { class: "earlier" },
    h("h3", {}, "Grids of this image"),
    h(
      "ul",
      { class: "plain-list", testid: "earlier-grids" },
      ws.grids.map((g) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: `btn btn-small${ws.grid?.id === g.id ? " btn-selected" : ""}`,
              testid: "open-grid",
              onclick: async () => {
                const previous = ws.grid;
                ws.setGrid(g);
                await ws.carryExamples(previous, g);
                ws.goStep("support");
              },
            },
            `${g.chip_size} px · ${g.rows}×${g.cols}`,
          ),
          h("span", { class: "muted small" }, ` ${fmtDate(g.created)}`),
        ),
      ),
    ),
  );
}

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}
