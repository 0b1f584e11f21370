// Uploading micrographs to a dataset: the drop zone (or file chooser) and the list of uploads,
// each with its progress, cancel and outcome.
import * as api from "../../api.js";
import { h, fmtBytes, showError, toast } from "../../ui.js";

const ACCEPT = ".tif,.tiff,.png,.jpg,.jpeg,.dm3,.dm4,image/*";

/** The drop zone and the upload list; `onStored(image)` for each file the server took,
 * `stopped()` is true once the page is left (the queue then starts no further upload). */
export function uploadArea(datasetId, { onStored, stopped }) {
  const list = h("ul", { class: "upload-list", testid: "upload-list", "aria-label": "Uploads" });
  const start = uploadQueue(datasetId, list, { onStored, stopped });
  return { drop: dropzone(start), list };
}

function dropzone(start) {
  const input = h("input", {
    type: "file",
    multiple: true,
    id: "file-input",
    class: "visually-hidden",
    testid: "file-input",
    accept: ACCEPT,
    onchange: () => {
      start([...input.files]);
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
        start([...ev.dataTransfer.files]);
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
  return drop;
}

// One queue for every drop and choice: uploads run one at a time (honest progress, a flat
// server memory), and a file already waiting or uploading is not queued twice.
function uploadQueue(datasetId, list, { onStored, stopped }) {
  const queue = [];
  let pumping = false;
  const fileKey = (f) => `${f.name}|${f.size}|${f.lastModified}`;

  async function pump() {
    if (pumping) return;
    pumping = true;
    try {
      for (;;) {
        const row = queue.find((r) => !r.finished && !r.cancelled);
        if (!row || stopped()) return;
        await uploadOne(datasetId, row, onStored);
        row.finished = true;
      }
    } finally {
      pumping = false;
    }
  }

  return (files) => {
    for (const file of files) {
      const key = fileKey(file);
      if (queue.find((r) => !r.finished && !r.cancelled && r.key === key)) {
        toast(`${file.name} is already in the upload list.`, "info");
        continue;
      }
      const row = uploadRow(file, key);
      list.append(row.li);
      queue.push(row);
    }
    pump();
  };
}

/** A file's row in the upload list: waiting until its turn, cancellable before and during. */
function uploadRow(file, key) {
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
  const row = { file, key, li, bar, status, cancel, cancelled: false, finished: false, handle: null };
  cancel.onclick = () => {
    row.cancelled = true;
    if (row.handle) row.handle.abort();
    else {
      status.textContent = "cancelled";
      li.remove();
    }
  };
  return row;
}

async function uploadOne(datasetId, row, onStored) {
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
    onStored(img);
    setTimeout(() => row.li.remove(), 6000);
  } catch (e) {
    showFailure(row, e);
  }
}

function showFailure(row, e) {
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
