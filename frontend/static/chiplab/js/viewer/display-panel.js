// The viewer's display panel: brightness, contrast and gamma sliders, invert, auto contrast.
import { h } from "../ui.js";
import { DISPLAY_DEFAULT } from "./display.js";

/** The panel's element; its fields are kept as ``v._displayFields`` (the viewer updates them). */
export function displayPanel(v) {
  const slider = (key, label, min, max, step) => {
    const input = h("input", {
      type: "range",
      min,
      max,
      step,
      value: v.display[key],
      testid: `display-${key}`,
      "aria-label": label,
      oninput: () => v.setDisplay({ [key]: Number(input.value) }),
    });
    const out = h("output", { class: "num small", testid: `display-${key}-value` });
    return { input, out, row: h("label", { class: "display-field" }, h("span", {}, label), input, out) };
  };
  const f = {
    brightness: slider("brightness", "Brightness", -100, 100, 1),
    contrast: slider("contrast", "Contrast", -100, 100, 1),
    gamma: slider("gamma", "Gamma", 0.2, 5, 0.05),
  };
  const invert = h("input", {
    type: "checkbox",
    testid: "display-invert",
    onchange: () => v.setDisplay({ invert: invert.checked }),
  });
  v._displayFields = { ...f, invert };
  return h(
    "div",
    { class: "viewer-display", testid: "display-panel", hidden: true },
    f.brightness.row,
    f.contrast.row,
    f.gamma.row,
    h("label", { class: "display-field toggle" }, invert, "Invert"),
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        testid: "display-auto",
        title: "Stretch the 0.5–99.5 % percentiles of the pixel values to black and white",
        onclick: () => v.autoContrast(0.005),
      },
      "Auto 0.5–99.5 %",
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        testid: "display-auto-wide",
        title: "Stretch the 2–98 % percentiles (more contrast, some clipping)",
        onclick: () => v.autoContrast(0.02),
      },
      "Auto 2–98 %",
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small btn-quiet",
        testid: "display-reset",
        onclick: () => v.setDisplay({ ...DISPLAY_DEFAULT }),
      },
      "Reset",
    ),
  );
}
