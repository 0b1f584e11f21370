// The results of a dataset: "Segment this dataset" (a batch job over every image), then a table
// with per image its latest result (fractions with their interval, chips, objects), sorted and
// filtered on the server, a CSV of it, and a chart of the mean fraction per class across images.
import * as api from "../api.js";
import { hasRole, labById } from "../state.js";
import { h, clear, debounce, errorBox } from "../ui.js";
import { batchFollower, resumeRunningBatch, segmentForm } from "./dataset-results/batch.js";
import { renderChart } from "./dataset-results/chart.js";
import { renderTable } from "./dataset-results/table.js";

const PAGE = 50;

export async function render(root, { datasetId }) {
  const page = h("div", { class: "page" });
  root.append(page);
  const ds = await api.datasets.get(datasetId);
  const lab = labById(ds.lab);
  const query = { q: "", results: "all", sort: "filename", offset: 0 };
  let stopped = false;

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
    ...heading(ds),
    h("div", { style: { display: "flex", gap: "1rem", flexWrap: "wrap", alignItems: "stretch" } }, batch, chart),
    h("h2", { class: "section-title" }, "Per image"),
    h(
      "div",
      {
        class: "toolbar inline-fields",
        style: { display: "flex", gap: ".6rem", alignItems: "center", marginBottom: ".6rem" },
      },
      ...filterControls(query, () => load()),
      csvLink,
    ),
    table,
    pager,
  );

  // --- Segment this dataset ------------------------------------------------------------
  const follower = batchFollower(batch, { onFinished: () => load(), stopped: () => stopped });
  await segmentForm(batch, ds, hasRole(lab, "annotator"), (job) => follower.follow(job));

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
    renderTable(table, body, { sort: query.sort, onSort });
    renderChart(chart, body.aggregate, body.count);
    renderPager(pager, body, query.offset, (offset) => {
      query.offset = offset;
      load();
    });
  }

  function onSort(sort) {
    query.sort = sort;
    query.offset = 0;
    load();
  }

  await load();
  // a batch of mine still running on this dataset (the page was left and opened again)
  if (hasRole(lab, "annotator")) resumeRunningBatch(ds, follower, () => stopped);
  return () => {
    stopped = true;
    follower.stop();
  };
}

/** The breadcrumb and the title, with links to the dataset's jobs and to what the interval means. */
function heading(ds) {
  return [
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
  ];
}

/** The file-name filter and the with/without-a-result choice; `reload()` after a change. */
function filterControls(query, reload) {
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
      reload();
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
        reload();
      },
    },
    h("option", { value: "all" }, "All images"),
    h("option", { value: "with" }, "With a result"),
    h("option", { value: "without" }, "Without a result"),
  );
  return [filterBox, which];
}

/** Into ``box``: previous and next buttons around "first–last of count"; `onOffset(offset)` pages. */
function renderPager(box, body, offset, onOffset) {
  clear(box).append(
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        disabled: !body.previous,
        testid: "results-prev",
        onclick: () => onOffset(Math.max(0, offset - PAGE)),
      },
      "‹ Previous",
    ),
    h(
      "span",
      { class: "muted", testid: "results-count" },
      ` ${body.count ? offset + 1 : 0}–${offset + body.results.length} of ${body.count} image(s) `,
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        disabled: !body.next,
        testid: "results-next",
        onclick: () => onOffset(offset + PAGE),
      },
      "Next ›",
    ),
  );
}
