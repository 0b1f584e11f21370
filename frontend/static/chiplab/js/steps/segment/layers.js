// The Layers box of a result: the class-fraction profile across the layers (down the rows,
// across the columns, or across an angle the user picks: the server's profile) and the
// interfaces along it.
import * as api from "../../api.js";
import { profileChart } from "../../chart.js";
import { h, fmtNum } from "../../ui.js";
import { colourOf } from "./colour.js";

/** Layers: the class-fraction profile across the layers (down the rows or across the
 * columns, the purer one first) with the interfaces, when the map has any. */
export function layersBox(ws, r) {
  const layers = r.stats?.layers;
  if (!layers || !(layers.y.interfaces.length || layers.x.interfaces.length)) return "";
  const classes = r.classes.map((c) => ({ name: c.name, colour: colourOf(ws, c) }));
  let axis = layers.main_axis || "y";
  let angled = null; // the server's profile across the chosen angle (api.analysis.profile)
  const body = h("div", {});
  const angleInput = h("input", {
    type: "number",
    min: -360,
    max: 360,
    step: 1,
    value: 30,
    style: { width: "5rem" },
    testid: "profile-angle",
    "aria-label": "Profile direction, degrees anticlockwise from →",
    onchange: () => {
      if (axis === "angle") fetchAngle();
    },
  });
  const fetchAngle = async () => {
    const angle = Number(angleInput.value);
    body.replaceChildren(h("p", { class: "small muted" }, `Profiling across ${angle}°…`));
    try {
      angled = await api.analysis.profile(r.id, { angle });
      // the server names the classes of each interface; the chart and list use indices
      const index = Object.fromEntries(angled.classes.map((n, i) => [n, i]));
      angled.interfaces = angled.interfaces.map((it) => ({
        ...it,
        between: it.between.map((n) => index[n]),
      }));
      if (axis === "angle") render();
    } catch (err) {
      body.replaceChildren(h("p", { class: "small error", testid: "profile-angle-error" }, err.message));
    }
  };
  const titleOf = { y: "down the rows", x: "across the columns" };
  const render = () => {
    const prof = axis === "angle" ? angled : layers[axis];
    if (!prof) return;
    const unit = prof.unit || "px";
    const at = (it) => (prof.unit ? it.position : it.position_px);
    const width = (it) => (prof.unit ? it.width : it.width_px);
    body.replaceChildren(
      profileChart(prof, classes, {
        title: `Class fractions ${titleOf[axis] || `across ${prof.angle}° (from the first corner)`}`,
      }),
      prof.interfaces.length
        ? h(
            "ul",
            { class: "small plain-list" },
            prof.interfaces.map((it) =>
              h(
                "li",
                { testid: "interface" },
                `${classes[it.between[0]].name} | ${classes[it.between[1]].name} at ${fmtNum(at(it), 4)} ${unit}`,
                width(it) !== null && width(it) !== undefined
                  ? ` (10–90 % transition ${fmtNum(width(it), 3)} ${unit})`
                  : "",
              ),
            ),
          )
        : h("p", { class: "small muted" }, "No interface along this direction."),
    );
  };
  const pickAxis = (value, label) =>
    h(
      "label",
      {},
      h("input", {
        type: "radio",
        name: "profile-axis",
        value,
        checked: axis === value,
        testid: `profile-axis-${value}`,
        onchange: () => {
          axis = value;
          if (value === "angle") fetchAngle();
          else render();
        },
      }),
      h("span", {}, label),
    );
  render();
  return h(
    "div",
    { testid: "layers" },
    h("h3", {}, "Layers and interfaces"),
    h(
      "div",
      { class: "seg-controls" },
      h("span", {}, "Along"),
      h(
        "div",
        { class: "segmented", role: "radiogroup", "aria-label": "Profile direction" },
        pickAxis("y", "rows ↓"),
        pickAxis("x", "columns →"),
        pickAxis("angle", "angle"),
      ),
      h("span", {}, "Angle"),
      h("div", {}, angleInput, h("span", { class: "small muted" }, " ° anticlockwise from →")),
    ),
    body,
  );
}
