// A result of the Segment step: the overlay (pixel or chip map, confidence), the fraction
// chart and table, the support check, the chip-size check, objects, layers and exports.
import * as api from "../../api.js";
import { fractionChart, histogramChart } from "../../chart.js";
import { h, fmtDate, fmtNum, fmtPct, hexToRgb, toast } from "../../ui.js";
import { confidenceCanvas, labelsCanvas } from "../../viewer.js";
import { poll } from "../../poll.js";
import { createCorrections } from "./corrections.js";
import { createParticles } from "./particles.js";
import { layersBox } from "./layers.js";

const EXPORTS = [
  ["overlay.png", "Overlay PNG"],
  ["mask.png", "Mask PNG"],
  ["confidence.png", "Confidence PNG"],
  ["mask.ome.tif", "OME-TIFF mask"],
  ["mask.ome.zarr.zip", "OME-Zarr (zip)"],
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

const RULES = { majority: "lab majority", curator: "curator approval" };

/** A class's colour now (it may have been changed since the result was made). */
export function colourOf(ws, c) {
  const live = ws.classById(c.id);
  return live?.colour || c.colour;
}

/** Renders results into `box`; `canConsensus`: curators, who may set the pixel size;
 * `canRun`, `rerun()` and `onExamples()`: annotators correct chips of a result (examples)
 * and segment again. */
export function createResultView({ ws, store, box, canConsensus, canRun, rerun, onExamples }) {
  const { viewer, image } = ws;
  const v = store.view;
  const shown = () => store.shown.result;
  const frameCount = () => store.frames.results.length;
  const particles = createParticles({ ws, store });
  const corrections = createCorrections({ ws, store, canRun, rerun, onExamples });

  /** What a view draws: the pixel map and its confidence are the result's exports (images at
   * the original's size, in the class colours and the confidence colour map); the chip views
   * are drawn here from the label and confidence grids. Results from before pixel maps have
   * only the chip views. */
  async function overlaySource(r, m) {
    const pixel = r.pixel_map && (m === "classes" || m === "confidence");
    if (pixel) {
      const img = new Image();
      img.src = api.analysis.exportUrl(r.id, m === "classes" ? "mask.png" : "confidence.png");
      await img.decode();
      return { image: img };
    }
    return {
      canvas:
        m === "confidence" || m === "chip-confidence"
          ? confidenceCanvas(r.confidence, r.rows, r.cols)
          : labelsCanvas(
              r.labels,
              r.rows,
              r.cols,
              Object.fromEntries(r.classes.map((c) => [c.index, hexToRgb(colourOf(ws, c))])),
            ),
    };
  }

  async function drawOverlay() {
    if (!shown()) return;
    if (v.mode === "off") {
      viewer.showGrid = true;
      viewer.setOverlay(null);
      return;
    }
    const r = shown(),
      m = v.mode;
    v.overlays[m] ||= overlaySource(r, m);
    let source;
    try {
      source = await v.overlays[m];
    } catch {
      delete v.overlays[m];
      if (store.disposed || r !== shown()) return;
      toast("The pixel map could not be loaded; showing the chip map.", "error");
      source = await overlaySource({ ...r, pixel_map: null }, m);
    }
    if (store.disposed || r !== shown() || m !== v.mode) return;
    viewer.showGrid = !source.image; // grid lines would hide the pixel map's edges
    viewer.setOverlay({ ...source, opacity: v.opacity });
  }

  // Examples the model would label as another class when each is held out: listed, and
  // outlined on the map (never shown silently in the other class's colour).
  function supportCheck(r) {
    const check = r.support_check;
    const flagged = check ? check.disagree.filter((d) => d.image === image.id) : [];
    v.flags = flagged.map((d) => ({ row: d.row, col: d.col, kind: "flag" }));
    corrections.paint();
    if (!check) return "";
    const byIndex = Object.fromEntries(r.classes.map((c) => [c.index, c]));
    const name = (i) => (byIndex[i] ? byIndex[i].name : `class ${i}`);
    if (!check.disagree.length) {
      return h(
        "p",
        { class: "small muted", testid: "support-check" },
        `All ${check.n_checked} examples agree with the model when each is held out.`,
      );
    }
    const n = check.disagree.length;
    return h(
      "div",
      { class: "support-check", testid: "support-check", role: "status" },
      h("strong", {}, `${n} of your ${check.n_examples} examples disagree${n === 1 ? "s" : ""}`),
      " with the model (each held out of its own class). Check them: a wrong example pulls its class.",
      h(
        "ul",
        {},
        check.disagree.map((d) =>
          h(
            "li",
            { testid: "support-disagreement" },
            `chip (${d.row}, ${d.col}) was clicked as ${name(d.class_index)}, looks like `,
            h("strong", {}, name(d.predicted_index)),
            ` (${fmtPct(d.probability)})`,
            d.image !== image.id ? " · on another image" : "",
          ),
        ),
      ),
    );
  }

  // How much the fractions move at half and double the chip size: computed by the job right
  // after the result, so it may arrive a moment later.
  async function showSensitivity(box, r, rows) {
    let sens = r.stats?.chip_size_sensitivity;
    if (!sens && r.job_status === "succeeded" && (r.frame || 0) === 0) {
      box.textContent = "Checking the fractions at half and double the chip size…";
      const gone = () => store.disposed || shown() !== r;
      await poll(
        async () => {
          if (gone()) return true;
          sens = (await api.analysis.result(r.id)).stats?.chip_size_sensitivity;
          return Boolean(sens);
        },
        { every: 1000, tries: 120 },
      ).done;
      if (gone()) return;
    }
    if (!sens) {
      box.textContent = "";
      return;
    }
    if (sens.error) {
      box.textContent = `The chip-size check failed: ${sens.error}`;
      return;
    }
    if (!sens.compared.length) {
      box.textContent =
        "No neighbouring chip size could be checked (too small, too large for the image, or an example class would be lost).";
      return;
    }
    const sizes = sens.compared.map((x) => `${x} px`).join(" and ");
    const worst = sens.max_shift
      .map((m, i) => [m, i])
      .filter(([, i]) => rows[i])
      .sort((a, b) => b[0] - a[0])[0];
    const over = sens.exceeds.map((e, i) => (e && rows[i] ? rows[i].name : null)).filter(Boolean);
    box.classList.toggle("support-check", over.length > 0);
    box.replaceChildren(
      over.length
        ? h(
            "span",
            {},
            h("strong", {}, `Chip size matters here: `),
            `at ${sizes} chips ${over.join(", ")} move${over.length === 1 ? "s" : ""} by more than the interval ` +
              `(up to ${(worst[0] * 100).toFixed(1)} points). Report the chip size with these fractions, or compare sizes.`,
          )
        : `At ${sizes} chips the fractions move by at most ${(worst[0] * 100).toFixed(1)} points, within the intervals.`,
    );
  }

  /** Count, density and size distribution of each class marked as objects. */
  function objectsBox(r, level) {
    const found = r.objects || {};
    const names = Object.keys(found);
    if (!names.length) return "";
    return h(
      "div",
      { testid: "objects" },
      h("h3", {}, "Objects"),
      ...names.map((name) => {
        const d = found[name];
        const c = r.classes.find((x) => x.name === name);
        const u = d.length_unit;
        const ci = d.bootstrap?.intervals ? d.bootstrap.intervals.median : null;
        const density =
          d.number_density === null
            ? "–"
            : `${fmtNum(d.number_density, 3)} per ${d.number_density_unit.replace("1/", "").replace("^2", "²")}`;
        return h(
          "div",
          { class: "objects-class", testid: "objects-class", dataset: { class: name } },
          h(
            "p",
            {},
            h("strong", { testid: "objects-count" }, `${d.n_total} × ${name}`),
            ` · ${d.n_edge} touch the edge (left out of the sizes) · density ${density}`,
          ),
          d.median === null
            ? h("p", { class: "small muted" }, "No particle away from the edge to measure.")
            : h(
                "p",
                { class: "small", testid: "objects-sizes" },
                `Median equivalent diameter ${fmtNum(d.median, 3)} ${u}`,
                ci ? ` (${level} % interval ${fmtNum(ci[0], 3)}–${fmtNum(ci[1], 3)}, particles resampled)` : "",
                ` · mean ${fmtNum(d.mean, 3)} ${u}, s.d. ${fmtNum(d.std, 3)} ${u} · ${d.n_measured} measured`,
              ),
          d.n_measured
            ? histogramChart(d, { colour: c ? colourOf(ws, c) : undefined, title: `${name}: equivalent diameters` })
            : "",
        );
      }),
    );
  }

  function renderResult(r, job) {
    const stats = r.stats || {};
    // Physical areas when the image was calibrated at the time; else the pixel areas.
    const calibrated = Array.isArray(r.areas) && r.areas.length > 0;
    const areas = calibrated ? r.areas : Array.isArray(stats.areas_px) ? stats.areas_px : [];
    const unit = calibrated ? (r.area_unit || stats.area_unit || "px^2").replace("^2", "²") : "px²";
    const std = r.fraction_std?.length ? r.fraction_std : stats.fractions_std_prob || [];
    // The bootstrap's percentile interval: never below 0 or above 1, unlike ± s.d.
    const low = stats.fractions_ci_low || [];
    const high = stats.fractions_ci_high || [];
    const level = Math.round(((stats.interval || stats.bootstrap)?.ci || 0.95) * 100);
    // What the interval covers, in the words of the engine that computed it.
    const covers = stats.interval ? stats.interval.covers : "the choice of support chips only (support resamples)";
    const rows = r.classes.map((c, i) => ({
      name: c.name,
      colour: colourOf(ws, c),
      fraction: r.fractions[i] || 0,
      std: std[i] ?? null,
      lo: low[i] ?? null,
      hi: high[i] ?? null,
      level,
      count: r.counts[i] || 0,
      area: areas[i] ?? null,
    }));
    const hasCi = rows.some((x) => x.lo !== null && x.hi !== null);
    // Areas with ± (half the fraction's interval, times the measured area) in a unit that
    // keeps the numbers readable (µm² rather than 1.41e+5 nm²).
    const shownArea = calibrated ? readableAreaUnit(unit, areas) : { unit, factor: 1 };
    const totalArea = areas.reduce((sum, a) => sum + (a || 0), 0);
    // the value to the decimals of its uncertainty's 2 significant digits (2.25 ± 0.26)
    const areaNum = (a, decimals) =>
      !calibrated
        ? Math.round(a).toLocaleString("en")
        : decimals === undefined
          ? fmtNum(a * shownArea.factor, 3)
          : (a * shownArea.factor).toLocaleString("en", {
              minimumFractionDigits: decimals,
              maximumFractionDigits: decimals,
            });
    // [below, above] the value: the fraction's interval as area (s.d. × 1.96 without one)
    const areaSpread = (x) =>
      x.lo !== null && x.hi !== null
        ? [(x.fraction - Math.max(0, x.lo)) * totalArea, (Math.min(1, x.hi) - x.fraction) * totalArea]
        : x.std !== null
          ? [1.96 * x.std * totalArea, 1.96 * x.std * totalArea]
          : null;
    const areaText = (x) => {
      if (x.area === null) return "–";
      const spread = areaSpread(x);
      if (spread === null || !(Math.max(...spread) > 0)) return areaNum(x.area);
      const [below, above] = spread.map((v) => Math.max(0, v));
      const step = Math.min(below || above, above || below) * shownArea.factor;
      const decimals = Math.min(6, Math.max(0, 1 - Math.floor(Math.log10(step))));
      // ± when the interval is about symmetric; else "+above / −below" (never a negative area)
      const symmetric = Math.abs(above - below) <= 0.25 * Math.max(above, below);
      // each part kept whole; a narrow column breaks the line between them
      const nowrap = (text) => h("span", { class: "nowrap" }, text);
      const plusMinus = symmetric
        ? [nowrap(`± ${areaNum((above + below) / 2, decimals)}`)]
        : [nowrap(`+${areaNum(above, decimals)}`), " / ", nowrap(`−${areaNum(below, decimals)}`)];
      return [areaNum(x.area, decimals), " ", ...plusMinus];
    };
    const areaRange = (x) =>
      x.area === null || x.lo === null || x.hi === null
        ? ""
        : `${level} % interval: ${areaNum(Math.max(0, x.lo) * totalArea)}–${areaNum(Math.min(1, x.hi) * totalArea)} ${shownArea.unit}`;
    const fractionText = (x) =>
      x.lo !== null && x.hi !== null
        ? `${fmtPct(x.fraction)} (${(x.lo * 100).toFixed(1)}–${fmtPct(x.hi)})`
        : `${fmtPct(x.fraction)}${x.std !== null ? ` ± ${fmtPct(x.std)}` : ""}`;

    const opacityInput = h("input", {
      type: "range",
      min: 0,
      max: 100,
      value: Math.round(v.opacity * 100),
      id: "overlay-opacity",
      testid: "overlay-opacity",
      oninput: (ev) => {
        v.opacity = ev.target.value / 100;
        drawOverlay();
      },
    });
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
            drawOverlay();
            legend.replaceChildren(...legendItems());
          },
        }),
        h("span", {}, label),
      );
    const legend = h("div", { class: "legend", testid: "legend" });
    const legendItems = () =>
      v.mode === "confidence" || v.mode === "chip-confidence"
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

    const px = r.pixel_map;
    const table = h(
      "table",
      { class: "stats", testid: "stats-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Class"),
          h("th", { scope: "col" }, "Chips"),
          h(
            "th",
            { scope: "col", title: hasCi ? `${level} % interval; it covers ${covers}` : "" },
            hasCi ? `Fraction (${level} % interval)` : "Fraction",
          ),
          h(
            "th",
            { scope: "col", title: hasCi ? `± or +/−: the fraction's ${level} % interval, as area` : "" },
            `Area (${shownArea.unit})`,
          ),
          px ? h("th", { scope: "col", title: "Share of the pixel map's pixels (no interval)" }, "Pixel map") : null,
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((x, i) =>
          h(
            "tr",
            {},
            h("td", {}, h("span", { class: "swatch", style: { background: x.colour } }), x.name),
            h("td", {}, x.count.toLocaleString()),
            h("td", { testid: "stats-fraction" }, fractionText(x)),
            h("td", { testid: "stats-area", title: areaRange(x) }, areaText(x)),
            px ? h("td", { testid: "stats-pixel-fraction" }, fmtPct(px.fractions[i] || 0)) : null,
          ),
        ),
      ),
    );
    const areaNote = calibrated
      ? null
      : h(
          "p",
          { class: "small muted", testid: "area-note" },
          "Areas are in pixels: the image had no pixel size when this was segmented.",
          image.pixel_size
            ? ` It has one now (${fmtNum(image.pixel_size, 4)} ${image.pixel_unit} / px): segment again for physical areas.`
            : canConsensus
              ? " Curators can set one under “Image metadata” below."
              : "",
        );

    const check = supportCheck(r);
    const pixelNote = px
      ? h(
          "p",
          { class: "small muted", testid: "pixel-map-note" },
          `Pixel map: ${fmtPct(px.uncertain_fraction)} of its pixels are below ${Math.round(px.uncertain_below * 100)} % ` +
            "confidence (see the Confidence view); the chip fractions carry the interval.",
        )
      : "";
    const sensitivityBox = h("p", { class: "small", testid: "chip-size-sensitivity" });
    showSensitivity(sensitivityBox, r, rows);

    const prov = r.provenance || {};
    const model = prov.model_version || prov.model || job?.model_version || null;
    const support = prov.support_set || job?.support_set || null;
    box.replaceChildren(
      h("h3", {}, "Result"),
      h(
        "p",
        { class: "small muted", testid: "result-meta" },
        image.frames > 1 ? `frame ${r.frame || 0} · ` : "",
        `${r.rows} × ${r.cols} chips · mean confidence ${fmtPct(r.mean_confidence)} · ${fmtDate(r.created)}`,
        support?.number
          ? ` · support set v${support.number}${RULES[support.rule] ? ` (${RULES[support.rule]})` : ""}`
          : "",
        r.job_status && r.job_status !== "succeeded"
          ? h(
              "span",
              { testid: "result-partial" },
              ` · from a job that ${r.job_status === "running" || r.job_status === "queued" ? "is still running" : `was ${r.job_status}`}`,
            )
          : null,
        model?.name ? ` · model ${model.name} v${model.version}` : "",
        job?.timings && Object.keys(job.timings).length
          ? h(
              "span",
              { testid: "job-timings" },
              h("br"),
              "worker: ",
              Object.entries(job.timings)
                .filter(([, v]) => typeof v === "number")
                .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
                .join(" · "),
            )
          : null,
      ),
      h(
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
      ),
      corrections.box(r),
      check,
      legend,
      fractionChart(rows, {
        unit,
        title: hasCi
          ? `Class area fractions (${level} % interval)`
          : "Class area fractions (± 1 s.d. over support resamples)",
      }),
      table,
      hasCi
        ? h("p", { class: "small muted", testid: "interval-note" }, `The ${level} % interval covers ${covers}.`)
        : "",
      sensitivityBox,
      pixelNote,
      areaNote || "",
      objectsBox(r, level),
      particles.box(r),
      layersBox(ws, r),
      h("h3", {}, "Export"),
      h(
        "div",
        { class: "exports", testid: "exports" },
        EXPORTS.filter(([kind]) => hasExport(r, kind, frameCount())).map(([kind, label]) =>
          h(
            "a",
            {
              class: "btn btn-small",
              href: api.analysis.exportUrl(r.id, kind),
              download: "",
              testid: `export-${kind}`,
              title: kind === "series.csv" ? `Every frame's table (${frameCount()} frames) in one file` : undefined,
            },
            label,
          ),
        ),
      ),
    );
  }

  return {
    render: renderResult,
    drawOverlay,
    dispose: () => {
      particles.dispose();
      corrections.dispose();
    },
  };
}

// Lengths of the units areas come in, in nm; areas move up to µm² / mm² when they get large.
const NM_PER = { pm: 1e-3, Å: 0.1, nm: 1, µm: 1e3, um: 1e3, mm: 1e6 };

/** The unit to show areas in (from e.g. "nm²") and the factor to multiply them by. */
export function readableAreaUnit(unit, areas) {
  const base = String(unit).replace("²", "");
  if (!(base in NM_PER)) return { unit, factor: 1 };
  const largest = Math.max(0, ...areas.filter((a) => typeof a === "number")) * NM_PER[base] ** 2; // nm²
  const target = largest >= 1e10 ? "mm" : largest >= 1e4 ? "µm" : "nm";
  return { unit: `${target}²`, factor: (NM_PER[base] / NM_PER[target]) ** 2 };
}
