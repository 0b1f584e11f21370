// Curator review: agreement per annotator (with the consensus and with hidden gold chips), per
// chip, and a queue of contested chips to accept or reject.
import * as api from "../api.js";
import { currentLab, hasRole } from "../state.js";
import { h, clear, errorBox, showError, toast } from "../ui.js";
import { cropCanvas } from "../crops.js";
import { loadPreview } from "../preview-loader.js";

const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`);

export async function render(root) {
  const lab = currentLab();
  const page = h("div", { class: "page review-page" });
  root.append(page);
  page.append(
    h("h1", {}, "Curator review"),
    h(
      "p",
      { class: "muted" },
      "How well annotators agree with each other and with the hidden gold chips, and the chips they disagree on. ",
      "Accept a chip's class or reject it: your decision is recorded as your vote, and the chip comes back if someone votes on it again.",
    ),
  );
  if (!lab) {
    page.append(h("p", { class: "muted" }, "Join a lab to review its labels."));
    return;
  }
  if (!hasRole(lab, "curator")) {
    page.append(
      h(
        "p",
        { class: "muted", testid: "review-read-only" },
        `Reviewing is for the curators and owners of ${lab.name}. Gold accuracy is shown to annotators only as their own, after every 10 gold answers.`,
      ),
    );
    return;
  }

  const datasetSelect = h("select", { id: "review-dataset", testid: "review-dataset" });
  const summary = h("div", { class: "review-summary", testid: "review-summary" });
  const people = h("div", { class: "card", testid: "review-annotators" });
  const queue = h("div", { class: "review-queue", testid: "review-queue" });
  const perChip = h("details", { class: "card", testid: "review-per-chip" });
  page.append(
    h(
      "div",
      { class: "inline-fields", style: { marginBottom: "1rem" } },
      h("label", { for: "review-dataset" }, "Dataset"),
      datasetSelect,
    ),
    summary,
    h("h2", {}, "Annotators"),
    people,
    h("h2", {}, "Contested chips"),
    queue,
    perChip,
  );

  const datasets = await api.datasets.list(lab.id);
  if (!datasets.length) {
    summary.append(h("p", { class: "muted" }, "This lab has no datasets yet."));
    return;
  }
  const remembered = localStorage.getItem("chiplab.review.dataset");
  for (const ds of datasets)
    datasetSelect.append(h("option", { value: ds.id, selected: ds.id === remembered }, ds.title));
  datasetSelect.addEventListener("change", () => {
    localStorage.setItem("chiplab.review.dataset", datasetSelect.value);
    load();
  });

  let stopped = false;
  let classes = new Map(); // id -> {name, colour}
  let images = new Map(); // id -> file name
  let contested = 0;
  const name = (id) => classes.get(id)?.name || "removed class";
  const swatch = (id) => h("span", { class: "swatch", style: { background: classes.get(id)?.colour || "#999" } });

  async function load() {
    for (const el of [summary, people, queue, perChip]) clear(el);
    summary.append(h("p", { class: "muted" }, "Loading…"));
    try {
      const schemas = await api.labeling.schemas(datasetSelect.value);
      const schema = schemas.find((s) => s.is_default) || schemas[0];
      if (!schema) {
        clear(summary).append(
          h("p", { class: "muted", testid: "review-empty" }, "Nobody has defined classes for this dataset yet."),
        );
        return;
      }
      classes = new Map((schema.classes || []).map((c) => [c.id, c]));
      const [report, review, files] = await Promise.all([
        api.labeling.agreement(schema.id),
        api.labeling.reviewQueue(schema.id, { limit: 50 }),
        api.datasets.images(datasetSelect.value),
      ]);
      images = new Map(files.map((img) => [img.id, img.original_filename]));
      if (stopped) return;
      contested = review.contested;
      renderSummary(report);
      renderPeople(report);
      renderQueue(schema, review);
      renderPerChip(report);
    } catch (e) {
      clear(summary).append(errorBox(e));
      showError(e, "Loading the review");
    }
  }

  function renderSummary(report) {
    clear(summary).append(
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Agreement"),
        h("dd", { testid: "review-overall" }, pct(report.overall)),
        h("dt", {}, "Chips rated"),
        h("dd", {}, String(report.per_chip.length)),
        h("dt", {}, "Gold chips"),
        h("dd", { testid: "review-gold-chips" }, String(report.gold_chips)),
        h("dt", {}, "Contested"),
        h("dd", { testid: "review-contested" }, String(contested)),
      ),
    );
  }

  function renderPeople(report) {
    const sorted = [...report.annotators].sort((x, y) => (x.username || "").localeCompare(y.username || ""));
    const rows = sorted.map((a) =>
      h(
        "tr",
        { testid: "review-annotator" },
        h("td", {}, a.username || a.user.slice(0, 8)),
        h("td", { class: "num" }, pct(a.agreement_with_consensus)),
        h("td", { class: "num" }, String(a.consensus_chips)),
        h("td", { class: "num", testid: "review-gold-accuracy" }, pct(a.agreement_with_gold)),
        h("td", { class: "num" }, `${a.gold_agree} / ${a.gold_chips}`),
      ),
    );
    clear(people).append(
      rows.length
        ? h(
            "table",
            { class: "data-table" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", {}, "Annotator"),
                h("th", { class: "num" }, "Agrees with consensus"),
                h("th", { class: "num" }, "Chips"),
                h(
                  "th",
                  { class: "num", title: "First answer on each gold chip (hidden in crowd panels)" },
                  "Gold accuracy",
                ),
                h("th", { class: "num" }, "Gold right / answered"),
              ),
            ),
            h("tbody", {}, rows),
          )
        : h("p", { class: "muted" }, "No chip has two opinions yet."),
    );
  }

  function renderPerChip(report) {
    clear(perChip).append(h("summary", {}, `Agreement per chip (${report.per_chip.length})`));
    const rows = report.per_chip
      .slice(0, 500)
      .map((c) =>
        h(
          "tr",
          {},
          h("td", {}, `${c.grid.slice(0, 8)} (${c.row}, ${c.col})`),
          h("td", {}, c.consensus ? [swatch(c.consensus), name(c.consensus)] : "tie"),
          h("td", { class: "num" }, `${c.agree} / ${c.voters}`),
          h("td", { class: "num" }, pct(c.agreement)),
        ),
      );
    perChip.append(
      h(
        "table",
        { class: "data-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "Chip"),
            h("th", {}, "Consensus"),
            h("th", { class: "num" }, "Agree"),
            h("th", { class: "num" }, "Agreement"),
          ),
        ),
        h("tbody", {}, rows),
      ),
    );
  }

  function renderQueue(schema, review) {
    clear(queue);
    if (!review.chips.length) {
      queue.append(
        h("p", { class: "muted", testid: "review-queue-empty" }, "No contested chips: everyone agrees so far."),
      );
      return;
    }
    for (const chip of review.chips) queue.append(card(schema, chip));
  }

  function card(schema, chip) {
    const crop = h("div", { class: "review-crop" });
    loadPreview(api.images.previewUrl(chip.image), { cached: true })
      .then((bmp) => {
        const f = chip.fraction;
        crop.replaceChildren(cropCanvas(bmp, bmp.width, bmp.height, f.x, f.y, f.width, f.height, 120));
      })
      .catch(() => crop.replaceChildren(h("span", { class: "muted small" }, "no preview")));
    const total = Object.values(chip.counts).reduce((a, b) => a + b, 0) || 1;
    const bars = h(
      "ul",
      { class: "review-counts" },
      Object.entries(chip.counts).map(([k, n]) =>
        h(
          "li",
          {},
          swatch(k),
          h("span", { class: "review-class" }, name(k)),
          h("span", {
            class: "review-bar",
            style: { width: `${Math.round((60 * n) / total)}px`, background: classes.get(k)?.colour || "#999" },
          }),
          h("span", { class: "small" }, ` ${n}`),
        ),
      ),
    );
    const nots = Object.entries(chip.not_counts)
      .map(([k, n]) => `not ${name(k)} × ${n}`)
      .join(", ");
    const who = chip.users.map(
      (u) =>
        `${u.username}: ${u.class ? name(u.class) : ""}${u.not.length ? `${u.class ? "; " : ""}not ${u.not.map(name).join(", ")}` : ""}`,
    );
    const el = h("div", {
      class: "card review-chip",
      testid: "review-chip",
      dataset: { row: chip.row, col: chip.col, grid: chip.grid },
    });
    const decide = async (action, classId, btn) => {
      for (const b of el.querySelectorAll("button")) b.disabled = true;
      try {
        await api.labeling.review(schema.id, { grid: chip.grid, row: chip.row, col: chip.col, action, class: classId });
        el.remove();
        contested -= 1;
        const counter = summary.querySelector("[data-testid=review-contested]");
        if (counter) counter.textContent = String(contested);
        toast(
          `${action === "accept" ? "Accepted" : "Rejected"} ${name(classId)} on ${images.get(chip.image) || "the image"} (${chip.row}, ${chip.col}).`,
          "ok",
          { timeout: 2000 },
        );
        if (!queue.querySelector("[data-testid=review-chip]")) load();
      } catch (e) {
        for (const b of el.querySelectorAll("button")) b.disabled = false;
        showError(e, "Recording the decision");
        btn.focus();
      }
    };
    const actions = h("div", { class: "review-actions" });
    for (const k of chip.leaders) {
      const accept = h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-primary",
          testid: "review-accept",
          onclick: () => decide("accept", k, accept),
        },
        `Accept ${name(k)}`,
      );
      actions.append(accept);
    }
    if (chip.leaders.length === 1) {
      const k = chip.leaders[0];
      const reject = h(
        "button",
        { type: "button", class: "btn btn-small", testid: "review-reject", onclick: () => decide("reject", k, reject) },
        `Reject ${name(k)}`,
      );
      actions.append(reject);
    }
    el.append(
      crop,
      h(
        "div",
        { class: "review-body" },
        h(
          "p",
          { class: "small" },
          h("a", { href: `#/images/${chip.image}/support`, testid: "review-image" }, images.get(chip.image) || "image"),
          " · ",
          h("strong", {}, `chip (${chip.row}, ${chip.col})`),
          ` · ${chip.voices} opinions · agreement ${pct(chip.agreement)}${chip.tied ? " · tie" : ""}`,
          chip.gold
            ? [
                " · ",
                h(
                  "span",
                  { class: "review-gold", testid: "review-gold", title: "The gold answer (curators only)" },
                  `gold: ${name(chip.gold)}`,
                ),
              ]
            : null,
        ),
        bars,
        nots ? h("p", { class: "muted small" }, nots) : null,
        h("p", { class: "muted small", testid: "review-voters" }, who.join(" · ")),
        actions,
      ),
    );
    return el;
  }

  load();
  return () => {
    stopped = true;
  };
}
