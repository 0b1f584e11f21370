// Zoomable, pannable micrograph canvas with a chip grid, chip highlights and a result overlay.
//
// Coordinates: everything is in *original image pixels*; the preview (≤ 2048 px) is stretched
// to the original size. screen = image * scale + (tx, ty), in CSS pixels of the canvas.
// Each frame draws only what is visible: the visible part of the preview, the visible grid
// lines and chips, and the visible part of the (one-pixel-per-chip) overlay canvas, so a
// 4096×4096 micrograph with 16 000 chips pans and zooms smoothly.

import { loadPreview } from "./preview-loader.js";
import { h } from "./ui.js";
import { publishView, viewerControls } from "./viewer/controls.js";
import { clampNum, DISPLAY_DEFAULT, isDefaultDisplay, stretchSettings } from "./viewer/display.js";
import { bindInput } from "./viewer/input.js";
import { drawChips, drawGrid } from "./viewer/layers.js";
import { drawOverlay, visibleChips } from "./viewer/overlay.js";
import { applyDisplay, readPixels, scheduleDisplay } from "./viewer/preview.js";
import { TileLayer } from "./viewer/tiles.js";

export { colourStop, confidenceCanvas, displayLut, labelsCanvas, scaleBarLength } from "./viewer/display.js";

const MAX_SCALE = 24; // screen px per image px

export class Viewer {
  /**
   * @param {HTMLElement} host  element to fill
   * @param {{width:number,height:number,src:string,label?:string}} opts
   */
  constructor(host, { width, height, src, label, pixelSize = null, pixelUnit = "", tiles = null }) {
    this.W = width;
    this.H = height;
    // Real pixels: full-resolution tiles of frame 0 drawn over the preview when zoomed in past
    // it. `tiles`: the URL of the image's tile index (GET /api/images/<id>/tiles).
    this.tiles = new TileLayer(tiles, () => this.requestDraw());
    this.showTiles = true; // false while another frame than 0 is the background
    this.pixelSize = pixelSize; // physical size of one image pixel (pixelUnit), for the scale bar
    this.pixelUnit = pixelUnit;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.grid = null; // {chip, ox, oy, rows, cols}
    this.chips = []; // [{row, col, color, kind: "mine"|"other"|"support"}]
    this.overlay = null; // {canvas, opacity} (one pixel per chip) or {image, opacity} (image size)
    this.hover = null;
    this.showGrid = true;
    this.onChipClick = null; // (row, col, event) => void
    this.onHover = null; // ({row, col} | null, {x, y}) => void
    this.onDraw = null; // () => void, after every frame
    this.img = null;
    this._frame = 0;

    this.canvas = h("canvas", {
      class: "viewer-canvas",
      tabindex: "0",
      testid: "viewer-canvas",
      role: "img",
      "aria-label": label || "Micrograph; drag to pan, wheel to zoom, click a chip to select it",
    });
    // Display: brightness / contrast / gamma / invert of the pixels (a lookup table applied to
    // the preview, never to the data) and the grid lines; remembered per image.
    this.display = { ...DISPLAY_DEFAULT };
    this._displayKey = null;
    this.controls = viewerControls(this);
    this.status = h("div", { class: "viewer-status", "aria-hidden": "true" }, "Loading image…");
    // Controls live in a bar above the image area, never on top of the image: a click on a
    // chip at the edge must label it, not zoom. Steps put their own tools in `toolbar`.
    this.toolbar = h("div", { class: "viewer-tools", testid: "viewer-tools" });
    this.bar = h("div", { class: "viewer-bar" }, this.toolbar, this.controls);
    this.area = h("div", { class: "viewer-area" }, this.canvas, this.status);
    this.root = h("div", { class: "viewer", testid: "viewer" }, this.bar, this.displayPanel, this.area);
    host.append(this.root);
    this.ctx = this.canvas.getContext("2d", { alpha: false });

    bindInput(this);
    this._ro = new ResizeObserver(() => this._resize());
    this._ro.observe(this.area);
    this._resize();
    this.ready = this._load(src);
  }

  async _load(src, { keepView = false } = {}) {
    const bitmap = await loadPreview(src, { readable: true }).catch((e) => {
      this.status.textContent = "The preview could not be loaded.";
      this.status.classList.add("error-text");
      throw e;
    });
    this.img = bitmap;
    this.pw = bitmap.naturalWidth || bitmap.width;
    this.ph = bitmap.naturalHeight || bitmap.height;
    this._pixels = null; // the preview's pixels, read once when a display setting needs them
    applyDisplay(this);
    this.src = src;
    this.canvas.dataset.src = src;
    this.status.textContent = "";
    if (keepView) this.requestDraw();
    else this.fit();
  }

  /** Show another background (e.g. another frame of a time series), keeping zoom and pan;
   * the full-resolution tiles are of frame 0 (`frame0`: whether `src` shows it). */
  setSource(src, { frame0 = true } = {}) {
    this.showTiles = frame0;
    if (src === this.src) return this.ready;
    this.ready = this.ready.catch(() => {}).then(() => this._load(src, { keepView: true }));
    return this.ready;
  }

  // --- display (brightness / contrast / gamma / invert, grid lines) ------------------
  /** Remember display settings under ``key`` (an image id) and restore those saved there. */
  setDisplayKey(key) {
    this._displayKey = key ? `chiplab.display.${key}` : null;
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(this._displayKey) || "null");
    } catch {
      saved = null;
    }
    const { grid = true, ...display } = saved || {};
    this.setShowGrid(grid !== false, { save: false });
    this.setDisplay({ ...DISPLAY_DEFAULT, ...display }, { save: false });
  }

  setShowGrid(on, { save = true } = {}) {
    this.showGrid = !!on;
    this.gridBtn.setAttribute("aria-pressed", String(this.showGrid));
    this.gridBtn.title = this.showGrid ? "Hide grid lines (G)" : "Show grid lines (G)";
    this.gridBtn.classList.toggle("btn-selected", !this.showGrid);
    this.canvas.dataset.grid = this.showGrid ? "shown" : "hidden";
    if (save) this._saveDisplay();
    this.requestDraw();
  }

  setDisplay(change, { save = true } = {}) {
    const d = { ...this.display, ...change };
    d.brightness = clampNum(d.brightness, -100, 100, 0);
    d.contrast = clampNum(d.contrast, -100, 100, 0);
    d.gamma = clampNum(d.gamma, 0.2, 5, 1);
    d.invert = !!d.invert;
    this.display = d;
    for (const key of ["brightness", "contrast", "gamma"]) {
      const { input, out } = this._displayFields[key];
      input.value = d[key];
      out.textContent = key === "gamma" ? d.gamma.toFixed(2) : String(Math.round(d[key]));
    }
    this._displayFields.invert.checked = d.invert;
    this.displayBtn.classList.toggle("btn-selected", !isDefaultDisplay(d));
    this.canvas.dataset.display = JSON.stringify(d);
    if (save) this._saveDisplay();
    scheduleDisplay(this);
  }

  _saveDisplay() {
    if (!this._displayKey) return;
    const value = { ...this.display, grid: this.showGrid };
    try {
      if (isDefaultDisplay(this.display) && this.showGrid) localStorage.removeItem(this._displayKey);
      else localStorage.setItem(this._displayKey, JSON.stringify(value));
    } catch {
      /* private mode: not remembered */
    }
  }

  /** Brightness and contrast that stretch the [p, 1 - p] percentiles to black and white. */
  autoContrast(p) {
    const px = readPixels(this);
    if (!px) return;
    this.setDisplay(stretchSettings(px, p, this.display.invert));
  }

  destroy() {
    cancelAnimationFrame(this._displayFrame);
    this._ro.disconnect();
    cancelAnimationFrame(this._frame);
    this.root.remove();
  }

  // --- geometry --------------------------------------------------------------------
  _resize() {
    const r = this.area.getBoundingClientRect();
    this.cw = Math.max(1, Math.round(r.width));
    this.ch = Math.max(1, Math.round(r.height));
    this.dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.cw * this.dpr);
    this.canvas.height = Math.round(this.ch * this.dpr);
    this.canvas.style.width = `${this.cw}px`;
    this.canvas.style.height = `${this.ch}px`;
    // Until the user zooms or pans, keep the whole image in view as the layout settles.
    if (this.img && !this._userMoved) this.fit();
    this.requestDraw();
  }

  fitScale() {
    return Math.min(this.cw / this.W, this.ch / this.H);
  }

  fit() {
    this._userMoved = false;
    this.scale = this.fitScale();
    this.tx = (this.cw - this.W * this.scale) / 2;
    this.ty = (this.ch - this.H * this.scale) / 2;
    this.requestDraw();
  }

  zoomBy(f, cx = this.cw / 2, cy = this.ch / 2) {
    this._userMoved = true;
    const min = this.fitScale() * 0.5;
    const s = Math.min(MAX_SCALE, Math.max(min, this.scale * f));
    const k = s / this.scale;
    this.tx = cx - (cx - this.tx) * k;
    this.ty = cy - (cy - this.ty) * k;
    this.scale = s;
    this.requestDraw();
  }

  /** One image pixel per device pixel, about the centre of the view. */
  zoomActual() {
    this.zoomBy(1 / (this.scale * (this.dpr || 1)));
  }

  /** Show image rectangle (x, y, w, h) centred. */
  zoomTo(x, y, w, hgt) {
    this._userMoved = true;
    this.scale = Math.min(MAX_SCALE, Math.min(this.cw / w, this.ch / hgt));
    this.tx = this.cw / 2 - (x + w / 2) * this.scale;
    this.ty = this.ch / 2 - (y + hgt / 2) * this.scale;
    this.requestDraw();
  }

  toImage(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    return { x: (clientX - r.left - this.tx) / this.scale, y: (clientY - r.top - this.ty) / this.scale };
  }

  /** The chip under an image point, or null outside the grid. */
  chipAt(x, y) {
    const g = this.grid;
    if (!g) return null;
    const col = Math.floor((x - g.ox) / g.chip);
    const row = Math.floor((y - g.oy) / g.chip);
    if (row < 0 || col < 0 || row >= g.rows || col >= g.cols) return null;
    return { row, col };
  }

  /** Client (page) coordinates of a chip's centre — used by tests and keyboard focus. */
  chipCenterClient(row, col) {
    const g = this.grid;
    const r = this.canvas.getBoundingClientRect();
    return {
      x: r.left + this.tx + (g.ox + (col + 0.5) * g.chip) * this.scale,
      y: r.top + this.ty + (g.oy + (row + 0.5) * g.chip) * this.scale,
    };
  }

  // --- layers ----------------------------------------------------------------------
  setGrid(grid) {
    this.grid = grid;
    this.requestDraw();
  }
  setChips(chips) {
    this.chips = chips || [];
    this.requestDraw();
  }
  setOverlay(overlay) {
    this.overlay = overlay;
    this.requestDraw();
  }

  // --- drawing ---------------------------------------------------------------------
  requestDraw() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this.draw();
    });
  }

  draw() {
    const { ctx, dpr, scale: s, tx, ty, W, H } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#1d2228";
    ctx.fillRect(0, 0, this.cw, this.ch);
    if (!this.img) return;

    // Visible image rectangle, in image pixels.
    const x0 = Math.max(0, -tx / s);
    const y0 = Math.max(0, -ty / s);
    const x1 = Math.min(W, (this.cw - tx) / s);
    const y1 = Math.min(H, (this.ch - ty) / s);
    if (x1 <= x0 || y1 <= y0) {
      publishView(this);
      return;
    }

    const kx = this.pw / W;
    const ky = this.ph / H;
    ctx.imageSmoothingEnabled = s * Math.min(1 / kx, 1 / ky) < 3;
    ctx.imageSmoothingQuality = "medium";
    ctx.drawImage(
      this.drawn || this.img,
      x0 * kx,
      y0 * ky,
      (x1 - x0) * kx,
      (y1 - y0) * ky,
      tx + x0 * s,
      ty + y0 * s,
      (x1 - x0) * s,
      (y1 - y0) * s,
    );
    // zoomed in past the preview's resolution: the original's pixels, tile by tile
    if (this.showTiles && s * this.dpr > Math.min(kx, ky)) {
      this.tiles.draw(ctx, { x0, y0, x1, y1, s, tx, ty, dpr: this.dpr, display: this.display });
    }

    const g = this.grid;
    const vis = g ? visibleChips(g, { x0, y0, x1, y1 }) : null;
    drawOverlay(this, { x0, y0, x1, y1 }, vis);

    if (g) drawGrid(this, g, vis);
    if (g) drawChips(this, g, vis);
    publishView(this);
    if (this.onDraw) this.onDraw();
  }
}
