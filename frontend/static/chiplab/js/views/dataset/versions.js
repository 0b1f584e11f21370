// Published versions: immutable, citable snapshots with a landing page and an RO-Crate package.
// Curators publish the next one (the dataset's metadata and ready images as they are now).
import * as api from "../../api.js";
import { h, clear, errorBox, fmtDate, showError, toast, whileBusy } from "../../ui.js";

export function versionsSection(ds, canPublish) {
  const list = h("ul", { class: "version-list", testid: "version-list" });
  const section = h(
    "section",
    { class: "versions", "aria-label": "Published versions" },
    h("h2", { class: "section-title" }, "Published versions"),
    list,
  );

  async function load() {
    const page = await api.request("GET", `datasets/${ds.id}/versions/`, { query: { limit: 50 } });
    clear(list);
    if (!page.results.length)
      list.append(h("li", { class: "muted small", testid: "versions-empty" }, "No version published yet."));
    page.results.forEach((v, i) => {
      list.append(versionRow(v, i === 0));
    });
  }

  if (canPublish) section.append(publishForm(ds, load));
  load().catch((e) => {
    list.append(errorBox(e));
  });
  return section;
}

/** The note and "Create version" button; `onPublished()` reloads the list. */
function publishForm(ds, onPublished) {
  const note = h("input", {
    type: "text",
    maxlength: 2000,
    placeholder: "What this version is (optional)",
    "aria-label": "Version note",
    testid: "version-note",
    class: "input",
  });
  const button = h("button", { type: "button", class: "btn", testid: "create-version" }, "Create version");
  button.onclick = () =>
    whileBusy(button, async () => {
      try {
        const v = await api.request("POST", `datasets/${ds.id}/versions/`, { body: { note: note.value } });
        toast(`Version ${v.number} published.`, "info");
        note.value = "";
        await onPublished();
      } catch (e) {
        showError(e, "Publishing a version");
      }
    });
  return h(
    "div",
    { class: "version-form" },
    note,
    " ",
    button,
    h(
      "p",
      { class: "muted small" },
      "A version freezes the metadata, licence and ready images as they are now; it never changes afterwards.",
    ),
  );
}

/** A version: its landing page, date, contents and note, and its RO-Crate package. */
function versionRow(v, latest) {
  return h(
    "li",
    { testid: "version-row", dataset: { number: v.number } },
    h("a", { href: v.links.landing, target: "_blank", rel: "noopener" }, `Version ${v.number}`),
    latest ? h("span", { class: "muted small" }, " (latest)") : null,
    h(
      "span",
      { class: "muted small" },
      ` · ${fmtDate(v.created)} · ${v.images.length} image(s)` +
        (v.results.length ? ` · ${v.results.length} result(s)` : ""),
    ),
    v.note ? h("span", { class: "small" }, ` · ${v.note}`) : null,
    " ",
    h(
      "a",
      { class: "btn btn-quiet btn-small", href: v.links.crate, download: "", testid: "crate-download" },
      "Download RO-Crate",
    ),
  );
}
