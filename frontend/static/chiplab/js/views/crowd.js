// Crowd micro-tasks: "select every chip that shows Ge" on a 3×3 panel of chip crops.
import * as api from "../api.js";
import { currentLab, hasRole, state } from "../state.js";
import { h, clear, errorBox, showError, toast } from "../ui.js";
import { cropCanvas } from "../crops.js";
import { loadPreview } from "../preview-loader.js";

export async function render(root) {
  const lab = currentLab();
  const page = h("div", { class: "page crowd-page" });
  root.append(page);
  page.append(
    h("h1", {}, "Crowd tasks"),
    h(
      "p",
      { class: "muted" },
      "Short questions about single chips help your lab's support sets and models. No knowledge of the model needed.",
    ),
  );
  if (!lab) {
    page.append(h("p", { class: "muted" }, "Join a lab to answer its tasks."));
    return;
  }
  if (!hasRole(lab, "annotator")) {
    page.append(
      h(
        "p",
        { class: "muted", testid: "crowd-read-only" },
        `You are a viewer in ${lab.name}: its annotators, curators and owners answer crowd tasks.`,
      ),
    );
    return;
  }

  // The server counts your answers per dataset (schema); shown once the first task arrives.
  const counter = h("span", {
    class: "counter",
    testid: "crowd-counter",
    "aria-live": "polite",
    title: "Tasks you have answered for this dataset, on any device",
  });
  const setCounter = (n) => {
    counter.replaceChildren("Your answers for this dataset: ", h("strong", { testid: "crowd-count" }, String(n)));
  };

  // Your gold accuracy: some panel chips have a curator's answer (which ones is not shown); it
  // counts your first answer on each and moves only every 10 gold answers.
  const quality = h("p", { class: "muted small", testid: "crowd-gold" });
  let qualityFor = null;
  async function loadQuality(schemaId) {
    if (qualityFor === schemaId) return;
    qualityFor = schemaId;
    quality.textContent = "";
    try {
      const report = await api.labeling.agreement(schemaId);
      const me = report.annotators.find((a) => a.user === state.user?.id);
      if (!report.gold_chips) return; // nothing is checked in this dataset
      quality.textContent =
        me && me.agreement_with_gold !== null
          ? `Your accuracy on checked chips: ${Math.round(me.agreement_with_gold * 100)} % of your first ${me.gold_chips}.`
          : "Some chips have a known answer; your accuracy on them appears after 10 of them.";
    } catch {
      qualityFor = null;
    } // a report is a bonus: tasks work without it
  }

  const datasetSelect = h("select", { id: "crowd-dataset", testid: "crowd-dataset" });
  const card = h("div", { class: "card crowd-card", testid: "crowd-card" });
  page.append(
    h(
      "div",
      { class: "inline-fields", style: { marginBottom: "1rem" } },
      h("label", { for: "crowd-dataset" }, "Dataset"),
      datasetSelect,
    ),
    card,
    quality,
  );

  const datasets = await api.datasets.list(lab.id);
  if (!datasets.length) {
    card.append(h("p", { class: "muted" }, "This lab has no datasets yet."));
    return;
  }
  const remembered = localStorage.getItem("chiplab.crowd.dataset");
  for (const ds of datasets)
    datasetSelect.append(h("option", { value: ds.id, selected: ds.id === remembered }, ds.title));
  datasetSelect.addEventListener("change", () => {
    localStorage.setItem("chiplab.crowd.dataset", datasetSelect.value);
    next();
  });

  let stopped = false;
  let busy = false;

  async function next() {
    if (stopped) return;
    clear(card).append(h("p", { class: "muted" }, "Loading a task…"));
    try {
      const schemas = await api.labeling.schemas(datasetSelect.value);
      const schema = schemas.find((s) => s.is_default) || schemas[0];
      if (!schema) {
        clear(card).append(
          h("p", { class: "muted", testid: "crowd-empty" }, "Nobody has defined classes for this dataset yet."),
        );
        return;
      }
      loadQuality(schema.id);
      const task = await api.labeling.crowdTask(schema.id);
      setCounter(task.answered);
      if (!stopped) await showTask(task);
    } catch (e) {
      if (["no_task", "no_grids", "no_classes"].includes(e.code)) {
        clear(card).append(
          h("p", { class: "muted", testid: "crowd-empty" }, e.message || "No task right now — thank you!"),
          h("div", { class: "crowd-foot" }, counter),
        );
        return;
      }
      clear(card).append(errorBox(e), h("div", { class: "crowd-foot" }, counter));
      showError(e, "Crowd task");
    }
  }

  async function showTask(task) {
    const cls = task.class || {};
    const selected = new Set();
    const tiles = h("div", { class: "panel-3x3", testid: "crowd-panel", role: "group", "aria-label": task.question });
    let bitmap = null;
    try {
      bitmap = await loadPreview(api.images.previewUrl(task.image), { cached: true });
    } catch (e) {
      showError(e);
    }
    for (const chip of task.chips) {
      const key = `${chip.row},${chip.col}`;
      const f = chip.fraction;
      const canvas = bitmap
        ? cropCanvas(bitmap, bitmap.width, bitmap.height, f.x, f.y, f.width, f.height, 150)
        : h("canvas");
      const btn = h(
        "button",
        {
          type: "button",
          class: "crowd-chip",
          "aria-pressed": "false",
          testid: "crowd-chip",
          "aria-label": `Chip row ${chip.row}, column ${chip.col}`,
          onclick: () => {
            if (selected.has(key)) selected.delete(key);
            else selected.add(key);
            btn.setAttribute("aria-pressed", String(selected.has(key)));
            if (cls.colour) btn.style.borderColor = selected.has(key) ? cls.colour : "transparent";
          },
        },
        canvas,
      );
      tiles.append(btn);
    }
    const submit = h("button", { type: "button", class: "btn btn-primary", testid: "crowd-submit" }, "Submit answer");
    const skip = h("button", { type: "button", class: "btn", testid: "crowd-skip", onclick: () => next() }, "Skip");
    submit.addEventListener("click", async () => {
      if (busy) return;
      busy = true;
      submit.disabled = true;
      try {
        const selectedChips = [...selected].map((k) => k.split(",").map(Number));
        const res = await api.labeling.crowdAnswer(task.task, selectedChips);
        setCounter(res.answered);
        if (res.answered % 5 === 0) qualityFor = null; // the next task reloads your accuracy
        toast(`Thanks! ${res.selected} selected, ${res.not_selected} not.`, "ok", { timeout: 2000 });
        next();
      } catch (e) {
        showError(e, "Submitting the answer");
        submit.disabled = false;
      } finally {
        busy = false;
      }
    });
    clear(card).append(
      h(
        "p",
        { class: "crowd-prompt", testid: "crowd-question" },
        "Select every chip that shows ",
        h(
          "strong",
          {
            style: {
              background: cls.colour ? `${cls.colour}33` : "",
              borderBottom: `3px solid ${cls.colour || "#888"}`,
            },
          },
          cls.name || "the class",
        ),
        ".",
      ),
      h("p", { class: "muted small" }, "Select none if no chip shows it. Click a chip to select or unselect it."),
      tiles,
      h("div", { class: "crowd-foot" }, counter, h("div", { style: { display: "flex", gap: ".5rem" } }, skip, submit)),
    );
    card.dataset.task = task.id;
  }

  next();
  return () => {
    stopped = true;
  };
}
