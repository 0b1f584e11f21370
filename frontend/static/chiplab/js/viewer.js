// Zoomable, pannable micrograph canvas with a chip grid, chip highlights and a result overlay.
//
// Coordinates: everything is in *original image pixels*; the preview (≤ 2048 px) is stretched
// to the original size. screen = image * scale + (tx, ty), in CSS pixels of the canvas.
// Each frame draws only what is visible: the visible part of the preview, the visible grid
// lines and chips, and the visible part of the (one-pixel-per-chip) overlay canvas, so a
// 4096×4096 micrograph with 16 000 chips pans and zooms smoothly.

import { h } from "./ui.js";

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

    this.canvas = h("canvas", { class: "viewer-canvas", tabindex: "0", testid: "viewer-canvas",
      role: "img", "aria-label": label || "Micrograph; drag to pan, wheel to zoom, click a chip to select it" });
    const btn = (txt, title, fn, id) => h("button", { type: "button", class: "btn btn-icon", title,
      "aria-label": title, testid: id, onclick: fn }, txt);
    this.zoomLabel = h("span", { class: "zoom-label", testid: "zoom-label" }, "");
    // Scale bar in the bar above the image (never over it): a round length at the current zoom.
    this.scaleLine = h("span", { class: "scale-line" });
    this.scaleText = h("span", {}, "");
    this.scaleBar = h("span", { class: "scale-bar", testid: "scale-bar", hidden: !pixelSize },
      this.scaleLine, this.scaleText);
    // Display: brightness / contrast / gamma / invert of the pixels (a lookup table applied to
    // the preview, never to the data) and the grid lines; remembered per image.
    this.display = { ...DISPLAY_DEFAULT };
    this._displayKey = null;
    this.displayPanel = this._displayControls();
    this.gridBtn = btn("#", "Hide grid lines (G)", () => this.setShowGrid(!this.showGrid), "grid-toggle");
    this.gridBtn.setAttribute("aria-pressed", "true");
    this.displayBtn = btn("◐", "Display: brightness, contrast, gamma, invert", () => {
      this.displayPanel.hidden = !this.displayPanel.hidden;
      this.displayBtn.setAttribute("aria-expanded", String(!this.displayPanel.hidden));
    }, "display-toggle");
    this.displayBtn.setAttribute("aria-expanded", "false");
    this.controls = h("div", { class: "viewer-controls" }, this.scaleBar,
      this.gridBtn, this.displayBtn,
      btn("+", "Zoom in", () => this.zoomBy(1.5), "zoom-in"),
      btn("−", "Zoom out", () => this.zoomBy(1 / 1.5), "zoom-out"),
      btn("⤢", "Fit image", () => this.fit(), "zoom-fit"),
      btn("1:1", "Real pixels: one image pixel per screen pixel", () => this.zoomActual(), "zoom-actual"),
      this.zoomLabel);
    this.status = h("div", { class: "viewer-status", "aria-hidden": "true" }, "Loading image…");
    // Controls live in a bar above the image area, never on top of the image: a click on a
    // chip at the edge must label it, not zoom. Steps put their own tools in `toolbar`.
    this.toolbar = h("div", { class: "viewer-tools", testid: "viewer-tools" });
    this.bar = h("div", { class: "viewer-bar" }, this.toolbar, this.controls);
    this.area = h("div", { class: "viewer-area" }, this.canvas, this.status);
    this.root = h("div", { class: "viewer", testid: "viewer" }, this.bar, this.displayPanel, this.area);
    host.append(this.root);
    this.ctx = this.canvas.getContext("2d", { alpha: false });

    this._bind();
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
    if (keepView) this.requestDraw(); else this.fit();
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
  _displayControls() {
    const slider = (key, label, min, max, step) => {
      const input = h("input", { type: "range", min, max, step, value: this.display[key],
        testid: `display-${key}`, "aria-label": label,
        oninput: () => this.setDisplay({ [key]: Number(input.value) }) });
      const out = h("output", { class: "num small", testid: `display-${key}-value` });
      return { input, out, row: h("label", { class: "display-field" }, h("span", {}, label), input, out) };
    };
    const f = {
      brightness: slider("brightness", "Brightness", -100, 100, 1),
      contrast: slider("contrast", "Contrast", -100, 100, 1),
      gamma: slider("gamma", "Gamma", 0.2, 5, 0.05),
    };
    const invert = h("input", { type: "checkbox", testid: "display-invert",
      onchange: () => this.setDisplay({ invert: invert.checked }) });
    this._displayFields = { ...f, invert };
    return h("div", { class: "viewer-display", testid: "display-panel", hidden: true },
      f.brightness.row, f.contrast.row, f.gamma.row,
      h("label", { class: "display-field toggle" }, invert, "Invert"),
      h("button", { type: "button", class: "btn btn-small", testid: "display-auto",
        title: "Stretch the 0.5–99.5 % percentiles of the pixel values to black and white",
        onclick: () => this.autoContrast(0.005) }, "Auto 0.5–99.5 %"),
      h("button", { type: "button", class: "btn btn-small", testid: "display-auto-wide",
        title: "Stretch the 2–98 % percentiles (more contrast, some clipping)",
        onclick: () => this.autoContrast(0.02) }, "Auto 2–98 %"),
      h("button", { type: "button", class: "btn btn-small btn-quiet", testid: "display-reset",
        onclick: () => this.setDisplay({ ...DISPLAY_DEFAULT }) }, "Reset"));
  }

  /** Remember display settings under ``key`` (an image id) and restore those saved there. */
  setDisplayKey(key) {
    this._displayKey = key ? `chiplab.display.${key}` : null;
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(this._displayKey) || "null"); } catch { saved = null; }
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
    } catch { /* private mode: not remembered */ }
  }

  /** Brightness and contrast that stretch the [p, 1 - p] percentiles to black and white. */
  autoContrast(p) {
    const px = this._readPixels();
    if (!px) return;
    const hist = new Uint32Array(256);
    for (let i = 0; i < px.length; i += 4) hist[px[i]]++;
    const n = px.length / 4;
    const at = (q) => { let acc = 0; for (let v = 0; v < 256; v++) { acc += hist[v]; if (acc >= q * n) return v; } return 255; };
    let lo = at(p) / 255;
    let hi = at(1 - p) / 255;
    if (this.display.invert) [lo, hi] = [1 - hi, 1 - lo];
    const k = Math.min(4, 1 / Math.max(hi - lo, 1 / 255));
    this.setDisplay({ contrast: 50 * Math.log2(k), brightness: 100 * (k * (0.5 - lo) - 0.5), gamma: 1 });
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
    this._displayFrame = requestAnimationFrame(() => { this._displayFrame = 0; this._applyDisplay(); });
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
    if (c.width !== this.pw || c.height !== this.ph) { c.width = this.pw; c.height = this.ph; }
    const ctx = c.getContext("2d");
    const out = ctx.createImageData(this.pw, this.ph);
    const o = out.data;
    for (let i = 0; i < src.length; i += 4) {
      o[i] = lut[src[i]]; o[i + 1] = lut[src[i + 1]]; o[i + 2] = lut[src[i + 2]]; o[i + 3] = 255;
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
    this.canvas.style.width = this.cw + "px";
    this.canvas.style.height = this.ch + "px";
    // Until the user zooms or pans, keep the whole image in view as the layout settles.
    if (this.img && !this._userMoved) this.fit();
    this.requestDraw();
  }

  fitScale() { return Math.min(this.cw / this.W, this.ch / this.H); }

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
    return { x: r.left + this.tx + (g.ox + (col + 0.5) * g.chip) * this.scale,
      y: r.top + this.ty + (g.oy + (row + 0.5) * g.chip) * this.scale };
  }

  // --- layers ----------------------------------------------------------------------
  setGrid(grid) { this.grid = grid; this.requestDraw(); }
  setChips(chips) { this.chips = chips || []; this.requestDraw(); }
  setOverlay(overlay) { this.overlay = overlay; this.requestDraw(); }

  // --- interaction -----------------------------------------------------------------
  _bind() {
    const c = this.canvas;
    c.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = c.getBoundingClientRect();
      const delta = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
      this.zoomBy(Math.exp(-delta * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });

    let drag = null;
    c.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      c.setPointerCapture(ev.pointerId);
      drag = { x: ev.clientX, y: ev.clientY, tx: this.tx, ty: this.ty, moved: false };
    });
    c.addEventListener("pointermove", (ev) => {
      if (drag) {
        const dx = ev.clientX - drag.x;
        const dy = ev.clientY - drag.y;
        if (!drag.moved && Math.hypot(dx, dy) > 4) {
          drag.moved = true;
          this._userMoved = true;
          c.classList.add("panning");
        }
        if (drag.moved) {
          this.tx = drag.tx + dx;
          this.ty = drag.ty + dy;
          this.requestDraw();
        }
        return;
      }
      const p = this.toImage(ev.clientX, ev.clientY);
      const chip = this.chipAt(p.x, p.y);
      if ((chip && (!this.hover || chip.row !== this.hover.row || chip.col !== this.hover.col))
          || (!chip && this.hover)) {
        this.hover = chip;
        this.requestDraw();
      }
      if (this.onHover) this.onHover(chip, p);
    });
    const end = (ev) => {
      if (!drag) return;
      const wasDrag = drag.moved;
      drag = null;
      c.classList.remove("panning");
      if (ev.type === "pointerup" && !wasDrag && this.onChipClick) {
        const p = this.toImage(ev.clientX, ev.clientY);
        const chip = this.chipAt(p.x, p.y);
        if (chip) this.onChipClick(chip.row, chip.col, ev);
      }
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("pointerleave", () => {
      if (this.hover) { this.hover = null; this.requestDraw(); }
      if (this.onHover) this.onHover(null, null);
    });
    c.addEventListener("keydown", (ev) => {
      const step = 60;
      const map = {
        ArrowLeft: () => { this.tx += step; }, ArrowRight: () => { this.tx -= step; },
        ArrowUp: () => { this.ty += step; }, ArrowDown: () => { this.ty -= step; },
        "+": () => this.zoomBy(1.25), "=": () => this.zoomBy(1.25), "-": () => this.zoomBy(0.8),
        "0": () => this.fit(),
        g: () => this.setShowGrid(!this.showGrid),
      };
      if (map[ev.key] && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        ev.stopPropagation();
        if (ev.key.startsWith("Arrow")) this._userMoved = true;
        map[ev.key]();
        this.requestDraw();
      }
    });
  }

  // --- drawing ---------------------------------------------------------------------
  requestDraw() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => { this._frame = 0; this.draw(); });
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
    if (x1 <= x0 || y1 <= y0) { this._publish(); return; }

    const kx = this.pw / W;
    const ky = this.ph / H;
    ctx.imageSmoothingEnabled = s * Math.min(1 / kx, 1 / ky) < 3;
    ctx.imageSmoothingQuality = "medium";
    ctx.drawImage(this.drawn || this.img, x0 * kx, y0 * ky, (x1 - x0) * kx, (y1 - y0) * ky,
      tx + x0 * s, ty + y0 * s, (x1 - x0) * s, (y1 - y0) * s);
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
    if (this.overlay && this.overlay.image) {
      const im = this.overlay.image;
      const mx = im.naturalWidth / W;
      const my = im.naturalHeight / H;
      ctx.save();
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = this.overlay.opacity;
      ctx.drawImage(im, x0 * mx, y0 * my, (x1 - x0) * mx, (y1 - y0) * my,
        tx + x0 * s, ty + y0 * s, (x1 - x0) * s, (y1 - y0) * s);
      ctx.restore();
    } else if (g && this.overlay && vis.c1 > vis.c0 && vis.r1 > vis.r0) {
      const { c0, r0, c1, r1 } = vis;
      ctx.save();
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = this.overlay.opacity;
      ctx.drawImage(this.overlay.canvas, c0, r0, c1 - c0, r1 - r0,
        tx + (g.ox + c0 * g.chip) * s, ty + (g.oy + r0 * g.chip) * s,
        (c1 - c0) * g.chip * s, (r1 - r0) * g.chip * s);
      ctx.restore();
    }

    if (g) this._drawGrid(g, vis);
    if (g) this._drawChips(g, vis);
    this._publish();
    if (this.onDraw) this.onDraw();
  }

  _drawGrid(g, { c0, r0, c1, r1 }) {
    const { ctx, scale: s, tx, ty } = this;
    const step = g.chip * s;
    const left = tx + g.ox * s;
    const top = ty + g.oy * s;
    const right = left + g.cols * step;
    const bottom = top + g.rows * step;
    // Cropped margins: shade what belongs to no chip.
    ctx.fillStyle = "rgba(20, 24, 30, 0.45)";
    const ix0 = tx, iy0 = ty, ix1 = tx + this.W * s, iy1 = ty + this.H * s;
    if (top > iy0) ctx.fillRect(ix0, iy0, ix1 - ix0, top - iy0);
    if (bottom < iy1) ctx.fillRect(ix0, bottom, ix1 - ix0, iy1 - bottom);
    if (left > ix0) ctx.fillRect(ix0, top, left - ix0, bottom - top);
    if (right < ix1) ctx.fillRect(right, top, ix1 - right, bottom - top);

    if (this.showGrid && step >= 3) {
      ctx.beginPath();
      const ya = Math.max(top, 0), yb = Math.min(bottom, this.ch);
      const xa = Math.max(left, 0), xb = Math.min(right, this.cw);
      for (let c = c0; c <= c1; c++) {
        const x = Math.round(left + c * step) + 0.5;
        ctx.moveTo(x, ya); ctx.lineTo(x, yb);
      }
      for (let r = r0; r <= r1; r++) {
        const y = Math.round(top + r * step) + 0.5;
        ctx.moveTo(xa, y); ctx.lineTo(xb, y);
      }
      ctx.lineWidth = 1;
      ctx.strokeStyle = step < 8 ? "rgba(255,255,255,0.18)" : "rgba(255,255,255,0.38)";
      ctx.stroke();
    }
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "rgba(255,255,255,0.75)";
    ctx.strokeRect(left, top, right - left, bottom - top);
  }

  _drawChips(g, { c0, r0, c1, r1 }) {
    const { ctx, scale: s, tx, ty } = this;
    const step = g.chip * s;
    const inset = Math.min(2, step / 6);
    for (const chip of this.chips) {
      if (chip.row < r0 || chip.row >= r1 || chip.col < c0 || chip.col >= c1) continue;
      const x = tx + (g.ox + chip.col * g.chip) * s;
      const y = ty + (g.oy + chip.row * g.chip) * s;
      if (chip.kind === "flag") {
        // An example the model disagrees with: a red-and-white dashed frame over the result.
        ctx.lineWidth = Math.max(2, Math.min(4, step / 8));
        ctx.setLineDash([6, 4]);
        ctx.strokeStyle = "#ffffff";
        ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
        ctx.lineDashOffset = 5;
        ctx.strokeStyle = "#d7191c";
        ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
        ctx.setLineDash([]);
        ctx.lineDashOffset = 0;
        continue;
      }
      if (chip.kind === "suggest") {
        // "Label this next": an amber dashed frame, brighter on the focused suggestion.
        ctx.lineWidth = Math.max(2, Math.min(4, step / 8));
        ctx.setLineDash([5, 3]);
        ctx.strokeStyle = chip.focused ? "#ffd54a" : "rgba(255, 191, 0, 0.85)";
        ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
        ctx.setLineDash([]);
        if (step >= 18 && chip.label) {
          ctx.font = `600 ${Math.min(14, Math.round(step / 3))}px system-ui, sans-serif`;
          ctx.fillStyle = "#ffbf00";
          ctx.fillText(chip.label, x + inset + 3, y + inset + Math.min(14, step / 3) + 1);
        }
        continue;
      }
      if (chip.kind === "other") {
        // Someone else's vote: a corner marker, so that one's own clicks stay readable.
        const m = Math.max(4, step * 0.28);
        ctx.fillStyle = chip.color;
        ctx.beginPath();
        ctx.moveTo(x + step - m, y); ctx.lineTo(x + step, y); ctx.lineTo(x + step, y + m);
        ctx.closePath();
        ctx.fill();
        continue;
      }
      ctx.globalAlpha = 0.35;
      ctx.fillStyle = chip.color;
      ctx.fillRect(x, y, step, step);
      ctx.globalAlpha = 1;
      ctx.lineWidth = Math.max(1.5, Math.min(3, step / 10));
      ctx.strokeStyle = chip.color;
      ctx.strokeRect(x + inset, y + inset, step - 2 * inset, step - 2 * inset);
    }
    const hv = this.hover;
    if (hv && this.onChipClick) {
      const x = tx + (g.ox + hv.col * g.chip) * s;
      const y = ty + (g.oy + hv.row * g.chip) * s;
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffffff";
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(x + 1, y + 1, step - 2, step - 2);
      ctx.setLineDash([]);
    }
  }

  _publish() {
    // Exposed for tests and debugging: the current transform.
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

/** Full-resolution tiles of a large image (catalog.tiles): fetched as they come into view,
 * at most a few at once, kept in a bounded cache, passed through the display's lookup table. */
class TileLayer {
  constructor(indexUrl, onLoad) {
    this.indexUrl = indexUrl;
    this.onLoad = onLoad;
    this.index = null; // {tile_size, levels: [{z, width, height, rows, cols}]}
    this.cache = new Map(); // "z/row/col" -> {bitmap, shown, shownKey, failed}
    this.loading = 0;
    this.drawnCount = 0;
    if (indexUrl) {
      fetch(indexUrl, { credentials: "same-origin" })
        .then((res) => (res.ok ? res.json() : null))
        .then((index) => { if (index && index.levels.length) { this.index = index; onLoad(); } })
        .catch(() => {});
    }
  }

  draw(ctx, { x0, y0, x1, y1, s, tx, ty, dpr, display }) {
    this.drawnCount = 0;
    const index = this.index;
    if (!index) return;
    // the coarsest level that still has a pixel for each device pixel
    const want = Math.floor(Math.log2(1 / Math.max(s * dpr, 1e-6)));
    const levels = index.levels;
    const level = levels[Math.min(Math.max(0, want), levels.length - 1)];
    const f = 2 ** level.z; // image px per tile px
    const span = index.tile_size * f;
    const c0 = Math.max(0, Math.floor(x0 / span));
    const r0 = Math.max(0, Math.floor(y0 / span));
    const c1 = Math.min(level.cols - 1, Math.floor((x1 - 1e-6) / span));
    const r1 = Math.min(level.rows - 1, Math.floor((y1 - 1e-6) / span));
    // at 1:1 and closer every screen pixel shows one image pixel, never a blend
    ctx.imageSmoothingEnabled = s * f * dpr < 1;
    const lutKey = isDefaultDisplay(display) ? "" : JSON.stringify(display);
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const key = `${level.z}/${r}/${c}`;
        const tile = this.cache.get(key);
        if (!tile) { this._fetch(key); continue; }
        if (!tile.bitmap) continue;
        this.cache.delete(key); // most recently used last
        this.cache.set(key, tile);
        const img = this._shown(tile, lutKey, display);
        ctx.drawImage(img, tx + c * span * s, ty + r * span * s, tile.bitmap.width * f * s,
          tile.bitmap.height * f * s);
        this.drawnCount++;
      }
    }
  }

  _shown(tile, lutKey, display) {
    if (!lutKey) return tile.bitmap;
    if (tile.shownKey === lutKey) return tile.shown;
    const c = document.createElement("canvas");
    c.width = tile.bitmap.width;
    c.height = tile.bitmap.height;
    const cx = c.getContext("2d", { willReadFrequently: true });
    cx.drawImage(tile.bitmap, 0, 0);
    try {
      const data = cx.getImageData(0, 0, c.width, c.height);
      const lut = displayLut(display);
      const px = data.data;
      for (let i = 0; i < px.length; i += 4) { px[i] = lut[px[i]]; px[i + 1] = lut[px[i + 1]]; px[i + 2] = lut[px[i + 2]]; }
      cx.putImageData(data, 0, 0);
    } catch { return tile.bitmap; }
    tile.shown = c;
    tile.shownKey = lutKey;
    return c;
  }

  _fetch(key) {
    if (this.loading >= TILE_FETCHES) return;
    const tile = { bitmap: null, shown: null, shownKey: null };
    this.cache.set(key, tile);
    this.loading++;
    fetch(`${this.indexUrl}/${key}`, { credentials: "same-origin" })
      .then((res) => { if (!res.ok) throw new Error(res.status); return res.blob(); })
      .then((blob) => createImageBitmap(blob))
      .then((bitmap) => { tile.bitmap = bitmap; })
      .catch(() => { tile.bitmap = null; }) // not retried while cached
      .finally(() => {
        this.loading--;
        while (this.cache.size > TILE_CACHE) this.cache.delete(this.cache.keys().next().value);
        this.onLoad();
      });
  }
}

const TILE_FETCHES = 6; // tiles requested at once
const TILE_CACHE = 96; // tiles kept (512 px each: ~100 MB of bitmaps at most)

const DISPLAY_DEFAULT = Object.freeze({ brightness: 0, contrast: 0, gamma: 1, invert: false });

function clampNum(v, lo, hi, fallback) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : fallback;
}

function isDefaultDisplay(d) {
  return d.brightness === 0 && d.contrast === 0 && d.gamma === 1 && !d.invert;
}

/** A 256-entry lookup table: invert, then contrast (x 2^(contrast/50) about mid-grey) and
 * brightness (+ brightness/100 of the range), then gamma (out = in^(1/gamma)). */
export function displayLut({ brightness = 0, contrast = 0, gamma = 1, invert = false }) {
  const lut = new Uint8ClampedArray(256);
  const k = 2 ** (contrast / 50);
  for (let v = 0; v < 256; v++) {
    let x = v / 255;
    if (invert) x = 1 - x;
    x = (x - 0.5) * k + 0.5 + brightness / 100;
    x = Math.min(1, Math.max(0, x));
    lut[v] = Math.round(255 * x ** (1 / gamma));
  }
  return lut;
}

const UNIT_STEPS = { pm: ["pm", "nm", 1e3], nm: ["nm", "µm", 1e3], "µm": ["µm", "mm", 1e3], um: ["µm", "mm", 1e3] };

/** A scale bar of about 60–150 screen px: a 1, 2 or 5 × 10^n length at ``scale`` screen px
 * per image pixel, in the image's unit (or the next larger one from 1000 on). */
export function scaleBarLength(pixelSize, unit, scale, target = 90) {
  const per = pixelSize / scale; // physical length of one screen px
  const want = target * per;
  const p10 = 10 ** Math.floor(Math.log10(want));
  const value = [1, 2, 5, 10].map((m) => m * p10).find((v) => v >= want * 0.66) || 10 * p10;
  const [small, large, factor] = UNIT_STEPS[unit] || [unit, unit, Infinity];
  const shown = value >= factor ? [value / factor, large] : [value, small];
  const label = `${Number(shown[0].toPrecision(3))} ${shown[1]}`;
  return { px: value / per, value, unit, label };
}

/** A (cols × rows) canvas with one pixel per chip coloured by class (label −1 = transparent). */
export function labelsCanvas(labels, rows, cols, rgbByLabel) {
  const c = document.createElement("canvas");
  c.width = cols;
  c.height = rows;
  const ctx = c.getContext("2d");
  const im = ctx.createImageData(cols, rows);
  const px = im.data;
  for (let r = 0, i = 0; r < rows; r++) {
    const row = labels[r];
    for (let col = 0; col < cols; col++, i += 4) {
      const rgb = rgbByLabel[row[col]];
      if (!rgb) continue;
      px[i] = rgb[0]; px[i + 1] = rgb[1]; px[i + 2] = rgb[2]; px[i + 3] = 255;
    }
  }
  ctx.putImageData(im, 0, 0);
  return c;
}

/** Confidence (0..1) as a sequential colour map (dark purple = unsure, yellow = sure). */
export function confidenceCanvas(conf, rows, cols) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const c = document.createElement("canvas");
  c.width = cols;
  c.height = rows;
  const ctx = c.getContext("2d");
  const im = ctx.createImageData(cols, rows);
  const px = im.data;
  for (let r = 0, i = 0; r < rows; r++) {
    const row = conf[r];
    for (let col = 0; col < cols; col++, i += 4) {
      const v = Math.min(1, Math.max(0, row[col]));
      const [a, b, t] = colourStop(stops, v);
      px[i] = a[0] + (b[0] - a[0]) * t;
      px[i + 1] = a[1] + (b[1] - a[1]) * t;
      px[i + 2] = a[2] + (b[2] - a[2]) * t;
      px[i + 3] = 255;
    }
  }
  ctx.putImageData(im, 0, 0);
  return c;
}

export function colourStop(stops, v) {
  const f = v * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(f));
  return [stops[k], stops[k + 1], f - k];
}
