// A dataset's images as a grid of tiles, checked again while any is still being ingested.
import * as api from "../../api.js";
import { poll } from "../../poll.js";
import { h, clear, fmtBytes, showError, statusPill, toast } from "../../ui.js";

const POLL_MS = 1500;

/** The grid (``el``); ``load()`` fills it, ``show(image)`` adds or updates one image, ``stop()``
 * ends the checking; ``stopped()`` is true once the page is left. */
export function imageGrid(datasetId, { canUpload, stopped }) {
  const grid = h("div", { class: "image-grid", testid: "image-list" });
  const tiles = new Map(); // image id -> {el, image}
  let pendingPoll = null; // checking images still being ingested

  function put(img) {
    const el = imageTile(img);
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
    if (stopped() || pendingPoll || !pending().length) return;
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
            if (!stopped()) showError(e, "Checking image status");
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

  return {
    el: grid,
    load,
    show(img) {
      put(img);
      schedulePoll();
    },
    stop() {
      if (pendingPoll) pendingPoll.stop();
    },
  };
}

/** One image as a tile: its thumbnail (or why there is none), size, type, pixel size and
 * ingestion status; a ready image links to its workspace. */
function imageTile(img) {
  const body = [
    h("div", { class: "tile-title", title: img.original_filename }, img.original_filename),
    h("div", { class: "tile-meta muted small" }, tileMeta(img)),
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
    ? h(
        "a",
        { ...attrs, href: `#/images/${img.id}`, "aria-label": `Open ${img.original_filename}` },
        thumbnail(img),
        ...body,
      )
    : h("div", attrs, thumbnail(img), ...body);
}

function thumbnail(img) {
  return img.status === "ready"
    ? h("img", {
        src: api.images.thumbnailUrl(img.id),
        alt: `Thumbnail of ${img.original_filename}`,
        loading: "lazy",
      })
    : h("div", { class: `thumb-placeholder ${img.status}` }, img.status === "pending" ? "Processing…" : "No preview");
}

function tileMeta(img) {
  return [
    `${img.width}×${img.height}`,
    img.frames > 1 ? `${img.frames} frames` : null,
    img.dtype,
    img.pixel_size ? `${+img.pixel_size.toPrecision(4)} ${img.pixel_unit}/px` : "uncalibrated",
  ]
    .filter(Boolean)
    .join(" · ");
}
