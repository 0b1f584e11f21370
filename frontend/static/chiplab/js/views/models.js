// Models of the current lab: its champion, the model versions it may use (cards, licences,
// downloads), promotion and roll-back (curators) and fine-tuning jobs on frozen support sets.
import * as api from "../api.js";
import { poll } from "../poll.js";
import { currentLab, hasRole } from "../state.js";
import { h, errorBox, fmtDate, fmtPct, showError, statusPill, toast, whileBusy } from "../ui.js";

const TRAINABLE = ["default", "resnet"]; // encoder kinds with weights to fine-tune
const ACTIVE = ["queued", "running"];
const SOURCES = { builtin: "built-in", trained: "fine-tuned here", imported: "imported" };

export async function render(root) {
  const lab = currentLab();
  const page = h("div", { class: "page" });
  root.append(page);
  page.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Models"), h("p", { class: "muted" }, lab ? `Lab: ${lab.name}` : "")),
    ),
  );
  if (!lab) {
    page.append(h("p", { class: "muted", testid: "no-lab" }, "Join a lab to see the models it uses."));
    return;
  }
  const canManage = hasRole(lab, "curator");
  let stopped = false;

  const championBox = h(
    "div",
    { class: "card form-card champion-card", testid: "champion", "aria-live": "polite" },
    h("p", { class: "muted" }, "Loading…"),
  );
  const versionsBody = h("tbody", {});
  const versionErrors = h("div");
  const trainingBox = h("div");
  const jobsBody = h("tbody", {});
  page.append(
    championBox,
    h("h2", { class: "section-title" }, "Model versions"),
    h(
      "p",
      { class: "muted small" },
      "Built-in encoders and the versions your lab fine-tuned or imported. ",
      "Segmentations use the lab's champion unless another version is chosen in the Segment step.",
    ),
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "data-table", testid: "model-versions" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Model", "Aliases", "Encoder", "Held-out accuracy", "Card and licence", ""].map((t) =>
              h("th", { scope: "col" }, t || h("span", { class: "visually-hidden" }, "Actions")),
            ),
          ),
        ),
        versionsBody,
      ),
    ),
    versionErrors,
    h("h2", { class: "section-title" }, "Training"),
    h(
      "p",
      { class: "muted small" },
      "Fine-tune an encoder on the lab's frozen support sets. Part of each set's chips is held out to ",
      "measure the result; the new version is registered as the challenger, to compare with the champion and promote.",
    ),
    trainingBox,
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "data-table", testid: "training-jobs" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Started", "Base model", "Status", "Held-out accuracy", "Result", ""].map((t) =>
              h("th", { scope: "col" }, t || h("span", { class: "visually-hidden" }, "Actions")),
            ),
          ),
        ),
        jobsBody,
      ),
    ),
  );

  let versions = [];
  let champion = null;
  let refillBase = null; // the training form's base-model choices follow the versions

  async function loadModels() {
    versionErrors.replaceChildren();
    try {
      const [all, champ] = await Promise.all([api.registry.versions(), api.registry.champion(lab.id)]);
      // the list has no cards: fetch each version's details (few per lab)
      versions = await Promise.all(api.usableVersions(all, lab.id).map((v) => api.registry.version(v.id)));
      champion = champ;
    } catch (e) {
      versionErrors.replaceChildren(errorBox(e));
      showError(e, "Loading models");
      return;
    }
    if (stopped) return;
    renderChampion();
    renderVersions();
    if (refillBase) refillBase();
  }

  function licenceOf(v) {
    const card = v.card || {};
    return (
      [
        card.licence ? `Licence ${card.licence}` : null,
        (card.data_licences || []).length ? `data licences ${card.data_licences.join(", ")}` : null,
      ]
        .filter(Boolean)
        .join(" · ") || "licence not stated"
    );
  }

  function accuracy(v) {
    const m = v.metrics || {};
    if (m.holdout_acc === undefined || m.holdout_acc === null) return h("span", { class: "muted" }, "–");
    return h(
      "span",
      {},
      fmtPct(m.holdout_acc),
      m.base_holdout_acc !== undefined
        ? h("span", { class: "muted small" }, ` (base ${fmtPct(m.base_holdout_acc)})`)
        : null,
    );
  }

  function renderChampion() {
    const own = champion.lab === lab.id;
    const rollback =
      own && canManage
        ? h(
            "button",
            {
              type: "button",
              class: "btn btn-small",
              testid: "rollback",
              title: "Give the champion back to the version that held it before (or to the public default)",
            },
            "Roll back",
          )
        : null;
    if (rollback) {
      rollback.addEventListener("click", () => {
        if (!confirm(`Roll back the champion of ${lab.name} from ${champion.name} v${champion.version}?`)) return;
        whileBusy(rollback, async () => {
          try {
            const r = await api.registry.rollback(champion.name, { alias: "champion" });
            toast(
              r.version
                ? `Champion rolled back to ${r.name} v${r.version.version}.`
                : `${r.name} is no longer champion: the lab uses the public default.`,
              "ok",
            );
            await loadModels();
          } catch (e) {
            showError(e, "Roll back");
          }
        });
      });
    }
    championBox.dataset.version = champion.id;
    championBox.replaceChildren(
      h(
        "div",
        { class: "champion-head" },
        h(
          "div",
          {},
          h("p", { class: "muted small champion-label" }, "Champion of this lab"),
          h("h2", { testid: "champion-name" }, `${champion.name} v${champion.version}`),
          h(
            "p",
            { class: "small", testid: "champion-note" },
            `${champion.encoder_kind} encoder · ${SOURCES[champion.source] || champion.source} · `,
            own ? "the lab's own champion" : "public default (the lab has not promoted a version of its own)",
          ),
          champion.card?.summary ? h("p", { class: "small muted" }, champion.card.summary) : null,
          h("p", { class: "small muted" }, licenceOf(champion)),
        ),
        rollback,
      ),
    );
  }

  function renderVersions() {
    versionsBody.replaceChildren();
    if (!versions.length) {
      versionsBody.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No model is registered yet.")));
    }
    for (const v of versions) {
      const card = v.card || {};
      const isChampion = champion && champion.id === v.id;
      const own = v.lab === lab.id;
      let action = null;
      if (canManage && own && !isChampion) {
        action = h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            testid: "promote",
            title: `Make ${v.name} v${v.version} the lab's champion`,
          },
          "Make champion",
        );
        action.addEventListener("click", () =>
          whileBusy(action, async () => {
            try {
              await api.registry.promote(v.id, { alias: "champion" });
              toast(`${v.name} v${v.version} is now the champion of ${lab.name}.`, "ok");
              await loadModels();
            } catch (e) {
              showError(e, "Promote");
            }
          }),
        );
      }
      versionsBody.append(
        h(
          "tr",
          { testid: "model-version", dataset: { id: v.id, name: v.name } },
          h(
            "td",
            {},
            h("strong", {}, v.name),
            ` v${v.version}`,
            h("br"),
            h(
              "span",
              { class: "muted small" },
              `${SOURCES[v.source] || v.source}${v.lab_slug ? ` · ${v.lab_slug}` : " · public"} · ${fmtDate(v.created)}`,
            ),
          ),
          h(
            "td",
            { testid: "model-aliases" },
            isChampion ? h("span", { class: "pill pill-succeeded", testid: "lab-champion" }, "lab champion") : null,
            (v.aliases || []).map((a) =>
              h(
                "span",
                {
                  class: "pill pill-alias",
                  title: `MLflow alias “${a}” of the registered model ${v.name}${own ? "" : " (public models' aliases are managed by platform administrators)"}`,
                },
                // a public model's champion alias marks its current version, not this lab's choice
                a === "champion" && !own ? "current" : a,
              ),
            ),
          ),
          h("td", {}, v.encoder_kind, v.dim ? h("span", { class: "muted small" }, ` · ${v.dim}-d`) : null),
          h("td", { testid: "model-accuracy" }, accuracy(v)),
          h(
            "td",
            { class: "small model-card" },
            card.summary ? h("span", {}, card.summary, h("br")) : null,
            h("span", { class: "muted", testid: "model-licence" }, licenceOf(v)),
          ),
          h(
            "td",
            { class: "actions" },
            h(
              "a",
              {
                class: "btn btn-small",
                href: api.registry.downloadUrl(v.id),
                download: "",
                testid: "model-download",
                title: "Encoder files, card and lineage as a zip",
              },
              "Download",
            ),
            action,
          ),
        ),
      );
    }
  }

  // --- training ----------------------------------------------------------------------
  let jobsPoll = null; // following the lab's training jobs while one is queued or running
  let shownJobs = "";

  async function loadJobs({ quiet = false } = {}) {
    let jobs;
    try {
      jobs = await api.registry.trainingJobs(lab.id);
    } catch (e) {
      if (!quiet) showError(e, "Loading training jobs");
      return;
    }
    if (stopped) return;
    const sig = JSON.stringify(jobs.map((j) => [j.id, j.status, j.progress, (j.history || []).length]));
    if (sig !== shownJobs) {
      const finished =
        shownJobs && jobs.some((j) => j.status === "succeeded" && !shownJobs.includes(`"${j.id}","succeeded"`));
      shownJobs = sig;
      renderJobs(jobs);
      if (finished) loadModels(); // a new version was registered
    }
    const active = jobs.some((j) => ACTIVE.includes(j.status));
    if (active && !jobsPoll) {
      jobsPoll = poll(async () => !(await loadJobs({ quiet: true })), { every: 1500 });
      jobsPoll.done.finally(() => {
        jobsPoll = null;
      });
    }
    return active;
  }

  function renderJobs(jobs) {
    jobsBody.replaceChildren();
    if (!jobs.length)
      jobsBody.append(
        h("tr", { testid: "training-empty" }, h("td", { colspan: 6, class: "muted" }, "No training yet.")),
      );
    for (const j of jobs) {
      const running = ACTIVE.includes(j.status);
      const epochs = j.params?.epochs;
      const done = (j.history || []).length;
      const m = j.metrics || {};
      const cancel =
        running && canManage
          ? h("button", { type: "button", class: "btn btn-small", testid: "training-cancel" }, "Cancel")
          : null;
      if (cancel) {
        cancel.addEventListener("click", () =>
          whileBusy(cancel, async () => {
            try {
              await api.registry.cancelTraining(j.id);
              toast("Training cancelled.", "ok");
              shownJobs = "";
              await loadJobs();
            } catch (e) {
              showError(e, "Cancel training");
            }
          }),
        );
      }
      jobsBody.append(
        h(
          "tr",
          { testid: "training-job", dataset: { id: j.id, status: j.status } },
          h(
            "td",
            { class: "small" },
            fmtDate(j.created),
            h("br"),
            h("span", { class: "muted" }, `by ${j.created_by || "–"}`),
          ),
          h(
            "td",
            { class: "small" },
            j.base_version ? `${j.base_version.name} v${j.base_version.version}` : "–",
            h("br"),
            h(
              "span",
              { class: "muted" },
              `${(j.support_set_versions || []).length} support set${(j.support_set_versions || []).length === 1 ? "" : "s"} · ${epochs} epoch${epochs === 1 ? "" : "s"}`,
            ),
          ),
          h(
            "td",
            { testid: "training-status" },
            statusPill(j.status),
            running
              ? h(
                  "div",
                  { class: "training-progress" },
                  h("progress", { max: 1, value: j.progress || 0, "aria-label": "Training progress" }),
                  " ",
                  h(
                    "span",
                    { class: "muted small", testid: "training-progress" },
                    j.status === "queued" ? "waiting for a worker" : `epoch ${done} / ${epochs ?? "?"}`,
                  ),
                )
              : null,
            j.error ? h("div", { class: "error-text small" }, j.error) : null,
          ),
          h(
            "td",
            {},
            m.holdout_acc !== undefined
              ? h(
                  "span",
                  {},
                  fmtPct(m.holdout_acc),
                  m.base_holdout_acc !== undefined
                    ? h("span", { class: "muted small" }, ` (base ${fmtPct(m.base_holdout_acc)})`)
                    : null,
                )
              : h("span", { class: "muted" }, "–"),
          ),
          h(
            "td",
            { class: "small", testid: "training-result" },
            j.result_version ? `${j.result_version.name} v${j.result_version.version}` : "–",
          ),
          h("td", { class: "actions" }, cancel),
        ),
      );
    }
  }

  async function trainingForm() {
    if (!canManage) {
      trainingBox.append(
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
    const name = h("input", {
      id: "train-name",
      testid: "training-name",
      placeholder: "default-finetuned",
      pattern: "[a-z0-9][a-z0-9_\\-]{0,79}",
      title: "lower-case letters, digits, - and _",
    });
    const num = (id, value, min, max) =>
      h("input", { type: "number", id, testid: id, class: "num", value, min, max, step: 1 });
    const epochs = num("training-epochs", 3, 1, 100);
    const episodes = num("training-episodes", 16, 1, 1000);
    const holdout = num("training-holdout", 16, 1, 500);
    const errors = h("div");
    const submit = h(
      "button",
      { type: "submit", class: "btn btn-primary", testid: "training-start" },
      "Start training",
    );
    const form = h(
      "form",
      {
        class: "card form-card",
        testid: "training-form",
        "aria-label": "New training job",
        onsubmit: (ev) => {
          ev.preventDefault();
          const chosen = [...setsBox.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
          errors.replaceChildren();
          if (!chosen.length) {
            errors.replaceChildren(errorBox(new Error("Choose at least one frozen support set.")));
            return;
          }
          whileBusy(submit, async () => {
            try {
              const job = await api.registry.createTraining(lab.id, {
                support_set_versions: chosen,
                base_version: base.value || null,
                name: name.value.trim(),
                params: {
                  epochs: Number(epochs.value),
                  episodes_per_epoch: Number(episodes.value),
                  holdout_episodes: Number(holdout.value),
                },
              });
              toast(`Training queued: ${job.model_name}.`, "ok");
              shownJobs = "";
              await loadJobs();
            } catch (e) {
              errors.replaceChildren(errorBox(e));
            }
          });
        },
      },
      h("h3", {}, "New training job"),
      setsBox,
      h(
        "div",
        { class: "form-grid" },
        h("label", { for: "train-base" }, "Base model"),
        base,
        h("label", { for: "train-name" }, "Model name"),
        name,
        h("label", { for: "training-epochs" }, "Epochs"),
        epochs,
      ),
      h(
        "details",
        { class: "offsets" },
        h("summary", {}, "More settings"),
        h(
          "div",
          { class: "form-grid" },
          h("label", { for: "training-episodes" }, "Episodes per epoch"),
          episodes,
          h("label", { for: "training-holdout" }, "Held-out episodes"),
          holdout,
        ),
      ),
      errors,
      h("div", { class: "form-actions" }, submit),
    );
    trainingBox.append(form);

    const fillBase = () => {
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
    };
    fillBase();
    try {
      const sets = await frozenSets(lab.id);
      if (stopped) return;
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
      for (const { dataset, version: v } of sets) {
        const perClass = (v.classes || []).map((c) => [c.name, v.chips.filter((x) => x.class === c.id).length]);
        const counts = perClass.map(([name, n]) => `${name} ${n}`).join(" · ");
        // the server holds chips out per class of >= 4 chips and needs two such classes
        const holdsOut = perClass.filter(([, n]) => n >= 4).length >= 2;
        setsBox.append(
          h(
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
          ),
        );
      }
      setsBox.append(
        h(
          "p",
          { class: "muted small" },
          "Training needs two classes with at least four chips each (some are held out).",
        ),
      );
    } catch (e) {
      setsBox.replaceChildren(h("legend", {}, "Frozen support sets"), errorBox(e));
    }
    return fillBase;
  }

  await loadModels();
  refillBase = await trainingForm();
  await loadJobs();
  return () => {
    stopped = true;
    if (jobsPoll) jobsPoll.stop();
  };
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
