// Search: words and filters over the images you may see (your labs' and public ones), with
// facets (instrument, licence, class, tag, dataset). The query lives in the hash
// (#/search?q=…&instrument=…), so a search can be bookmarked and the Back button works.
import * as api from "../api.js";
import { go } from "../main.js";
import { h, append, clear, errorBox, fmtNum, showError } from "../ui.js";

const FACETS = [
  ["instrument", "Instrument"],
  ["class_name", "Class"],
  ["tag", "Tag"],
  ["licence", "Licence"],
  ["dataset", "Dataset"],
];
// range filters: [parameter, label, input type]
const RANGES = [
  ["voltage", "Voltage (kV)", "number"],
  ["magnification", "Magnification", "number"],
  ["pixel_size", "Pixel size (nm)", "number"],
];
const PAGE = 20;

let active = null; // {run(params)} of the mounted view

const parse = (query) => new URLSearchParams(query || "");

export function update({ query }) {
  if (!active) return false;
  active.run(parse(query));
  return true;
}

export async function render(root, { query }) {
  const page = h("div", { class: "page", testid: "search-page" });
  root.append(page);
  const q = h("input", {
    type: "search",
    id: "search-q",
    testid: "search-q",
    maxlength: 200,
    placeholder: "Words: instrument, class, tag, title, file name…",
    style: { flex: "1", minWidth: "16rem" },
    "aria-label": "Search words",
  });
  const ranges = {};
  const rangeFields = RANGES.map(([name, label]) => {
    ranges[`${name}_min`] = h("input", {
      type: "number",
      min: 0,
      step: "any",
      class: "num",
      testid: `search-${name}-min`,
      "aria-label": `${label}, at least`,
      style: { width: "7rem" },
    });
    ranges[`${name}_max`] = h("input", {
      type: "number",
      min: 0,
      step: "any",
      class: "num",
      testid: `search-${name}-max`,
      "aria-label": `${label}, at most`,
      style: { width: "7rem" },
    });
    return h(
      "div",
      { class: "inline-fields" },
      h("span", { style: { width: "9rem" } }, label),
      ranges[`${name}_min`],
      "–",
      ranges[`${name}_max`],
    );
  });
  ranges.acquired_from = h("input", { type: "date", testid: "search-acquired-from", "aria-label": "Acquired from" });
  ranges.acquired_to = h("input", { type: "date", testid: "search-acquired-to", "aria-label": "Acquired to" });
  const more = h(
    "details",
    { class: "search-more", testid: "search-more" },
    h("summary", {}, "More filters"),
    rangeFields,
    h(
      "div",
      { class: "inline-fields" },
      h("span", { style: { width: "9rem" } }, "Acquired"),
      ranges.acquired_from,
      "–",
      ranges.acquired_to,
    ),
  );
  const form = h(
    "form",
    {
      role: "search",
      testid: "search-form",
      style: { marginBottom: "1rem" },
      onsubmit: (ev) => {
        ev.preventDefault();
        submit(new URLSearchParams());
      },
    },
    h(
      "div",
      { class: "inline-fields" },
      q,
      h("button", { type: "submit", class: "btn btn-primary", testid: "search-submit" }, "Search"),
    ),
    more,
  );
  const facetsBox = h("aside", {
    testid: "search-facets",
    "aria-label": "Filters",
    style: { display: "flex", flexDirection: "column", gap: "1rem" },
  });
  const summary = h("p", { class: "muted", testid: "search-summary", "aria-live": "polite" });
  const results = h("ol", {
    testid: "search-results",
    "aria-busy": "true",
    style: { listStyle: "none", padding: 0, margin: 0, display: "flex", flexDirection: "column", gap: ".5rem" },
  });
  const pager = h("div", { class: "inline-fields", testid: "search-pager" });
  page.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Search"), h("p", { class: "muted" }, "Images of your labs and public datasets.")),
    ),
    form,
    h(
      "div",
      { style: { display: "grid", gridTemplateColumns: "16rem 1fr", gap: "1.5rem", alignItems: "start" } },
      facetsBox,
      h("section", { "aria-label": "Results" }, summary, results, pager),
    ),
  );

  let current = parse(query);
  let seq = 0;

  /** The form's words and ranges, with the facet choices kept from ``keep``. */
  function submit(keep) {
    const next = new URLSearchParams();
    if (q.value.trim()) next.set("q", q.value.trim());
    for (const [name, input] of Object.entries(ranges)) if (input.value) next.set(name, input.value);
    for (const [name] of FACETS) for (const v of current.getAll(name)) next.append(name, v);
    for (const [k, v] of keep) next.append(k, v);
    navigate(next);
  }
  function navigate(next) {
    next.delete("offset");
    // busy before the address changes: the old results never stand under the new address
    results.setAttribute("aria-busy", "true");
    go(`#/search${next.toString() ? `?${next}` : ""}`);
  }
  function toggle(name, value, on) {
    const next = new URLSearchParams(current);
    const values = next.getAll(name).filter((v) => v !== value);
    next.delete(name);
    for (const v of on ? [...values, value] : values) next.append(name, v);
    navigate(next);
  }

  async function run(params) {
    current = params;
    const my = ++seq;
    q.value = params.get("q") || "";
    for (const [name, input] of Object.entries(ranges)) input.value = params.get(name) || "";
    if (Object.keys(ranges).some((n) => params.get(n))) more.open = true;
    results.setAttribute("aria-busy", "true");
    const offset = Number(params.get("offset")) || 0;
    const ask = new URLSearchParams(params);
    ask.set("limit", PAGE);
    let body;
    try {
      body = await api.get(`search/?${ask}`);
    } catch (e) {
      if (my !== seq) return;
      results.removeAttribute("aria-busy");
      clear(results).append(h("li", {}, errorBox(e)));
      clear(facetsBox);
      clear(pager);
      summary.textContent = "";
      showError(e, "Searching");
      return;
    }
    if (my !== seq) return;
    results.removeAttribute("aria-busy");
    summary.textContent = body.count
      ? `${body.count} image${body.count === 1 ? "" : "s"}${body.count > PAGE ? `, ${offset + 1}–${offset + body.results.length} shown` : ""}`
      : "No image matches. Remove a filter or use fewer words.";
    append(clear(results), body.results.map(resultItem));
    append(
      clear(facetsBox),
      FACETS.map(([name, label]) => facet(name, label, body.facets[name] || [], params)),
    );
    clear(pager);
    const to = (off) => {
      const n = new URLSearchParams(params);
      n.set("offset", off);
      results.setAttribute("aria-busy", "true");
      go(`#/search?${n}`);
    };
    if (offset > 0)
      pager.append(
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            testid: "search-prev",
            onclick: () => to(Math.max(0, offset - PAGE)),
          },
          "← Previous",
        ),
      );
    if (body.next)
      pager.append(
        h(
          "button",
          { type: "button", class: "btn btn-small", testid: "search-next", onclick: () => to(offset + PAGE) },
          "Next →",
        ),
      );
  }

  function facet(name, label, values, params) {
    const chosen = params.getAll(name);
    const box = h(
      "fieldset",
      { class: "card", testid: `facet-${name}`, style: { padding: ".5rem .75rem", margin: 0 } },
      h("legend", { class: "small", style: { fontWeight: 600 } }, label),
    );
    // a chosen value stays offered even where nothing else matches it
    const shown = [...values];
    for (const v of chosen) if (!shown.some((x) => x.value === v)) shown.push({ value: v, count: 0 });
    if (!shown.length) box.append(h("p", { class: "muted small", style: { margin: 0 } }, "—"));
    for (const item of shown) {
      const tick = h("input", {
        type: "checkbox",
        props: { checked: chosen.includes(item.value) },
        dataset: { value: item.value },
        onchange: (ev) => toggle(name, item.value, ev.target.checked),
      });
      box.append(
        h(
          "label",
          {
            class: "small",
            testid: `facet-${name}-option`,
            style: { display: "flex", gap: ".4rem", alignItems: "center" },
          },
          tick,
          h("span", { style: { flex: "1" } }, item.label || item.value),
          h("span", { class: "muted", testid: "facet-count" }, String(item.count)),
        ),
      );
    }
    return box;
  }

  active = { run };
  await run(current);
  return () => {
    active = null;
  };
}

function resultItem(r) {
  const inst = r.instrument || {};
  const facts = [
    inst.microscope,
    inst.voltage_kv != null ? `${fmtNum(inst.voltage_kv, 4)} kV` : null,
    inst.magnification != null ? `${Number(inst.magnification).toLocaleString("en")}×` : null,
    r.pixel_size ? `${fmtNum(r.pixel_size, 3)} ${r.pixel_unit}/px` : null,
    inst.acquired_at ? String(inst.acquired_at).slice(0, 10) : null,
  ].filter(Boolean);
  return h(
    "li",
    {},
    h(
      "a",
      {
        class: "card",
        href: `#/images/${r.id}`,
        testid: "search-result",
        dataset: { id: r.id },
        style: {
          display: "flex",
          gap: ".75rem",
          padding: ".5rem",
          alignItems: "center",
          color: "inherit",
          textDecoration: "none",
        },
      },
      r.links.thumbnail
        ? h("img", {
            src: r.links.thumbnail,
            alt: "",
            loading: "lazy",
            width: 64,
            height: 64,
            style: { objectFit: "cover", borderRadius: "4px" },
          })
        : h("span", {
            "aria-hidden": "true",
            style: { width: "64px", height: "64px", background: "#e3e7ec", borderRadius: "4px" },
          }),
      h(
        "div",
        {},
        h("div", { testid: "search-result-name", style: { fontWeight: 600 } }, r.original_filename),
        h("div", { class: "muted small" }, `${r.dataset.title} · ${r.dataset.lab_name} · ${r.dataset.licence}`),
        facts.length ? h("div", { class: "small", testid: "search-result-facts" }, facts.join(" · ")) : null,
        r.tags.length
          ? h(
              "div",
              { class: "small" },
              r.tags.map((t) => h("span", { class: "pill pill-alias" }, t)),
            )
          : null,
      ),
    ),
  );
}
