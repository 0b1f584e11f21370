// Zoomable, pannable micrograph canvas with a chip grid, chip highlights and a result overlay.
//
// Coordinates: everything is in *original image pixels*; the preview (≤ 2048 px) is stretched
// to the original size. screen = image * scale + (tx, ty), in CSS pixels of the canvas.
// Each frame draws only what is visible: the visible part of the preview, the visible grid
// lines and chips, and the visible part of the (one-pixel-per-chip) overlay canvas, so a
// 4096×4096 micrograph with 16 000 chips pans and zooms smoothly.

import { h } from "./ui.js";
import {
  clampNum,
  DISPLAY_DEFAULT,
  displayLut,
  isDefaultDisplay,
  scaleBarLength,
  stretchSettings,
} from "./viewer/display.js";
import { displayPanel } from "./viewer/display-panel.js";
import { bindInput } from "./viewer/input.js";
import { drawChips, drawGrid } from "./viewer/layers.js";
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
    const btn = (txt, title, fn, id) =>
      h("button", { type: "button", class: "btn btn-icon", title, "aria-label": title, testid: id, onclick: fn }, txt);
    this.zoomLabel = h("span", { class: "zoom-label", testid: "zoom-label" }, "");
    // Scale bar in the bar above the image (never over it): a round length at the current zoom.
    this.scaleLine = h("span", { class: "scale-line" });
    this.scaleText = h("span", {}, "");
    this.scaleBar = h(
      "span",
      { class: "scale-bar", testid: "scale-bar", hidden: !pixelSize },
      this.scaleLine,
      this.scaleText,
    );
    // Display: brightness / contrast / gamma / invert of the pixels (a lookup table applied to
    // the preview, never to the data) and the grid lines; remembered per image.
    this.display = { ...DISPLAY_DEFAULT };
    this._displayKey = null;
    this.displayPanel = displayPanel(this);
    this.gridBtn = btn("#", "Hide grid lines (G)", () => this.setShowGrid(!this.showGrid), "grid-toggle");
    this.gridBtn.setAttribute("aria-pressed", "true");
    this.displayBtn = btn(
      "◐",
      "Display: brightness, contrast, gamma, invert",
      () => {
        this.displayPanel.hidden = !this.displayPanel.hidden;
        this.displayBtn.setAttribute("aria-expanded", String(!this.displayPanel.hidden));
      },
      "display-toggle",
    );
    this.displayBtn.setAttribute("aria-expanded", "false");
    this.controls = h(
      "div",
      { class: "viewer-controls" },
      this.scaleBar,
      this.gridBtn,
      this.displayBtn,
      btn("+", "Zoom in", () => this.zoomBy(1.5), "zoom-in"),
      btn("−", "Zoom out", () => this.zoomBy(1 / 1.5), "zoom-out"),
      btn("⤢", "Fit image", () => this.fit(), "zoom-fit"),
      btn("1:1", "Real pixels: one image pixel per screen pixel", () => this.zoomActual(), "zoom-actual"),
      this.zoomLabel,
    );
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
    // Fetched as bytes first: a bitmap made from them can be read back for the display
    // settings even when the preview comes from the object store's origin (an <img> from
    // there taints the canvas); the <img> is the fallback where that origin allows no CORS.
    let bitmap = null;
    if (window.createImageBitmap) {
      try {
        const res = await fetch(src, { credentials: "same-origin" });
        if (res.ok) bitmap = await createImageBitmap(await res.blob());
      } catch {
        bitmap = null;
      }
    }
    if (!bitmap) {
      const img = new Image();
      img.decoding = "async";
      img.src = src;
      try {
        await img.decode();
      } catch {
        this.status.textContent = "The preview could not be loaded.";
        this.status.classList.add("error-text");
        throw new Error("The image preview could not be loaded.");
      }
      // An ImageBitmap is already decoded and uploaded: cheapest to draw every frame.
      bitmap = window.createImageBitmap ? await createImageBitmap(img) : img;
    }
    this.img = bitmap;
    this.pw = bitmap.naturalWidth || bitmap.width;
    this.ph = bitmap.naturalHeight || bitmap.height;
    this._pixels = null; // the preview's pixels, read once when a display setting needs them
    this._applyDisplay();
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
    this._scheduleDisplay();
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
    const px = this._readPixels();
    if (!px) return;
    this.setDisplay(stretchSettings(px, p, this.display.invert));
  }

  _readPixels() {
    if (this._pixels) return this._pixels;
    if (!this.img) return null;
    const c = document.createElement("canvas");
    c.width = this.pw;
    c.height = this.ph;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(this.img, 0, 0);
    try {
      this._pixels = ctx.getImageData(0, 0, this.pw, this.ph).data;
    } catch {
      // a preview from another origin that allows no CORS cannot be read back
      this.status.textContent = "Display settings are unavailable for this preview.";
      return null;
    }
    return this._pixels;
  }

  _scheduleDisplay() {
    if (this._displayFrame) return;
    this._displayFrame = requestAnimationFrame(() => {
      this._displayFrame = 0;
      this._applyDisplay();
    });
  }

  /** The preview through the display's lookup table (the preview itself when neutral). */
  _applyDisplay() {
    if (!this.img) return;
    if (isDefaultDisplay(this.display)) {
      this.drawn = this.img;
      this.requestDraw();
      return;
    }
    const lut = displayLut(this.display);
    const src = this._readPixels();
    if (!src) {
      this.drawn = this.img;
      this.requestDraw();
      return;
    }
    if (!this._displayCanvas) {
      this._displayCanvas = document.createElement("canvas");
    }
    const c = this._displayCanvas;
    if (c.width !== this.pw || c.height !== this.ph) {
      c.width = this.pw;
      c.height = this.ph;
    }
    const ctx = c.getContext("2d");
    const out = ctx.createImageData(this.pw, this.ph);
    const o = out.data;
    for (let i = 0; i < src.length; i += 4) {
      o[i] = lut[src[i]];
      o[i + 1] = lut[src[i + 1]];
      o[i + 2] = lut[src[i + 2]];
      o[i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    this.drawn = c;
    this.requestDraw();
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

  // --- interaction -----------------------------------------------------------------
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
      this._publish();
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
    let vis = null;
    if (g) {
      const c0 = Math.max(0, Math.floor((x0 - g.ox) / g.chip));
      const r0 = Math.max(0, Math.floor((y0 - g.oy) / g.chip));
      const c1 = Math.min(g.cols, Math.ceil((x1 - g.ox) / g.chip));
      const r1 = Math.min(g.rows, Math.ceil((y1 - g.oy) / g.chip));
      vis = { c0, r0, c1, r1 };
    }

    // Result overlay: a pixel map (an image at the original's size) or a chip map (one canvas
    // pixel per chip), scaled up without smoothing.
    if (this.overlay?.image) {
      const im = this.overlay.image;
      const mx = im.naturalWidth / W;
      const my = im.naturalHeight / H;
      ctx.save();
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = this.overlay.opacity;
      ctx.drawImage(
        im,
        x0 * mx,
        y0 * my,
        (x1 - x0) * mx,
        (y1 - y0) * my,
        tx + x0 * s,
        ty + y0 * s,
        (x1 - x0) * s,
        (y1 - y0) * s,
      );
      ctx.restore();
    } else if (g && this.overlay && vis.c1 > vis.c0 && vis.r1 > vis.r0) {
      const { c0, r0, c1, r1 } = vis;
      ctx.save();
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = this.overlay.opacity;
      ctx.drawImage(
        this.overlay.canvas,
        c0,
        r0,
        c1 - c0,
        r1 - r0,
        tx + (g.ox + c0 * g.chip) * s,
        ty + (g.oy + r0 * g.chip) * s,
        (c1 - c0) * g.chip * s,
        (r1 - r0) * g.chip * s,
      );
      ctx.restore();
    }

    if (g) drawGrid(this, g, vis);
    if (g) drawChips(this, g, vis);
    this._publish();
    if (this.onDraw) this.onDraw();
  }

  _publish() {
    // The view as the canvas's data-* attributes (scale, offset, tiles drawn): readable from the page.
    const d = this.canvas.dataset;
    d.scale = this.scale;
    d.tx = this.tx;
    d.ty = this.ty;
    // 100 % = one image pixel per device pixel (real pixels)
    this.zoomLabel.textContent = `${Math.round(this.scale * (this.dpr || 1) * 100)} %`;
    this.zoomLabel.title = "Magnification: at 100 % one image pixel is one screen pixel";
    d.tiles = this.tiles.drawnCount;
    if (this.pixelSize) {
      const bar = scaleBarLength(this.pixelSize, this.pixelUnit, this.scale);
      this.scaleLine.style.width = `${bar.px.toFixed(1)}px`;
      this.scaleText.textContent = bar.label;
      this.scaleBar.dataset.length = bar.value;
      this.scaleBar.dataset.unit = bar.unit;
    }
  }
}
