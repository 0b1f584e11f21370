// The image workspace: one viewer, four steps (grid, support set, segment, history).
// Steps are sub-routes (#/images/<id>/<step>) handled by update() without reloading the viewer.
import * as api from "../api.js";
import { annotationsBlock } from "../annotations.js";
import { go } from "../main.js";
import { poll } from "../poll.js";
import { hasRole, labById } from "../state.js";
import { h, clear, errorBox, fmtBytes, fmtDate, fmtNum, showError, statusPill, toast, whileBusy } from "../ui.js";
import { Viewer } from "../viewer.js";
import { createWorkspace } from "../workspace.js";

const STEPS = [
  ["grid", "1 · Grid", () => import("../steps/grid.js")],
  ["support", "2 · Support set", () => import("../steps/support.js")],
  ["segment", "3 · Segment", () => import("../steps/segment.js")],
  ["history", "History", () => import("../steps/history.js")],
];

let active = null; // the mounted workspace: {imageId, show(step)}

export function update({ imageId, step }) {
  if (!active || active.imageId !== imageId) return false;
  active.show(step || active.defaultStep());
  return true;
}

export async function render(root, { imageId, step }) {
  const image = await api.images.get(imageId);
  const dataset = await api.datasets.get(image.dataset);
  const page = h("div", { class: "workspace-page" });
  root.append(page);

  const tabs = h("nav", { class: "steps", "aria-label": "Workflow steps", testid: "steps" });
  const panel = h("section", { class: "side-panel", testid: "side-panel", "aria-live": "polite" });
  const stage = h("div", { class: "stage" });
  page.append(
    h(
      "div",
      { class: "workspace-head" },
      h(
        "nav",
        { class: "crumbs", "aria-label": "Breadcrumb" },
        h("a", { href: "#/datasets" }, "Datasets"),
        " / ",
        h("a", { href: `#/datasets/${dataset.id}`, testid: "crumb-dataset" }, dataset.title),
        " / ",
        h("span", { testid: "image-name" }, image.original_filename),
      ),
      tabs,
    ),
    h("div", { class: "workspace" }, stage, panel),
    metadata(image, image.status === "ready" && hasRole(labById(dataset.lab), "curator")),
    annotationsBlock(image, hasRole(labById(dataset.lab), "annotator")),
  );

  if (image.status !== "ready") {
    stage.append(
      h(
        "div",
        { class: "pad", style: { color: "#e8edf3" } },
        h(
          "p",
          { testid: "image-not-ready" },
          statusPill(image.status),
          " ",
          image.status === "failed"
            ? image.error || "Ingestion failed."
            : "The image is still being processed; this page opens it when it is ready.",
        ),
      ),
    );
    if (image.status !== "pending") return;
    const waiting = poll(
      async () => {
        try {
          const now = await api.images.get(image.id);
          if (now.status !== "pending") {
            go(location.hash);
            return true;
          }
        } catch (e) {
          showError(e, "Checking the image");
          return true;
        }
        return false;
      },
      { every: 1500 },
    );
    return () => waiting.stop();
  }

  const viewer = new Viewer(stage, {
    width: image.width,
    height: image.height,
    src: api.images.previewUrl(image.id),
    tiles: api.images.tilesUrl(image.id),
    label: `Micrograph ${image.original_filename}`,
    pixelSize: image.pixel_size,
    pixelUnit: image.pixel_unit,
  });
  viewer.ready.catch((e) => showError(e));
  const ws = createWorkspace({ image, dataset, viewer });
  await ws.load().catch((e) => showError(e, "Loading grids and classes"));

  let mounted = null; // {name, unmount}
  let seq = 0;
  const tabLinks = {};
  for (const [name, label] of STEPS) {
    tabLinks[name] = h("a", { href: `#/images/${image.id}/${name}`, class: "step-tab", testid: `step-${name}` }, label);
    tabs.append(tabLinks[name]);
  }
  // Help about the step on screen (#/help/<topic>), in a new tab: the workspace stays as it is.
  const HELP_TOPIC = { grid: "chip-size", support: "support-sets", segment: "confidence", history: "results" };
  const helpLink = h(
    "a",
    {
      class: "step-help",
      href: "#/help",
      target: "_blank",
      rel: "noopener",
      testid: "step-help",
      title: "What this step does, in a microscopist's words",
    },
    "? Help",
  );
  tabs.append(
    h(
      "a",
      {
        class: "step-tab",
        href: `#/compare/${image.id}`,
        testid: "step-compare",
        title: "Two results of this image side by side",
      },
      "Compare",
    ),
    helpLink,
  );
  function refreshTabs(current) {
    helpLink.href = HELP_TOPIC[current] ? `#/help/${HELP_TOPIC[current]}` : "#/help";
    for (const [name] of STEPS) {
      const a = tabLinks[name];
      const locked = (name === "support" || name === "segment") && !ws.grid;
      a.classList.toggle("locked", locked);
      a.title = locked ? "Choose a grid first" : "";
      if (name === current) a.setAttribute("aria-current", "step");
      else a.removeAttribute("aria-current");
    }
  }
  ws.on("grid", () => refreshTabs(mounted?.name));

  async function show(step) {
    if (!STEPS.some(([n]) => n === step)) step = "grid";
    if ((step === "support" || step === "segment") && !ws.grid) step = "grid";
    if (mounted && mounted.name === step) return;
    const my = ++seq;
    if (mounted) {
      mounted.unmount?.();
      mounted = null;
    }
    viewer.onChipClick = null;
    viewer.setChips([]);
    viewer.setOverlay(null);
    clear(panel);
    refreshTabs(step);
    const expected = `#/images/${image.id}/${step}`;
    if (location.hash !== expected) history.replaceState(null, "", expected);
    const mod = await STEPS.find(([n]) => n === step)[2]();
    if (my !== seq) return;
    try {
      const unmount = await mod.mount(ws, panel);
      if (my !== seq) {
        unmount?.();
        return;
      }
      mounted = { name: step, unmount };
    } catch (e) {
      panel.append(h("p", { class: "error-text" }, e.message));
      showError(e);
      mounted = { name: step };
    }
  }
  ws.goStep = (step) => go(`#/images/${image.id}/${step}`);

  active = { imageId: image.id, show, defaultStep: () => (ws.grid ? "support" : "grid") };
  await show(step || active.defaultStep());
  return () => {
    if (mounted?.unmount) mounted.unmount();
    ws.destroy();
    viewer.destroy();
    active = null;
  };
}

/** The metadata panel; curators can set the pixel size by hand there (re-rendered in place). */
function metadata(image, canCalibrate) {
  let block = null;
  const render = (open = false) => {
    const next = metadataBlock(
      image,
      canCalibrate
        ? calibrationForm(image, (updated) => {
            Object.assign(image, updated); // the workspace shares this object: grid readouts follow
            render(true);
          })
        : null,
    );
    if (open) next.open = true;
    if (block) block.replaceWith(next);
    block = next;
    return block;
  };
  return render();
}

const UNITS = ["pm", "Å", "nm", "µm", "mm"]; // what PATCH images/<id>/ accepts

/** "Set pixel size": a number and a unit, PATCHed to the image (curators). */
function calibrationForm(image, onSaved) {
  const manual = image.calibration?.source === "manual";
  const size = h("input", {
    type: "number",
    id: "pixel-size",
    testid: "pixel-size",
    min: 0,
    step: "any",
    required: true,
    class: "num",
    value: manual && image.pixel_size ? +image.pixel_size.toPrecision(6) : "",
    "aria-describedby": "pixel-size-help",
  });
  const unit = h(
    "select",
    { id: "pixel-unit", testid: "pixel-unit", "aria-label": "Unit of the pixel size" },
    UNITS.map((u) => h("option", { value: u, selected: u === "nm" }, u)),
  );
  const errors = h("div");
  const save = h("button", { type: "submit", class: "btn btn-small", testid: "pixel-size-save" }, "Set pixel size");
  const send = (body, button) =>
    whileBusy(button, async () => {
      errors.replaceChildren();
      try {
        const updated = await api.patch(`images/${image.id}/`, body);
        toast(
          updated.pixel_size
            ? `Pixel size set to ${fmtNum(updated.pixel_size, 4)} ${updated.pixel_unit}. New segmentations report areas in ${updated.pixel_unit}².`
            : "Back to the file's own calibration.",
          "ok",
        );
        onSaved(updated);
      } catch (e) {
        errors.replaceChildren(errorBox(e));
      }
    });
  const clearBtn = manual
    ? h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet",
          testid: "pixel-size-clear",
          onclick: (ev) => send({ pixel_size: null }, ev.currentTarget),
        },
        "Use the file's calibration",
      )
    : null;
  return h(
    "form",
    {
      class: "calibration-form",
      testid: "calibration-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        const value = Number(size.value);
        if (!(value > 0)) {
          errors.replaceChildren(errorBox(new Error("The pixel size is a number greater than 0.")));
          size.focus();
          return;
        }
        send({ pixel_size: value, pixel_unit: unit.value }, save);
      },
    },
    h("label", { for: "pixel-size", class: "field-label" }, manual ? "Pixel size (set by hand)" : "Set pixel size"),
    h("div", { class: "inline-fields" }, size, unit, h("span", { class: "muted small" }, "per pixel"), save, clearBtn),
    h(
      "p",
      { class: "muted small", id: "pixel-size-help" },
      "For images whose file has no calibration (e.g. JPEG/PNG exports), read it off the scale bar. ",
      "New segmentations report areas in physical units; results made before keep theirs.",
    ),
    errors,
  );
}

function metadataBlock(image, calibrationControl = null) {
  const rows = [
    ["File", `${image.original_filename} (${image.format}, ${fmtBytes(image.size_bytes)})`],
    [
      "Size",
      `${image.width} × ${image.height} px${image.frames > 1 ? `, ${image.frames} frames` : ""}${image.channels > 1 ? `, ${image.channels} channels` : ""}, ${image.dtype}`,
    ],
    [
      "Calibration",
      image.pixel_size
        ? `${fmtNum(image.pixel_size, 4)} ${image.pixel_unit} / px (field of view ${fmtNum(image.pixel_size * image.width, 4)} × ${fmtNum(image.pixel_size * image.height, 4)} ${image.pixel_unit})${image.calibration?.source === "manual" ? ", set by hand" : ""}`
        : "not calibrated — areas are reported in pixels",
    ],
    ["Status", statusPill(image.status)],
    ["Uploaded", fmtDate(image.created)],
    ["SHA-256", h("code", { class: "small" }, image.sha256)],
  ];
  const instrument = Object.entries(image.instrument || {})
    .filter(([, v]) => v !== null && v !== "")
    .map(([k, v]) => instrumentEntry(k, v));
  const calibration = Object.entries(image.calibration || {})
    .filter(([k, v]) => v !== null && v !== "" && typeof v !== "object" && k !== "set_by")
    .map(([k, v]) => [k, k === "set_at" ? fmtDate(v) : v]);
  const table = (pairs, testid) =>
    h(
      "table",
      { class: "kv", testid },
      h(
        "tbody",
        {},
        pairs.map(([k, v]) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, humanKey(k)),
            h("td", {}, typeof v === "object" && !(v instanceof Node) ? JSON.stringify(v) : v),
          ),
        ),
      ),
    );
  return h(
    "details",
    { class: "metadata card", testid: "image-metadata" },
    h("summary", {}, "Image metadata, calibration and instrument"),
    h(
      "div",
      { class: "metadata-cols" },
      h("div", {}, h("h3", {}, "Image"), table(rows, "meta-image")),
      h(
        "div",
        {},
        h("h3", {}, "Calibration"),
        calibration.length
          ? table(calibration, "meta-calibration")
          : h("p", { class: "muted small" }, "No calibration metadata in the file."),
        calibrationControl,
      ),
      h(
        "div",
        {},
        h("h3", {}, "Instrument"),
        instrument.length
          ? table(instrument, "meta-instrument")
          : h("p", { class: "muted small" }, "No instrument metadata in the file."),
      ),
    ),
  );
}

function humanKey(k) {
  return String(k)
    .replace(/_/g, " ")
    .replace(/^./, (c) => c.toUpperCase());
}

// Unit suffixes of the metadata readers' keys (voltage_kv, frame_time_s, camera_length_mm…)
const UNIT_SUFFIXES = {
  kv: "kV",
  v: "V",
  s: "s",
  ms: "ms",
  us: "µs",
  mm: "mm",
  um: "µm",
  nm: "nm",
  pm: "pm",
  deg: "°",
  mrad: "mrad",
  ev: "eV",
  ma: "mA",
  ua: "µA",
  na: "nA",
  pa: "pA",
};

/** ["voltage_kv", 200] -> ["Voltage (kV)", "200"]; numbers to 4 significant digits. */
export function instrumentEntry(key, value) {
  const m = /^(.+?)_([a-z]+)$/.exec(String(key));
  const unit = m && UNIT_SUFFIXES[m[2]];
  const label = unit ? `${humanKey(m[1])} (${unit})` : humanKey(key);
  let shown = value;
  if (typeof value === "number" && Number.isFinite(value)) {
    shown = Number.isInteger(value) ? value.toLocaleString("en") : String(Number(value.toPrecision(4)));
  }
  return [label, shown];
}
