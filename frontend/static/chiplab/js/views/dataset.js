// One dataset: its images (thumbnails, status, polling while pending) and the upload area.
import * as api from "../api.js";
import { hasRole, labById } from "../state.js";
import { h, errorBox, fmtDate, showError } from "../ui.js";
import { imageGrid } from "./dataset/images.js";
import { uploadArea } from "./dataset/uploads.js";
import { versionsSection } from "./dataset/versions.js";

export async function render(root, { datasetId }) {
  const page = h("div", { class: "page" });
  root.append(page);
  const ds = await api.datasets.get(datasetId);
  const canUpload = hasRole(labById(ds.lab), "curator"); // uploads are the curators' (API)
  let stopped = false;
  const images = imageGrid(datasetId, { canUpload, stopped: () => stopped });
  const { drop, list: uploads } = uploadArea(datasetId, { onStored: images.show, stopped: () => stopped });

  page.append(
    ...heading(ds),
    canUpload
      ? drop
      : h(
          "p",
          { class: "muted small", testid: "upload-note" },
          "Only the lab's curators and owners upload images to a dataset.",
        ),
    uploads,
    versionsSection(ds, canUpload),
    h("h2", { class: "section-title" }, "Images"),
    images.el,
  );

  try {
    await images.load();
  } catch (e) {
    images.el.append(errorBox(e));
    showError(e, "Loading images");
  }
  return () => {
    stopped = true;
    images.stop();
  };
}

/** The breadcrumb, and the title with the dataset's lab, terms and description and a link to its results. */
function heading(ds) {
  return [
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/datasets" }, "Datasets"),
      " / ",
      h("span", {}, ds.title),
    ),
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", { testid: "dataset-heading" }, ds.title),
        h(
          "p",
          { class: "muted small" },
          `${ds.lab_name} · ${ds.visibility} · ${ds.licence} · created ${fmtDate(ds.created)}`,
        ),
        ds.description ? h("p", {}, ds.description) : null,
      ),
      h(
        "a",
        { class: "btn btn-primary", href: `#/datasets/${ds.id}/results`, testid: "dataset-results-link" },
        "Results · Segment this dataset",
      ),
    ),
  ];
}
