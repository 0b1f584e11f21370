// Every segmentation job of mine (or of my labs) across images and datasets, paged, with its
// status, images, dataset, times and duration; refreshed while some are still running.
import * as api from "../api.js";
import { poll } from "../poll.js";
import { h, clear, errorBox, fmtDate, showError, statusPill } from "../ui.js";

const PAGE = 25;
const ACTIVE = ["queued", "running"];

function fmtDuration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export async function render(root, { datasetId }) {
  const page = h("div", { class: "page" });
  root.append(page);
  const query = { who: "me", status: "", offset: 0 };
  let stopped = false;
  let refresh = null;

  const who = h(
    "select",
    {
      testid: "jobs-who",
      "aria-label": "Whose jobs",
      onchange: () => {
        query.who = who.value;
        query.offset = 0;
        load();
      },
    },
    h("option", { value: "me" }, "My jobs"),
    h("option", { value: "lab" }, "Everyone's in my labs"),
  );
  const status = h(
    "select",
    {
      testid: "jobs-status",
      "aria-label": "Status",
      onchange: () => {
        query.status = status.value;
        query.offset = 0;
        load();
      },
    },
    h("option", { value: "" }, "Any status"),
    h("option", { value: "queued,running" }, "Still to finish"),
    ...["succeeded", "failed", "cancelled"].map((s) => h("option", { value: s }, s)),
  );
  const box = h("div", { class: "card table-card", testid: "jobs-box" });
  const pager = h("div", { class: "small", testid: "jobs-pager" });
  page.append(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", { testid: "jobs-heading" }, "Segmentation jobs"),
        h(
          "p",
          { class: "muted small" },
          datasetId
            ? ["On one dataset · ", h("a", { href: "#/jobs" }, "show all")]
            : "Across every image and dataset, newest first.",
        ),
      ),
    ),
    h("div", { style: { display: "flex", gap: ".6rem", marginBottom: ".6rem" } }, who, status),
    box,
    pager,
  );

  function row(j) {
    const single = j.n_images === 1 && j.images.length === 1;
    const images = j.images.map((i, n) => [
      n ? ", " : "",
      h("a", { href: `#/images/${i.id}/history`, testid: "jobs-image" }, i.filename),
    ]);
    const more = j.n_images - j.images.length;
    const open = single
      ? `#/images/${j.images[0].id}/history`
      : j.datasets.length
        ? `#/datasets/${j.datasets[0].id}/results`
        : null;
    const progress =
      ACTIVE.includes(j.status) && j.progress.total
        ? h("span", { class: "muted small", testid: "jobs-progress" }, ` ${Math.round(100 * j.progress.fraction)} %`)
        : null;
    return h(
      "tr",
      { testid: "jobs-row", dataset: { id: j.id, status: j.status } },
      h("td", {}, statusPill(j.status, j.error || undefined), progress),
      h(
        "td",
        {},
        images,
        more > 0 ? h("span", { class: "muted" }, ` and ${more} more`) : null,
        h("div", { class: "muted small" }, `${j.n_images} image(s) · ${j.model_version}`),
      ),
      h(
        "td",
        {},
        j.datasets.map((d, n) => [
          n ? ", " : "",
          h("a", { href: `#/datasets/${d.id}/results`, testid: "jobs-dataset" }, d.title),
        ]),
      ),
      h(
        "td",
        { class: "small" },
        fmtDate(j.created),
        query.who === "lab" ? h("div", { class: "muted" }, j.created_by) : null,
      ),
      h("td", { testid: "jobs-duration" }, fmtDuration(j.duration_s)),
      h(
        "td",
        { class: "actions" },
        open
          ? h("a", { class: "btn btn-small", href: open, testid: "jobs-open" }, single ? "Open image" : "Results table")
          : null,
      ),
    );
  }

  async function load() {
    let body;
    try {
      body = await api.get("segmentation-jobs/overview/", {
        who: query.who,
        status: query.status,
        dataset: datasetId,
        limit: PAGE,
        offset: query.offset,
      });
    } catch (e) {
      clear(box).append(errorBox(e));
      return false;
    }
    if (stopped) return false;
    clear(box).append(
      body.results.length
        ? h(
            "table",
            { class: "data-table", testid: "jobs-table" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Status", "Images", "Dataset", "Created", "Duration", ""].map((t) => h("th", {}, t)),
              ),
            ),
            h("tbody", {}, body.results.map(row)),
          )
        : h(
            "p",
            { class: "pad muted", testid: "jobs-empty" },
            "No job yet. Segment an image, or a whole dataset from its Results page.",
          ),
    );
    clear(pager).append(
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          disabled: !body.previous,
          testid: "jobs-prev",
          onclick: () => {
            query.offset = Math.max(0, query.offset - PAGE);
            load();
          },
        },
        "‹ Newer",
      ),
      h(
        "span",
        { class: "muted", testid: "jobs-count" },
        ` ${body.count ? query.offset + 1 : 0}–${query.offset + body.results.length} of ${body.count} `,
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small",
          disabled: !body.next,
          testid: "jobs-next",
          onclick: () => {
            query.offset += PAGE;
            load();
          },
        },
        "Older ›",
      ),
    );
    if (body.results.some((j) => ACTIVE.includes(j.status)) && !refresh) {
      refresh = poll(
        async () => {
          try {
            return !(await load());
          } catch (e) {
            showError(e);
            return true;
          }
        },
        { every: 3000 },
      );
      refresh.done.finally(() => {
        refresh = null;
      });
    }
    return body.results.some((j) => ACTIVE.includes(j.status));
  }

  await load();
  return () => {
    stopped = true;
    if (refresh) refresh.stop();
  };
}
