// Two results of one image side by side, with the map of chips (or pixels, across grids)
// whose class differs and the change of each class's fraction. #/compare/<image>[/<a>/<b>]
import * as api from "../api.js";
import { go } from "../main.js";
import { h, clear, errorBox, fmtDate, fmtPct, hexToRgb } from "../ui.js";

const SIDE = 400; // px of each panel's long side

export async function render(root, { imageId, a, b }) {
  const page = h("div", { class: "page", style: { maxWidth: "1400px" } });
  root.append(page);
  const image = await api.images.get(imageId);
  const results = await api.analysis.history(imageId);
  page.append(
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/datasets" }, "Datasets"),
      " / ",
      h("a", { href: `#/datasets/${image.dataset}/results` }, "Results"),
      " / ",
      h("a", { href: `#/images/${image.id}/history` }, image.original_filename),
      " / ",
      h("span", {}, "Compare"),
    ),
    h("h1", { testid: "compare-heading" }, `Compare two results of ${image.original_filename}`),
  );
  if (results.length < 2) {
    page.append(
      h(
        "p",
        { class: "muted", testid: "compare-empty" },
        "This image has fewer than two results. Segment it again (e.g. with other examples or options) to compare.",
        " ",
        h("a", { href: `#/images/${image.id}/segment` }, "Open the Segment step"),
      ),
    );
    return;
  }
  const ids = results.map((r) => r.id);
  if (!ids.includes(a) || !ids.includes(b)) {
    a = ids[1];
    b = ids[0];
  } // older vs newest
  const label = (r) => `${fmtDate(r.created)} · job ${r.job.slice(0, 8)}${r.frame ? ` · frame ${r.frame}` : ""}`;
  const picker = (which, value) =>
    h(
      "select",
      {
        testid: `compare-pick-${which}`,
        "aria-label": `Result ${which.toUpperCase()}`,
        onchange: (ev) =>
          go(`#/compare/${imageId}/${which === "a" ? ev.target.value : a}/${which === "b" ? ev.target.value : b}`),
      },
      results.map((r) => h("option", { value: r.id, selected: r.id === value }, label(r))),
    );
  page.append(
    h(
      "div",
      { style: { display: "flex", gap: "1rem", alignItems: "center", flexWrap: "wrap", marginBottom: ".8rem" } },
      h("label", {}, "A ", picker("a", a)),
      h("label", {}, "B ", picker("b", b)),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          testid: "compare-swap",
          onclick: () => go(`#/compare/${imageId}/${b}/${a}`),
        },
        "Swap",
      ),
    ),
  );

  const body = h("div", { testid: "compare-body" }, h("p", { class: "muted" }, "Comparing…"));
  page.append(body);
  let cmp, detailA, detailB, preview;
  try {
    [cmp, detailA, detailB, preview] = await Promise.all([
      api.get(`segmentation-results/${a}/compare/${b}`),
      api.analysis.result(a),
      api.analysis.result(b),
      loadImage(api.images.previewUrl(imageId)),
    ]);
  } catch (e) {
    clear(body).append(errorBox(e));
    return;
  }

  const scale = SIDE / Math.max(image.width, image.height);
  const W = Math.round(image.width * scale),
    H = Math.round(image.height * scale);
  const base = () => {
    const c = h("canvas", { width: W, height: H, style: { width: `${W}px`, height: `${H}px`, background: "#111" } });
    c.getContext("2d").drawImage(preview, 0, 0, W, H);
    return c;
  };
  const overlay = (detail, side, testid) => {
    const c = base();
    const g = c.getContext("2d");
    const cs = side.chip_size * scale,
      [oy, ox] = side.offset;
    detail.labels.forEach((row, r) => {
      row.forEach((k, col) => {
        const [R, G, B] = hexToRgb(detail.classes[k]?.colour);
        g.fillStyle = `rgba(${R},${G},${B},0.45)`;
        g.fillRect(ox * scale + col * cs, oy * scale + r * cs, cs, cs);
      });
    });
    c.dataset.testid = testid;
    c.setAttribute("data-testid", testid);
    return c;
  };
  const diff = base();
  diff.setAttribute("data-testid", "compare-diff");
  {
    const g = diff.getContext("2d");
    g.fillStyle = "rgba(0,0,0,0.35)";
    g.fillRect(0, 0, W, H);
    const m = cmp.map,
      cell = m.cell_px * scale,
      [oy, ox] = m.origin;
    let n = 0;
    m.values.forEach((row, r) => {
      row.forEach((v, col) => {
        if (v === 1) {
          g.fillStyle = "rgba(255,0,200,0.8)";
          n++;
        } else if (v === -1) g.fillStyle = "rgba(128,128,128,0.5)";
        else return;
        g.fillRect(ox * scale + col * cell, oy * scale + r * cell, Math.max(cell, 1), Math.max(cell, 1));
      });
    });
    diff.dataset.cells = n;
  }
  const unit = cmp.level === "chip" ? "chips" : "pixels";
  const figure = (title, canvas, note) =>
    h(
      "figure",
      { class: "card", style: { margin: 0, padding: ".6rem" } },
      h(
        "figcaption",
        { class: "small", style: { marginBottom: ".3rem" } },
        h("strong", {}, title),
        note ? h("span", { class: "muted" }, ` · ${note}`) : null,
      ),
      canvas,
    );
  const side = (s) => `${s.model_version} · support set v${s.support_set.number} · ${s.chip_size} px`;
  const deltaCell = (d) =>
    d === null
      ? h("td", { class: "muted" }, "–")
      : h(
          "td",
          {
            testid: "compare-delta",
            dataset: { delta: d },
            style: { color: Math.abs(d) < 0.005 ? "inherit" : d > 0 ? "#1b7a3a" : "#b3261e" },
          },
          `${d > 0 ? "+" : d < 0 ? "−" : "±"}${(Math.abs(d) * 100).toFixed(1)} pp`,
        );
  const classes = cmp.classes;
  clear(body).append(
    h(
      "p",
      { testid: "compare-summary", dataset: { differing: cmp.differing, compared: cmp.compared, level: cmp.level } },
      h("strong", {}, `${cmp.differing.toLocaleString()} of ${cmp.compared.toLocaleString()} ${unit} differ`),
      ` (${fmtPct(cmp.differing_fraction)})`,
      cmp.level === "pixel"
        ? h(
            "span",
            { class: "muted small" },
            " — the results are on different grids, so their chips are compared on the image's pixels where both cover it.",
          )
        : null,
    ),
    h(
      "div",
      { style: { display: "flex", gap: ".8rem", flexWrap: "wrap", alignItems: "flex-start" } },
      figure("A", overlay(detailA, cmp.a, "compare-a"), side(cmp.a)),
      figure("B", overlay(detailB, cmp.b, "compare-b"), side(cmp.b)),
      figure("Where they differ", diff, "magenta: another class; grey: not covered by both"),
    ),
    h("h2", { class: "section-title" }, "Fractions"),
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "data-table", testid: "compare-fractions" },
        h("thead", {}, h("tr", {}, h("th", {}, "Class"), h("th", {}, "A"), h("th", {}, "B"), h("th", {}, "B − A"))),
        h(
          "tbody",
          {},
          classes.map((c) =>
            h(
              "tr",
              { testid: "compare-class", dataset: { class: c.name } },
              h("td", {}, h("span", { class: "swatch", style: { background: c.colour || "#888" } }), c.name),
              h("td", {}, c.in_a ? fmtPct(c.fraction_a) : "not a class"),
              h("td", {}, c.in_b ? fmtPct(c.fraction_b) : "not a class"),
              deltaCell(c.delta),
            ),
          ),
        ),
      ),
    ),
    h("h2", { class: "section-title" }, `Where the ${unit} went`),
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "data-table", testid: "compare-confusion" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "A ↓ · B →"),
            classes.map((c) => h("th", {}, c.name)),
          ),
        ),
        h(
          "tbody",
          {},
          classes.map((c, i) =>
            h(
              "tr",
              {},
              h("th", {}, c.name),
              cmp.confusion[i].map((n, j) =>
                h("td", { style: { fontWeight: i === j ? "600" : "400" } }, n.toLocaleString()),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("The preview of the image could not be loaded."));
    img.src = src;
  });
}
