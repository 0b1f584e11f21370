// One dataset: its images (thumbnails, status, polling while pending) and the upload area.
import * as api from "../api.js";
import { poll } from "../poll.js";
import { hasRole, labById } from "../state.js";
import { h, clear, errorBox, fmtBytes, fmtDate, showError, statusPill, toast } from "../ui.js";

const POLL_MS = 1500;

export async function render(root, { datasetId }) {
  const page = h("div", { class: "page" });
  root.append(page);
  const ds = await api.datasets.get(datasetId);
  const canUpload = hasRole(labById(ds.lab), "curator"); // uploads are the curators' (API)
  const grid = h("div", { class: "image-grid", testid: "image-list" });
  const uploads = h("ul", { class: "upload-list", testid: "upload-list", "aria-label": "Uploads" });
  const tiles = new Map(); // image id -> {el, image}
  let pendingPoll = null; // checking images still being ingested
  let stopped = false;

  const input = h("input", {
    type: "file",
    multiple: true,
    id: "file-input",
    class: "visually-hidden",
    testid: "file-input",
    accept: ".tif,.tiff,.png,.jpg,.jpeg,.dm3,.dm4,image/*",
    onchange: () => {
      startUploads([...input.files]);
      input.value = "";
    },
  });
  const drop = h(
    "div",
    {
      class: "dropzone",
      testid: "dropzone",
      tabindex: "0",
      role: "button",
      "aria-label": "Upload micrographs: drop files here or press Enter to choose",
      onclick: () => input.click(),
      onkeydown: (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          input.click();
        }
      },
      ondragover: (ev) => {
        ev.preventDefault();
        drop.classList.add("over");
      },
      ondragleave: () => drop.classList.remove("over"),
      ondrop: (ev) => {
        ev.preventDefault();
        drop.classList.remove("over");
        startUploads([...ev.dataTransfer.files]);
      },
    },
    h("strong", {}, "Drop micrographs here"),
    h(
      "span",
      { class: "muted" },
      " or click to choose files — TIFF (8/16-bit, float, stacks), DM3/DM4, PNG, JPEG. Several at once.",
    ),
    input,
  );

  page.append(
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
    grid,
  );

  function tile(img) {
    const thumb =
      img.status === "ready"
        ? h("img", {
            src: api.images.thumbnailUrl(img.id),
            alt: `Thumbnail of ${img.original_filename}`,
            loading: "lazy",
          })
        : h(
            "div",
            { class: `thumb-placeholder ${img.status}` },
            img.status === "pending" ? "Processing…" : "No preview",
          );
    const meta = [
      `${img.width}×${img.height}`,
      img.frames > 1 ? `${img.frames} frames` : null,
      img.dtype,
      img.pixel_size ? `${+img.pixel_size.toPrecision(4)} ${img.pixel_unit}/px` : "uncalibrated",
    ]
      .filter(Boolean)
      .join(" · ");
    const body = [
      h("div", { class: "tile-title", title: img.original_filename }, img.original_filename),
      h("div", { class: "tile-meta muted small" }, meta),
      h(
        "div",
        { class: "tile-status" },
        statusPill(img.status),
        " ",
        h("span", { class: "muted small" }, fmtBytes(img.size_bytes)),
      ),
      img.status === "failed"
        ? h("p", { class: "error-text small", testid: "image-error" }, img.error || "Ingestion failed.")
        : null,
    ];
    const attrs = {
      class: `tile tile-${img.status}`,
      testid: "image-tile",
      dataset: { id: img.id, status: img.status },
    };
    return img.status === "ready"
      ? h("a", { ...attrs, href: `#/images/${img.id}`, "aria-label": `Open ${img.original_filename}` }, thumb, ...body)
      : h("div", attrs, thumb, ...body);
  }

  function put(img) {
    const el = tile(img);
    const old = tiles.get(img.id);
    if (old) old.el.replaceWith(el);
    else grid.append(el);
    tiles.set(img.id, { el, image: img });
    grid.querySelector(".empty")?.remove();
  }

  async function load() {
    const list = await api.datasets.images(datasetId);
    clear(grid);
    tiles.clear();
    if (!list.length)
      grid.append(
        h(
          "p",
          { class: "empty", testid: "images-empty" },
          canUpload ? "No images yet — upload some above." : "No images yet.",
        ),
      );
    list.forEach(put);
    schedulePoll();
  }

  function schedulePoll() {
    const pending = () => [...tiles.values()].filter((t) => t.image.status === "pending");
    if (stopped || pendingPoll || !pending().length) return;
    pendingPoll = poll(
      async () => {
        for (const t of pending()) {
          try {
            const img = await api.images.get(t.image.id);
            if (img.status !== t.image.status) {
              put(img);
              if (img.status === "failed")
                toast(`${img.original_filename}: ${img.error || "ingestion failed"}`, "error");
            }
          } catch (e) {
            if (!stopped) showError(e, "Checking image status");
          }
        }
        return !pending().length;
      },
      { every: POLL_MS },
    );
    pendingPoll.done.finally(() => {
      pendingPoll = null;
    });
  }

  // One queue for every drop and choice: uploads run one at a time (honest progress, a flat
  // server memory), and a file already waiting or uploading is not queued twice.
  const queue = [];
  let pumping = false;
  const fileKey = (f) => `${f.name}|${f.size}|${f.lastModified}`;

  function startUploads(files) {
    for (const file of files) {
      const busy = queue.find((r) => !r.finished && !r.cancelled && r.key === fileKey(file));
      if (busy) {
        toast(`${file.name} is already in the upload list.`, "info");
        continue;
      }
      const bar = h("progress", { max: 100, value: 0, "aria-label": `Upload progress of ${file.name}` });
      const status = h("span", { class: "small muted" }, "waiting");
      const cancel = h(
        "button",
        { type: "button", class: "btn btn-quiet btn-small", "aria-label": `Cancel ${file.name}` },
        "Cancel",
      );
      const li = h(
        "li",
        { class: "upload-row", testid: "upload-row" },
        h("span", { class: "upload-name" }, file.name),
        h("span", { class: "small muted" }, fmtBytes(file.size)),
        bar,
        status,
        cancel,
      );
      uploads.append(li);
      const row = {
        file,
        key: fileKey(file),
        li,
        bar,
        status,
        cancel,
        cancelled: false,
        finished: false,
        handle: null,
      };
      cancel.onclick = () => {
        row.cancelled = true;
        if (row.handle) row.handle.abort();
        else {
          status.textContent = "cancelled";
          li.remove();
        }
      };
      queue.push(row);
    }
    pump();
  }

  async function pump() {
    if (pumping) return;
    pumping = true;
    try {
      for (;;) {
        const row = queue.find((r) => !r.finished && !r.cancelled);
        if (!row || stopped) return;
        await uploadOne(row);
        row.finished = true;
      }
    } finally {
      pumping = false;
    }
  }

  async function uploadOne(row) {
    row.status.textContent = "uploading";
    const handle = api.datasets.upload(datasetId, row.file, (loaded, total) => {
      const pct = total ? Math.round((loaded / total) * 100) : 0;
      row.bar.value = pct;
      row.status.textContent = pct >= 100 ? "processing…" : `${pct} %`;
    });
    row.handle = handle;
    try {
      const img = await handle.promise;
      row.bar.value = 100;
      row.status.textContent = "uploaded";
      row.li.dataset.state = "done";
      row.li.setAttribute("data-testid", "upload-row-done");
      row.cancel.remove();
      put(img);
      schedulePoll();
      setTimeout(() => row.li.remove(), 6000);
    } catch (e) {
      // a full bar would say the file is in; the server refused it, so nothing was stored
      row.bar.replaceWith(
        h(
          "span",
          { class: "upload-failed small", testid: "upload-not-stored" },
          e.code === "aborted" ? "cancelled" : "not stored",
        ),
      );
      row.status.textContent = "failed";
      row.li.dataset.state = "failed";
      row.li.append(h("span", { class: "error-text small", testid: "upload-error" }, e.message));
      row.cancel.textContent = "Dismiss";
      row.cancel.onclick = () => row.li.remove();
      if (e.code !== "aborted") showError(e, `Upload of ${row.file.name}`);
    }
  }

  try {
    await load();
  } catch (e) {
    grid.append(errorBox(e));
    showError(e, "Loading images");
  }
  return () => {
    stopped = true;
    if (pendingPoll) pendingPoll.stop();
  };
}

// Published versions: immutable, citable snapshots with a landing page and an RO-Crate package.
// Curators publish the next one (the dataset's metadata and ready images as they are now).
function versionsSection(ds, canPublish) {
  const list = h("ul", { class: "version-list", testid: "version-list" });
  const section = h(
    "section",
    { class: "versions", "aria-label": "Published versions" },
    h("h2", { class: "section-title" }, "Published versions"),
    list,
  );

  function row(v, latest) {
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

  async function load() {
    const page = await api.request("GET", `datasets/${ds.id}/versions/`, { query: { limit: 50 } });
    clear(list);
    if (!page.results.length)
      list.append(h("li", { class: "muted small", testid: "versions-empty" }, "No version published yet."));
    page.results.forEach((v, i) => {
      list.append(row(v, i === 0));
    });
  }

  if (canPublish) {
    const note = h("input", {
      type: "text",
      maxlength: 2000,
      placeholder: "What this version is (optional)",
      "aria-label": "Version note",
      testid: "version-note",
      class: "input",
    });
    const button = h("button", { type: "button", class: "btn", testid: "create-version" }, "Create version");
    button.onclick = async () => {
      button.disabled = true;
      try {
        const v = await api.request("POST", `datasets/${ds.id}/versions/`, { body: { note: note.value } });
        toast(`Version ${v.number} published.`, "info");
        note.value = "";
        await load();
      } catch (e) {
        showError(e, "Publishing a version");
      } finally {
        button.disabled = false;
      }
    };
    section.append(
      h(
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
      ),
    );
  }
  load().catch((e) => {
    list.append(errorBox(e));
  });
  return section;
}
