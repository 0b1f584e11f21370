// The results of a dataset: "Segment this dataset" (a batch job over every image), then a table
// with per image its latest result (fractions with their interval, chips, objects), sorted and
// filtered on the server, a CSV of it, and a chart of the mean fraction per class across images.
import * as api from "../api.js";
import { poll } from "../poll.js";
import { hasRole, labById } from "../state.js";
import {
  h,
  s,
  append,
  clear,
  debounce,
  errorBox,
  fmtDate,
  fmtPct,
  showError,
  statusPill,
  toast,
  whileBusy,
} from "../ui.js";

const PAGE = 50;
const LINKLIKE = {
  background: "none",
  border: "0",
  padding: "0",
  font: "inherit",
  fontWeight: "550",
  color: "inherit",
  cursor: "pointer",
  textAlign: "left",
};

export async function render(root, { datasetId }) {
  const page = h("div", { class: "page" });
  root.append(page);
  const ds = await api.datasets.get(datasetId);
  const lab = labById(ds.lab);
  const query = { q: "", results: "all", sort: "filename", offset: 0 };
  let stopped = false;
  let follow = null; // polling the batch job

  const filterBox = h("input", {
    type: "search",
    class: "input",
    placeholder: "File name contains…",
    "aria-label": "Filter by file name",
    testid: "results-filter",
  });
  filterBox.addEventListener(
    "input",
    debounce(() => {
      query.q = filterBox.value.trim();
      query.offset = 0;
      load();
    }, 300),
  );
  const which = h(
    "select",
    {
      "aria-label": "Which images",
      testid: "results-which",
      onchange: () => {
        query.results = which.value;
        query.offset = 0;
        load();
      },
    },
    h("option", { value: "all" }, "All images"),
    h("option", { value: "with" }, "With a result"),
    h("option", { value: "without" }, "Without a result"),
  );
  const csvLink = h("a", { class: "btn btn-small", testid: "results-csv", download: "" }, "Download CSV");
  const table = h("div", { class: "card table-card", testid: "results-table-box" });
  const pager = h("div", { class: "pager small", testid: "results-pager" });
  const chart = h("figure", {
    class: "card",
    testid: "results-chart",
    style: { flex: "2 1 520px", margin: "0", padding: "1rem 1.2rem" },
  });
  const batch = h("section", {
    class: "card",
    testid: "segment-dataset-box",
    style: { flex: "1 1 320px", padding: "1rem 1.2rem" },
  });

  page.append(
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/datasets" }, "Datasets"),
      " / ",
      h("a", { href: `#/datasets/${ds.id}` }, ds.title),
      " / ",
      h("span", {}, "Results"),
    ),
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", { testid: "results-heading" }, `Results of ${ds.title}`),
        h(
          "p",
          { class: "muted small" },
          "Per image the latest finished result (first frame). ",
          h("a", { href: `#/jobs?dataset=${ds.id}` }, "Jobs on this dataset"),
          " · ",
          h("a", { href: "#/help/results", target: "_blank", rel: "noopener" }, "What the interval means"),
        ),
      ),
    ),
    h("div", { style: { display: "flex", gap: "1rem", flexWrap: "wrap", alignItems: "stretch" } }, batch, chart),
    h("h2", { class: "section-title" }, "Per image"),
    h(
      "div",
      {
        class: "toolbar inline-fields",
        style: { display: "flex", gap: ".6rem", alignItems: "center", marginBottom: ".6rem" },
      },
      filterBox,
      which,
      csvLink,
    ),
    table,
    pager,
  );

  // --- Segment this dataset ------------------------------------------------------------
  await segmentForm(batch, ds, hasRole(lab, "annotator"), (job) => followJob(job));

  function followJob(job) {
    if (follow) follow.stop();
    const line = batch.querySelector("[data-testid=batch-job]") || h("p", { class: "small", testid: "batch-job" });
    batch.append(line);
    const show = (j) => {
      clear(line).append(
        statusPill(j.status),
        " ",
        h(
          "span",
          { testid: "batch-progress" },
          `${j.progress.done} / ${j.progress.total} chips${j.progress.stage ? ` · ${j.progress.stage}` : ""}`,
        ),
        " · ",
        h("a", { href: "#/jobs" }, "All my jobs"),
      );
      line.dataset.status = j.status;
      line.dataset.job = j.id;
      // one batch at a time from this page: the button waits for the running one
      const button = batch.querySelector("button[data-testid=segment-dataset]");
      if (button) button.disabled = ["queued", "running"].includes(j.status);
    };
    show(job);
    follow = poll(
      async () => {
        try {
          const j = await api.analysis.job(job.id);
          if (stopped) return true;
          show(j);
          if (["queued", "running"].includes(j.status)) return false;
          if (j.status === "failed") toast(`The batch job failed: ${j.error || "no reason given"}`, "error");
          else if (j.status === "succeeded") toast("The dataset is segmented.", "ok");
          await load();
          return true;
        } catch (e) {
          showError(e, "Following the batch job");
          return true;
        }
      },
      { every: 2000, first: 700, grow: 1.3 },
    );
  }

  // --- the table -----------------------------------------------------------------------
  async function load() {
    const params = { q: query.q, results: query.results, sort: query.sort };
    csvLink.href = `/api/datasets/${ds.id}/results.csv?${new URLSearchParams(params)}`;
    let body;
    try {
      body = await api.get(`datasets/${ds.id}/results/`, { ...params, limit: PAGE, offset: query.offset });
    } catch (e) {
      clear(table).append(errorBox(e));
      return;
    }
    if (stopped) return;
    renderTable(body);
    renderChart(body.aggregate, body.count);
    clear(pager).append(
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          disabled: !body.previous,
          testid: "results-prev",
          onclick: () => {
            query.offset = Math.max(0, query.offset - PAGE);
            load();
          },
        },
        "‹ Previous",
      ),
      h(
        "span",
        { class: "muted", testid: "results-count" },
        ` ${body.count ? query.offset + 1 : 0}–${query.offset + body.results.length} of ${body.count} image(s) `,
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          disabled: !body.next,
          testid: "results-next",
          onclick: () => {
            query.offset += PAGE;
            load();
          },
        },
        "Next ›",
      ),
    );
  }

  function sortHeader(label, key, attrs = {}) {
    const on = query.sort.replace(/^-/, "") === key;
    const desc = on && query.sort.startsWith("-");
    return h(
      "th",
      { "aria-sort": on ? (desc ? "descending" : "ascending") : "none", ...attrs },
      h(
        "button",
        {
          type: "button",
          class: "linklike",
          testid: "sort",
          dataset: { key },
          style: LINKLIKE,
          title: "Sort by this column (again: reverse)",
          onclick: () => {
            query.sort = on && !desc ? `-${key}` : key;
            query.offset = 0;
            load();
          },
        },
        label,
        on ? (desc ? " ▼" : " ▲") : "",
      ),
    );
  }

  function renderTable(body) {
    const objectClasses = body.classes.filter((c) =>
      body.results.some((r) => r.classes.some((k) => k.name === c.name && k.objects !== null)),
    );
    const swatch = (colour) =>
      h("span", {
        class: "swatch",
        style: {
          display: "inline-block",
          width: ".7em",
          height: ".7em",
          background: colour || "#888",
          marginRight: ".3em",
          borderRadius: "2px",
        },
      });
    const head = h(
      "tr",
      {},
      sortHeader("Image", "filename"),
      sortHeader("Result", "created"),
      ...body.classes.map((c) =>
        sortHeader([swatch(c.colour), c.name], `fraction:${c.name}`, { dataset: { class: c.name } }),
      ),
      ...objectClasses.map((c) => sortHeader(`${c.name} objects`, `objects:${c.name}`)),
      sortHeader("Mean confidence", "confidence"),
      h("th", {}, ""),
    );
    const rows = body.results.map((r) => {
      const byName = Object.fromEntries(r.classes.map((k) => [k.name, k]));
      const fraction = (k) => {
        if (!k) return h("td", { class: "muted" }, "–");
        const interval =
          k.fraction_ci_low !== null
            ? ` (${fmtPct(k.fraction_ci_low)}–${fmtPct(k.fraction_ci_high)})`
            : k.fraction_std !== null
              ? ` ± ${fmtPct(k.fraction_std)}`
              : "";
        return h(
          "td",
          {
            testid: "cell-fraction",
            dataset: { class: k.name, value: k.fraction },
            title: `${k.chips} chips · ${r.interval}`,
          },
          fmtPct(k.fraction),
          h("span", { class: "muted small" }, interval),
        );
      };
      return h(
        "tr",
        { testid: "results-row", dataset: { image: r.image, result: r.result || "" } },
        h(
          "td",
          {},
          h("a", { href: `#/images/${r.image}/history`, testid: "results-image" }, r.filename),
          r.status !== "ready" ? [" ", statusPill(r.status)] : null,
        ),
        h(
          "td",
          { class: "small" },
          r.result
            ? [fmtDate(r.created), h("br"), h("span", { class: "muted" }, r.model_version)]
            : h("span", { class: "muted" }, "no result yet"),
        ),
        ...body.classes.map((c) => fraction(byName[c.name])),
        ...objectClasses.map((c) => h("td", { testid: "cell-objects" }, byName[c.name]?.objects ?? "–")),
        h("td", {}, r.mean_confidence === null ? "–" : fmtPct(r.mean_confidence)),
        h(
          "td",
          { class: "actions" },
          r.result
            ? h("a", { class: "btn btn-small", href: `#/compare/${r.image}`, testid: "results-compare" }, "Compare")
            : null,
        ),
      );
    });
    const interval = body.results.find((r) => r.interval)?.interval;
    append(clear(table), [
      h("table", { class: "data-table", testid: "results-table" }, h("thead", {}, head), h("tbody", {}, rows)),
      rows.length ? null : h("p", { class: "pad muted", testid: "results-empty" }, "No image matches."),
      interval
        ? h("p", { class: "muted small", style: { padding: ".5rem .75rem" } }, `In brackets: ${interval}.`)
        : null,
    ]);
  }

  function renderChart(aggregate, count) {
    clear(chart).append(h("h2", { style: { margin: "0 0 .4rem", fontSize: "1.05rem" } }, "Mean fraction per class"));
    const shown = aggregate.filter((a) => a.n_images);
    if (!shown.length) {
      chart.append(h("p", { class: "muted", testid: "chart-empty" }, "No results yet: segment the dataset first."));
      return;
    }
    const W = 560,
      H = 200,
      left = 48,
      bottom = 40,
      top = 10;
    const band = (W - left - 10) / shown.length;
    const y = (v) => top + (1 - v) * (H - top - bottom);
    const svg = s("svg", {
      viewBox: `0 0 ${W} ${H}`,
      width: "100%",
      role: "img",
      style: { maxWidth: `${W}px` },
      "aria-label": "Mean fraction per class across images, with the spread",
    });
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      svg.append(
        s("line", { x1: left, x2: W - 10, y1: y(t), y2: y(t), stroke: "#e3e6ea" }),
        s("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6470" }, `${t * 100} %`),
      );
    }
    shown.forEach((a, i) => {
      const x = left + i * band + band * 0.2,
        w = band * 0.6,
        cx = x + w / 2;
      const lo = Math.max(0, a.mean - a.sd),
        hi = Math.min(1, a.mean + a.sd);
      svg.append(
        s(
          "rect",
          {
            class: "bar",
            x,
            y: y(a.mean),
            width: w,
            height: y(0) - y(a.mean),
            fill: a.colour || "#888",
            "data-testid": "aggregate-bar",
            "data-class": a.name,
            "data-mean": a.mean,
            "data-sd": a.sd,
          },
          s(
            "title",
            {},
            `${a.name}: mean ${fmtPct(a.mean)} ± ${fmtPct(a.sd)} (s.d.) over ${a.n_images} image(s); min ${fmtPct(a.min)}, max ${fmtPct(a.max)}`,
          ),
        ),
        s("line", { x1: cx, x2: cx, y1: y(hi), y2: y(lo), stroke: "#222", "stroke-width": 1.5 }),
        s("line", { x1: cx - 6, x2: cx + 6, y1: y(hi), y2: y(hi), stroke: "#222", "stroke-width": 1.5 }),
        s("line", { x1: cx - 6, x2: cx + 6, y1: y(lo), y2: y(lo), stroke: "#222", "stroke-width": 1.5 }),
        s("circle", { cx: cx + w / 2 - 4, cy: y(a.min), r: 2.5, fill: "#222" }),
        s("circle", { cx: cx + w / 2 - 4, cy: y(a.max), r: 2.5, fill: "#222" }),
        s("text", { x: cx, y: H - bottom + 16, "text-anchor": "middle", "font-size": 12, fill: "#222" }, a.name),
        s(
          "text",
          { x: cx, y: H - bottom + 30, "text-anchor": "middle", "font-size": 11, fill: "#5b6470" },
          `${fmtPct(a.mean)} · n=${a.n_images}`,
        ),
      );
    });
    chart.append(
      svg,
      h(
        "figcaption",
        { class: "muted small" },
        `Bars: mean fraction over the ${count} image(s) shown by the filters that have a result; whiskers: ± 1 s.d. across images; dots: smallest and largest image.`,
      ),
    );
  }

  await load();
  // a batch of mine still running on this dataset (the page was left and opened again)
  if (hasRole(lab, "annotator")) {
    api
      .get("segmentation-jobs/overview/", { dataset: ds.id, status: "queued,running", limit: 1 })
      .then((page) => {
        if (!stopped && page.results.length && page.results[0].n_images > 1) followJob(page.results[0]);
      })
      .catch((e) => showError(e, "Looking for running jobs"));
  }
  return () => {
    stopped = true;
    if (follow) follow.stop();
  };
}

/** The "Segment this dataset" form: one job over every image, with the dataset's schema and
 * either your current examples (frozen now) or a frozen support-set version. */
async function segmentForm(box, ds, canRun, onJob) {
  box.append(h("h2", { style: { margin: "0 0 .4rem", fontSize: "1.05rem" } }, "Segment this dataset"));
  if (!canRun) {
    box.append(
      h(
        "p",
        { class: "muted small", testid: "segment-dataset-note" },
        "Annotators, curators and owners of the lab run segmentations.",
      ),
    );
    return;
  }
  let schemas = [];
  try {
    schemas = await api.labeling.schemas(ds.id);
  } catch (e) {
    box.append(errorBox(e));
    return;
  }
  const choice = h("select", { testid: "segment-dataset-source", "aria-label": "Support set" });
  for (const schema of schemas) {
    const label = schema.name || "Default classes";
    choice.append(h("option", { value: `schema:${schema.id}` }, `${label}: my current examples`));
    let versions = [];
    try {
      versions = await api.labeling.versions(schema.id);
    } catch {
      /* none readable */
    }
    for (const v of versions) {
      choice.append(
        h(
          "option",
          { value: `version:${v.id}` },
          `${label}: support set v${v.number} (${v.rule.replace("_", " ")}, ${v.chip_size} px)`,
        ),
      );
    }
  }
  if (!schemas.length) {
    box.append(h("p", { class: "muted small" }, "Label some chips of an image first (open an image of this dataset)."));
    return;
  }
  const button = h(
    "button",
    { type: "button", class: "btn btn-primary", testid: "segment-dataset" },
    "Segment this dataset",
  );
  button.onclick = () =>
    whileBusy(button, async () => {
      const [kind, id] = choice.value.split(":");
      const body = kind === "schema" ? { schema: id, rule: "single_owner" } : { support_set: id };
      try {
        const job = await api.analysis.createJob({ ...body, images: { dataset: ds.id } });
        toast(`Segmenting ${job.images.length} image(s).`, "info");
        onJob(job);
      } catch (e) {
        showError(e, "Segment this dataset");
      }
    });
  box.append(
    h(
      "p",
      { class: "muted small" },
      "Every ready image of the dataset is segmented with the examples you choose, on their chip size; each gets a new result.",
    ),
    h(
      "div",
      { class: "inline-fields", style: { display: "flex", gap: ".6rem", alignItems: "center", flexWrap: "wrap" } },
      choice,
      button,
    ),
  );
}
