// The Export links of a result: each file the server made for it.
import * as api from "../../api.js";
import { h } from "../../ui.js";

const EXPORTS = [
  ["overlay.png", "Overlay PNG"],
  ["mask.png", "Mask PNG"],
  ["confidence.png", "Confidence PNG"],
  ["mask.ome.tif", "OME-TIFF mask"],
  ["mask.ome.zarr.zip", "OME-Zarr (zip)"],
  ["coco.json", "COCO JSON"],
  ["instances.png", "Particle ids PNG"],
  ["chart.svg", "Chart SVG"],
  ["chart.png", "Chart PNG"],
  ["histogram.svg", "Size histogram SVG"],
  ["histogram.png", "Size histogram PNG"],
  ["counts.csv", "Counts CSV"],
  ["particles.csv", "Particles CSV"],
  ["profile.csv", "Profile CSV"],
  ["result.json", "Result JSON"],
  ["series.csv", "Series CSV"],
];

/** Whether a result has an export: a time series' job writes one series.csv for all frames. */
function hasExport(r, kind, frames) {
  if (r.links && !r.links[kind]) return false;
  return kind !== "series.csv" || frames > 1;
}

/** The download links of result `r`, one of `frames` results of its job on this image. */
export function exportsBox(r, frames) {
  return h(
    "div",
    { class: "exports", testid: "exports" },
    EXPORTS.filter(([kind]) => hasExport(r, kind, frames)).map(([kind, label]) =>
      h(
        "a",
        {
          class: "btn btn-small",
          href: api.analysis.exportUrl(r.id, kind),
          download: "",
          testid: `export-${kind}`,
          title: kind === "series.csv" ? `Every frame's table (${frames} frames) in one file` : undefined,
        },
        label,
      ),
    ),
  );
}
