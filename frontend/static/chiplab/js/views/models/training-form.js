// The form that starts a fine-tuning job (curators): the frozen support sets to train on, the
// base model, the new model's name and the training's settings.
import * as api from "../../api.js";
import { h, errorBox, fmtDate, toast, whileBusy } from "../../ui.js";

const TRAINABLE = ["default", "resnet"]; // encoder kinds with weights to fine-tune

/** Adds the form (or, for those who may not train, a note) to `box`; `onQueued()` after a
 * job is queued. Resolves `fillBase()`, which refills the base-model choices from
 * `store.versions` (undefined without a form, or once the page was left). */
export async function trainingForm(box, store, { onQueued }) {
  if (!store.canManage) {
    box.append(
      h("p", { class: "muted small", testid: "training-read-only" }, "The lab's curators start training jobs."),
    );
    return;
  }
  const setsBox = h(
    "fieldset",
    { class: "set-choice", testid: "training-sets" },
    h("legend", {}, "Frozen support sets"),
    h("p", { class: "muted small" }, "Loading…"),
  );
  const base = h("select", { id: "train-base", testid: "training-base" });
  const fields = formFields();
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "training-start" }, "Start training");
  const start = (ev) => {
    ev.preventDefault();
    const chosen = [...setsBox.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    errors.replaceChildren();
    if (!chosen.length) {
      errors.replaceChildren(errorBox(new Error("Choose at least one frozen support set.")));
      return;
    }
    whileBusy(submit, async () => {
      try {
        const job = await api.registry.createTraining(store.lab.id, {
          support_set_versions: chosen,
          base_version: base.value || null,
          name: fields.name.value.trim(),
          params: {
            epochs: Number(fields.epochs.value),
            episodes_per_epoch: Number(fields.episodes.value),
            holdout_episodes: Number(fields.holdout.value),
          },
        });
        toast(`Training queued: ${job.model_name}.`, "ok");
        await onQueued();
      } catch (e) {
        errors.replaceChildren(errorBox(e));
      }
    });
  };
  box.append(
    h(
      "form",
      { class: "card form-card", testid: "training-form", "aria-label": "New training job", onsubmit: start },
      h("h3", {}, "New training job"),
      setsBox,
      formGrid(base, fields),
      errors,
      h("div", { class: "form-actions" }, submit),
    ),
  );
  const fillBase = () => fillBaseChoices(base, store);
  fillBase();
  await fillSets(setsBox, store);
  return store.stopped ? undefined : fillBase;
}

function formFields() {
  const num = (id, value, min, max) =>
    h("input", { type: "number", id, testid: id, class: "num", value, min, max, step: 1 });
  return {
    name: h("input", {
      id: "train-name",
      testid: "training-name",
      placeholder: "default-finetuned",
      pattern: "[a-z0-9][a-z0-9_\\-]{0,79}",
      title: "lower-case letters, digits, - and _",
    }),
    epochs: num("training-epochs", 3, 1, 100),
    episodes: num("training-episodes", 16, 1, 1000),
    holdout: num("training-holdout", 16, 1, 500),
  };
}

function formGrid(base, fields) {
  return [
    h(
      "div",
      { class: "form-grid" },
      h("label", { for: "train-base" }, "Base model"),
      base,
      h("label", { for: "train-name" }, "Model name"),
      fields.name,
      h("label", { for: "training-epochs" }, "Epochs"),
      fields.epochs,
    ),
    h(
      "details",
      { class: "offsets" },
      h("summary", {}, "More settings"),
      h(
        "div",
        { class: "form-grid" },
        h("label", { for: "training-episodes" }, "Episodes per epoch"),
        fields.episodes,
        h("label", { for: "training-holdout" }, "Held-out episodes"),
        fields.holdout,
      ),
    ),
  ];
}

/** The trainable versions as base-model choices, the champion (or the one aliased champion)
 * chosen. */
function fillBaseChoices(base, { versions, champion }) {
  const trainable = versions.filter((v) => TRAINABLE.includes(v.encoder_kind));
  const pick =
    trainable.find((v) => champion && v.id === champion.id) ||
    trainable.find((v) => (v.aliases || []).includes("champion")) ||
    trainable[0];
  base.replaceChildren(
    ...trainable.map((v) =>
      h(
        "option",
        { value: v.id, selected: v === pick },
        `${v.name} v${v.version}${champion && v.id === champion.id ? " (champion)" : ""}`,
      ),
    ),
  );
  if (!trainable.length) base.append(h("option", { value: "" }, "No trainable model"));
}

/** The lab's frozen support sets as checkboxes in `setsBox` (an error in their place). */
async function fillSets(setsBox, store) {
  try {
    const sets = await frozenSets(store.lab.id);
    if (store.stopped) return;
    setsBox.replaceChildren(h("legend", {}, "Frozen support sets"));
    if (!sets.length) {
      setsBox.append(
        h(
          "p",
          { class: "muted small", testid: "training-no-sets" },
          "No frozen support set yet: segmenting an image freezes one (Segment step).",
        ),
      );
    }
    for (const { dataset, version } of sets) setsBox.append(setOption(dataset, version));
    setsBox.append(
      h("p", { class: "muted small" }, "Training needs two classes with at least four chips each (some are held out)."),
    );
  } catch (e) {
    setsBox.replaceChildren(h("legend", {}, "Frozen support sets"), errorBox(e));
  }
}

function setOption(dataset, v) {
  const perClass = (v.classes || []).map((c) => [c.name, v.chips.filter((x) => x.class === c.id).length]);
  const counts = perClass.map(([name, n]) => `${name} ${n}`).join(" · ");
  // the server holds chips out per class of >= 4 chips and needs two such classes
  const holdsOut = perClass.filter(([, n]) => n >= 4).length >= 2;
  return h(
    "label",
    { class: "set-option", testid: "training-set" },
    h("input", { type: "checkbox", value: v.id, testid: "training-set-check" }),
    h(
      "span",
      {},
      h("strong", {}, dataset.title),
      ` v${v.number} · ${v.rule.replace("_", " ")} · ${v.chip_size} px · `,
      h("span", { class: "muted" }, `${counts} · ${fmtDate(v.created)}`),
      holdsOut
        ? null
        : h(
            "span",
            { class: "muted small", testid: "training-set-small" },
            " · too few chips to hold any out: trains only, beside a larger set",
          ),
    ),
  );
}

/** Every frozen support-set version of the lab's datasets, newest first per dataset. */
async function frozenSets(labId) {
  const out = [];
  const datasets = await api.datasets.list(labId);
  for (const dataset of datasets) {
    const schemas = await api.labeling.schemas(dataset.id);
    for (const schema of schemas) {
      const versions = await api.labeling.versions(schema.id);
      for (const version of [...versions].reverse()) out.push({ dataset, version });
    }
  }
  return out;
}
