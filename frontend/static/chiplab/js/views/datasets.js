// Dataset browser of the current lab, with a "new dataset" form.
import * as api from "../api.js";
import { go } from "../main.js";
import { currentLab, hasRole } from "../state.js";
import { h, clear, errorBox, fmtDate, showError, toast, whileBusy } from "../ui.js";

export async function render(root) {
  const lab = currentLab();
  const page = h("div", { class: "page" });
  root.append(page);
  if (!lab) {
    page.append(
      h("h1", {}, "Datasets"),
      h(
        "p",
        { class: "muted", testid: "no-lab" },
        "You are not a member of any lab yet. Ask a lab owner to invite you.",
      ),
    );
    return;
  }
  const listBox = h("div", { class: "dataset-grid", testid: "dataset-list", "aria-busy": "true" });
  const canCreate = hasRole(lab, "curator"); // the API lets curators and owners create
  const formBox = h("div");
  page.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Datasets"), h("p", { class: "muted" }, `Lab: ${lab.name}`)),
      canCreate
        ? h(
            "button",
            {
              type: "button",
              class: "btn btn-primary",
              testid: "new-dataset",
              onclick: () => {
                formBox.replaceChildren(createForm(lab));
                formBox.querySelector("input").focus();
              },
            },
            "New dataset",
          )
        : null,
    ),
    formBox,
    listBox,
  );

  const abort = new AbortController();
  try {
    const items = await api.datasets.list(lab.id);
    listBox.removeAttribute("aria-busy");
    if (!items.length) {
      listBox.append(
        h(
          "p",
          { class: "empty", testid: "datasets-empty" },
          "No datasets yet.",
          canCreate ? " Create one to upload micrographs." : " A curator of the lab can create one.",
        ),
      );
    }
    for (const ds of items) listBox.append(card(ds, abort.signal));
  } catch (e) {
    listBox.removeAttribute("aria-busy");
    listBox.append(errorBox(e));
    showError(e, "Loading datasets");
  }
  return () => abort.abort();
}

function card(ds, signal) {
  const thumbs = h(
    "div",
    { class: "thumb-strip", "aria-hidden": "true" },
    ds.image_count ? null : h("span", { class: "thumb-empty" }, "no images yet"),
  );
  const el = h(
    "a",
    { class: "card dataset-card", href: `#/datasets/${ds.id}`, testid: "dataset-card", dataset: { id: ds.id } },
    thumbs,
    h("h2", { class: "card-title" }, ds.title),
    h(
      "p",
      { class: "muted small" },
      `${ds.image_count ?? 0} image${ds.image_count === 1 ? "" : "s"} · ${ds.visibility} · ${ds.licence}`,
    ),
    ds.description ? h("p", { class: "small clamp" }, ds.description) : null,
    h("p", { class: "muted small" }, `Created ${fmtDate(ds.created)}`),
  );
  if (ds.image_count) {
    api
      .get(`datasets/${ds.id}/images/`, { limit: 4, status: "ready" }, { signal })
      .then((page) => {
        for (const img of page.results || page) {
          thumbs.append(h("img", { src: api.images.thumbnailUrl(img.id), alt: "", loading: "lazy" }));
        }
      })
      .catch((e) => {
        if (e.name !== "AbortError") console.warn(e);
      });
  }
  return el;
}

function createForm(lab) {
  const title = h("input", { id: "ds-title", required: true, maxlength: 300, testid: "dataset-title" });
  const desc = h("textarea", { id: "ds-desc", rows: 2, testid: "dataset-description" });
  const vis = h(
    "select",
    { id: "ds-vis", testid: "dataset-visibility" },
    h("option", { value: "lab", selected: true }, "Lab members"),
    h("option", { value: "private" }, "Private (me and lab curators)"),
    h("option", { value: "public" }, "Public"),
  );
  const licence = h(
    "select",
    { id: "ds-licence", testid: "dataset-licence" },
    h("option", { value: "CC-BY-4.0" }, "CC-BY-4.0"),
  );
  api
    .get("licences/")
    .then((ls) => {
      clear(licence);
      for (const l of ls)
        licence.append(h("option", { value: l.id, selected: l.id === "CC-BY-4.0" }, `${l.id} — ${l.name}`));
    })
    .catch((e) => showError(e, "Loading licences"));
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "dataset-create" }, "Create");
  const form = h(
    "form",
    {
      class: "card form-card",
      testid: "dataset-form",
      "aria-label": "New dataset",
      onsubmit: (ev) => {
        ev.preventDefault();
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            const ds = await api.datasets.create({
              lab: lab.id,
              title: title.value.trim(),
              description: desc.value,
              visibility: vis.value,
              licence: licence.value,
            });
            toast(`Dataset “${ds.title}” created.`, "ok");
            go(`#/datasets/${ds.id}`);
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("h2", {}, "New dataset"),
    h(
      "div",
      { class: "form-grid" },
      h("label", { for: "ds-title" }, "Title"),
      title,
      h("label", { for: "ds-desc" }, "Description"),
      desc,
      h("label", { for: "ds-vis" }, "Visibility"),
      vis,
      h("label", { for: "ds-licence" }, "Licence"),
      licence,
    ),
    errors,
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "button", class: "btn", onclick: () => form.remove() }, "Cancel"),
      submit,
    ),
  );
  return form;
}
