// A result on the viewer: the overlay (pixel map, chip map or confidence), the controls that
// choose the view and its opacity, and the legend of what is shown.
import * as api from "../../api.js";
import { h, hexToRgb, toast } from "../../ui.js";
import { confidenceCanvas, labelsCanvas } from "../../viewer.js";
import { colourOf } from "./colour.js";

const CONFIDENCE_MODES = ["confidence", "chip-confidence"];
/** The views drawn from a result's exports (its pixel map), not from its chip grids. */
const PIXEL_MODES = ["classes", "confidence"];

/** The class map at smaller sizes, smallest first, with the largest side of each: a result
 * has each that its map is larger than (the worker's `runner.results.MAP_PREVIEWS`). At 4096²
 * the 2048 px copy took 20-50 ms to decode and ~20 ms to draw, the 1024 px one 8-11 and 5-6. */
const PREVIEWS = [
  ["mask.preview-1024.png", 1024],
  ["mask.preview.png", 2048],
];

/** The export image of result `id`'s pixel map in view `m`, fetched and decoded; with
 * `previews` (names, smallest first), the first of them and `full()` to fetch the next one
 * (the whole map after the last), which the viewer does once it is zoomed in past it. */
async function pixelImage(id, m, previews = []) {
  const name = previews[0] || (m === "classes" ? "mask.png" : "confidence.png");
  const img = await decoded(api.analysis.exportUrl(id, name), m === "confidence" ? CONFIDENCE_TRIES : 1);
  if (!previews.length) return { image: img };
  let next = null;
  return { image: img, full: () => (next ||= pixelImage(id, m, previews.slice(1))) };
}

/** The confidence map is stored just after its result is listed (with the map shown at
 * once): a Confidence view chosen in that moment tries again, every 250 ms for ~5 s. */
const CONFIDENCE_TRIES = 20;

/** The image at `url`, fetched and decoded, in up to `tries` attempts. */
async function decoded(url, tries) {
  for (let attempt = 1; ; attempt++) {
    const img = new Image();
    img.src = attempt === 1 ? url : `${url}?attempt=${attempt}`;
    try {
      await img.decode();
      return img;
    } catch (err) {
      if (attempt >= tries) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The previews (names, smallest first) that view `m` draws the image's map from on
 * `viewer` as it is zoomed now: those the map (the image's size) is larger than (`has(name)`:
 * the result has it) with at least the screen pixels the map covers (all of them before the
 * viewer has fitted the image: the next is fetched when the view needs it). */
function previewsFor(viewer, m, has = () => true) {
  if (m !== "classes") return [];
  const side = Math.max(viewer.W, viewer.H);
  const need = viewer.pw > 0 ? side * viewer.scale * (viewer.dpr || 1) : 0;
  return PREVIEWS.filter(([name, max]) => side > max && max >= need && has(name)).map(([name]) => name);
}

export function createOverlay({ ws, store }) {
  const { viewer } = ws;
  const v = store.view;
  const shown = () => store.shown.result;

  /** What a view draws: the pixel map and its confidence are the result's exports (images at
   * the original's size, in the class colours and the confidence colour map); the chip views
   * are drawn here from the label and confidence grids. Results from before pixel maps have
   * only the chip views. */
  async function source(r, m) {
    if (r.pixel_map && PIXEL_MODES.includes(m)) {
      return pixelImage(
        r.id,
        m,
        previewsFor(viewer, m, (name) => Boolean(r.links?.[name])),
      );
    }
    return {
      canvas: CONFIDENCE_MODES.includes(m)
        ? confidenceCanvas(r.confidence, r.rows, r.cols)
        : labelsCanvas(
            r.labels,
            r.rows,
            r.cols,
            Object.fromEntries(r.classes.map((c) => [c.index, hexToRgb(colourOf(ws, c))])),
          ),
    };
  }

  async function draw() {
    if (!shown()) return;
    if (v.mode === "off") {
      viewer.showGrid = true;
      viewer.setOverlay(null);
      viewer.canvas.dataset.view = "off";
      return;
    }
    const r = shown(),
      m = v.mode;
    v.overlays[m] ||= source(r, m);
    let made;
    try {
      made = await v.overlays[m];
    } catch {
      delete v.overlays[m];
      if (store.disposed || r !== shown()) return;
      toast("The pixel map could not be loaded; showing the chip map.", "error");
      made = await source({ ...r, pixel_map: null }, m);
    }
    if (store.disposed || r !== shown() || m !== v.mode) return;
    viewer.showGrid = !made.image; // grid lines would hide the pixel map's edges
    viewer.setOverlay({ ...made, opacity: v.opacity });
    viewer.canvas.dataset.view = m;
  }

  /** The view and opacity controls for result `r` and the legend of its classes `rows`. */
  function controls(r, rows) {
    const legend = h("div", { class: "legend", testid: "legend" });
    const legendItems = () =>
      CONFIDENCE_MODES.includes(v.mode)
        ? [
            h(
              "span",
              {},
              h("span", {
                class: "swatch",
                style: { background: "linear-gradient(90deg,#440154,#21918c,#fde725)", width: "4rem" },
              }),
              "low → high confidence",
            ),
          ]
        : rows.map((x) => h("span", {}, h("span", { class: "swatch", style: { background: x.colour } }), x.name));
    legend.replaceChildren(...legendItems());
    const modeInput = (value, label) =>
      h(
        "label",
        {},
        h("input", {
          type: "radio",
          name: "overlay-mode",
          value,
          checked: v.mode === value,
          testid: `view-${value}`,
          onchange: () => {
            v.mode = value;
            draw();
            legend.replaceChildren(...legendItems());
          },
        }),
        h("span", {}, label),
      );
    const opacityInput = h("input", {
      type: "range",
      min: 0,
      max: 100,
      value: Math.round(v.opacity * 100),
      id: "overlay-opacity",
      testid: "overlay-opacity",
      oninput: (ev) => {
        v.opacity = ev.target.value / 100;
        draw();
      },
    });
    const bar = h(
      "div",
      { class: "seg-controls" },
      h("span", {}, "View"),
      h(
        "div",
        { class: "segmented", role: "radiogroup", "aria-label": "Overlay view" },
        modeInput("classes", r.pixel_map ? "Pixels" : "Classes"),
        r.pixel_map ? modeInput("chips", "Chips") : null,
        modeInput("confidence", "Confidence"),
        r.pixel_map ? modeInput("chip-confidence", "Chip conf.") : null,
        modeInput("off", "Off"),
      ),
      h("label", { for: "overlay-opacity" }, "Opacity"),
      opacityInput,
    );
    return { bar, legend };
  }

  /** Start fetching and decoding the pixel map of result `id` in the current view before the
   * result itself has loaded: the two then arrive side by side (at 4096² the map's PNG took
   * ~130 ms to decode after the ~45 ms of the result's JSON). Null in a chip view. */
  function prefetch(id) {
    // which map to fetch depends on the preview's size: not known before it has loaded
    if (!PIXEL_MODES.includes(v.mode) || !(viewer.pw > 0)) return null;
    // a new result has each preview its image (the map's size) is larger than
    const previews = previewsFor(viewer, v.mode);
    const made = pixelImage(id, v.mode, previews);
    made.catch(() => {}); // not awaited when the result turns out to be another's or has no map
    return { id, mode: v.mode, previews, made };
  }

  /** Use a prefetch for result `r` when it fetched what the view draws (`draw` falls back to
   * the chip map if it failed). */
  function adopt(r, early) {
    if (!early || early.id !== r.id || early.mode !== v.mode || !r.pixel_map) return;
    const has = (name) => Boolean(r.links?.[name]);
    const previews = previewsFor(viewer, v.mode, has);
    if (early.previews.join() === previews.join()) v.overlays[v.mode] = early.made;
  }

  return { draw, controls, prefetch, adopt };
}
