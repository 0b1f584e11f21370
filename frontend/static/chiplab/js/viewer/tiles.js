// Full-resolution tiles for the viewer (catalog.tiles), fetched as they come into view.

import { displayLut, isDefaultDisplay } from "./display.js";

const TILE_FETCHES = 6; // tiles requested at once
const TILE_CACHE = 96; // tiles kept (512 px each: ~100 MB of bitmaps at most)

/** Full-resolution tiles of a large image (catalog.tiles): fetched as they come into view,
 * at most a few at once, kept in a bounded cache, passed through the display's lookup table. */
export class TileLayer {
  constructor(indexUrl, onLoad) {
    this.indexUrl = indexUrl;
    this.onLoad = onLoad;
    this.index = null; // {tile_size, levels: [{z, width, height, rows, cols}]}
    this.cache = new Map(); // "z/row/col" -> {bitmap, shown, shownKey, failed}
    this.loading = 0;
    this.drawnCount = 0; // tiles drawn by the last draw
    this.wantedCount = 0; // tiles in view at the last draw (drawn once all have arrived)
    if (indexUrl) {
      fetch(indexUrl, { credentials: "same-origin" })
        .then((res) => (res.ok ? res.json() : null))
        .then((index) => {
          if (index?.levels.length) {
            this.index = index;
            onLoad();
          }
        })
        .catch(() => {});
    }
  }

  draw(ctx, { x0, y0, x1, y1, s, tx, ty, dpr, display }) {
    this.drawnCount = 0;
    this.wantedCount = 0;
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
    this.wantedCount = Math.max(0, r1 - r0 + 1) * Math.max(0, c1 - c0 + 1);
    // at 1:1 and closer every screen pixel shows one image pixel, never a blend
    ctx.imageSmoothingEnabled = s * f * dpr < 1;
    const lutKey = isDefaultDisplay(display) ? "" : JSON.stringify(display);
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const key = `${level.z}/${r}/${c}`;
        const tile = this.cache.get(key);
        if (!tile) {
          this._fetch(key);
          continue;
        }
        if (!tile.bitmap) continue;
        this.cache.delete(key); // most recently used last
        this.cache.set(key, tile);
        const img = this._shown(tile, lutKey, display);
        ctx.drawImage(img, tx + c * span * s, ty + r * span * s, tile.bitmap.width * f * s, tile.bitmap.height * f * s);
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
      for (let i = 0; i < px.length; i += 4) {
        px[i] = lut[px[i]];
        px[i + 1] = lut[px[i + 1]];
        px[i + 2] = lut[px[i + 2]];
      }
      cx.putImageData(data, 0, 0);
    } catch {
      return tile.bitmap;
    }
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
      .then((res) => {
        if (!res.ok) throw new Error(res.status);
        return res.blob();
      })
      .then((blob) => createImageBitmap(blob))
      .then((bitmap) => {
        tile.bitmap = bitmap;
      })
      .catch(() => {
        tile.bitmap = null;
      }) // not retried while cached
      .finally(() => {
        this.loading--;
        while (this.cache.size > TILE_CACHE) this.cache.delete(this.cache.keys().next().value);
        this.onLoad();
      });
  }
}
