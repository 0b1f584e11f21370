// The model versions the lab may use (built-in, fine-tuned here or imported: cards, licences,
// downloads) with their champion, and promotion (curators of the version's lab).
import * as api from "../../api.js";
import { h, errorBox, fmtDate, showError, toast, whileBusy } from "../../ui.js";
import { championCard, renderChampion } from "./champion.js";
import { accuracy, licenceOf, SOURCES, tableCard } from "./format.js";

/** Loads `store.versions` and `store.champion` and shows them; `onLoaded()` after each load. */
export function createVersions(store, { onLoaded }) {
  const { lab } = store;
  const championBox = championCard();
  const body = h("tbody", {});
  const errors = h("div");

  async function load() {
    errors.replaceChildren();
    try {
      const [all, champ] = await Promise.all([api.registry.versions(), api.registry.champion(lab.id)]);
      // the list has no cards: fetch each version's details (few per lab)
      store.versions = await Promise.all(api.usableVersions(all, lab.id).map((v) => api.registry.version(v.id)));
      store.champion = champ;
    } catch (e) {
      errors.replaceChildren(errorBox(e));
      showError(e, "Loading models");
      return;
    }
    if (store.stopped) return;
    renderChampion(championBox, store, load);
    body.replaceChildren();
    if (!store.versions.length) {
      body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No model is registered yet.")));
    }
    for (const v of store.versions) body.append(versionRow(v, store, load));
    onLoaded();
  }

  const section = [
    h("h2", { class: "section-title" }, "Model versions"),
    h(
      "p",
      { class: "muted small" },
      "Built-in encoders and the versions your lab fine-tuned or imported. ",
      "Segmentations use the lab's champion unless another version is chosen in the Segment step.",
    ),
    tableCard("model-versions", ["Model", "Aliases", "Encoder", "Held-out accuracy", "Card and licence", ""], body),
    errors,
  ];
  return { championBox, section, load };
}

function versionRow(v, store, reload) {
  const { lab } = store;
  const card = v.card || {};
  const isChampion = store.champion && store.champion.id === v.id;
  const own = v.lab === lab.id;
  return h(
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
    h("td", { testid: "model-accuracy" }, accuracy(v.metrics)),
    h(
      "td",
      { class: "small model-card" },
      card.summary ? h("span", {}, card.summary, h("br")) : null,
      // a built-in's accuracy on micrographs that neither its training nor the settings saw
      card.evaluation ? h("span", { testid: "model-evaluation" }, card.evaluation, h("br")) : null,
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
      store.canManage && own && !isChampion ? promoteButton(v, lab, reload) : null,
    ),
  );
}

function promoteButton(v, lab, reload) {
  const button = h(
    "button",
    {
      type: "button",
      class: "btn btn-small",
      testid: "promote",
      title: `Make ${v.name} v${v.version} the lab's champion`,
    },
    "Make champion",
  );
  button.addEventListener("click", () =>
    whileBusy(button, async () => {
      try {
        await api.registry.promote(v.id, { alias: "champion" });
        toast(`${v.name} v${v.version} is now the champion of ${lab.name}.`, "ok");
        await reload();
      } catch (e) {
        showError(e, "Promote");
      }
    }),
  );
  return button;
}
