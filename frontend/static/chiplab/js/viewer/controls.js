// The viewer's controls in the bar above the image: the scale bar, the grid and display toggles,
// zoom and fit buttons and the magnification, kept in step with the view.
import { h } from "../ui.js";
import { scaleBarLength } from "./display.js";
import { displayPanel } from "./display-panel.js";

/** The controls' element; keeps on the viewer the parts it updates (the zoom label, the scale
 * bar, the grid and display buttons) and the display panel the display button opens. */
export function viewerControls(v) {
  const btn = (txt, title, fn, id) =>
    h("button", { type: "button", class: "btn btn-icon", title, "aria-label": title, testid: id, onclick: fn }, txt);
  v.zoomLabel = h("span", { class: "zoom-label", testid: "zoom-label" }, "");
  // Scale bar in the bar above the image (never over it): a round length at the current zoom.
  v.scaleLine = h("span", { class: "scale-line" });
  v.scaleText = h("span", {}, "");
  v.scaleBar = h("span", { class: "scale-bar", testid: "scale-bar", hidden: !v.pixelSize }, v.scaleLine, v.scaleText);
  v.displayPanel = displayPanel(v);
  v.gridBtn = btn("#", "Hide grid lines (G)", () => v.setShowGrid(!v.showGrid), "grid-toggle");
  v.gridBtn.setAttribute("aria-pressed", "true");
  v.displayBtn = btn(
    "◐",
    "Display: brightness, contrast, gamma, invert",
    () => {
      v.displayPanel.hidden = !v.displayPanel.hidden;
      v.displayBtn.setAttribute("aria-expanded", String(!v.displayPanel.hidden));
    },
    "display-toggle",
  );
  v.displayBtn.setAttribute("aria-expanded", "false");
  return h(
    "div",
    { class: "viewer-controls" },
    v.scaleBar,
    v.gridBtn,
    v.displayBtn,
    btn("+", "Zoom in", () => v.zoomBy(1.5), "zoom-in"),
    btn("−", "Zoom out", () => v.zoomBy(1 / 1.5), "zoom-out"),
    btn("⤢", "Fit image", () => v.fit(), "zoom-fit"),
    btn("1:1", "Real pixels: one image pixel per screen pixel", () => v.zoomActual(), "zoom-actual"),
    v.zoomLabel,
  );
}

/** The view as the canvas's data-* attributes (scale, offset, tiles drawn and in view): readable from the
 * page; and the magnification and scale bar for it. */
export function publishView(v) {
  const d = v.canvas.dataset;
  d.scale = v.scale;
  d.tx = v.tx;
  d.ty = v.ty;
  // 100 % = one image pixel per device pixel (real pixels)
  v.zoomLabel.textContent = `${Math.round(v.scale * (v.dpr || 1) * 100)} %`;
  v.zoomLabel.title = "Magnification: at 100 % one image pixel is one screen pixel";
  d.tiles = v.tiles.drawnCount;
  d.tilesWanted = v.tiles.wantedCount;
  if (v.pixelSize) {
    const bar = scaleBarLength(v.pixelSize, v.pixelUnit, v.scale);
    v.scaleLine.style.width = `${bar.px.toFixed(1)}px`;
    v.scaleText.textContent = bar.label;
    v.scaleBar.dataset.length = bar.value;
    v.scaleBar.dataset.unit = bar.unit;
  }
}
