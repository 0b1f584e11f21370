// The viewer's preview image (loaded readable by ../preview-loader.js) shown through the display's
// lookup table (``v.drawn``: what each frame draws as the background).

import { displayLut, isDefaultDisplay } from "./display.js";

/** The preview's RGBA pixels, read once (null when its origin forbids reading them back). */
export function readPixels(v) {
  if (v._pixels) return v._pixels;
  if (!v.img) return null;
  const c = document.createElement("canvas");
  c.width = v.pw;
  c.height = v.ph;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(v.img, 0, 0);
  try {
    v._pixels = ctx.getImageData(0, 0, v.pw, v.ph).data;
  } catch {
    // a preview from another origin that allows no CORS cannot be read back
    v.status.textContent = "Display settings are unavailable for this preview.";
    return null;
  }
  return v._pixels;
}

/** Apply the display settings at the next animation frame (once however often they change). */
export function scheduleDisplay(v) {
  if (v._displayFrame) return;
  v._displayFrame = requestAnimationFrame(() => {
    v._displayFrame = 0;
    applyDisplay(v);
  });
}

/** The preview through the display's lookup table (the preview itself when neutral). */
export function applyDisplay(v) {
  if (!v.img) return;
  const src = isDefaultDisplay(v.display) ? null : readPixels(v);
  v.drawn = src ? lookedUp(v, src, displayLut(v.display)) : v.img;
  v.requestDraw();
}

/** ``src`` pixels mapped through ``lut`` on the viewer's (reused) display canvas. */
function lookedUp(v, src, lut) {
  if (!v._displayCanvas) v._displayCanvas = document.createElement("canvas");
  const c = v._displayCanvas;
  if (c.width !== v.pw || c.height !== v.ph) {
    c.width = v.pw;
    c.height = v.ph;
  }
  const ctx = c.getContext("2d");
  const out = ctx.createImageData(v.pw, v.ph);
  const o = out.data;
  for (let i = 0; i < src.length; i += 4) {
    o[i] = lut[src[i]];
    o[i + 1] = lut[src[i + 1]];
    o[i + 2] = lut[src[i + 2]];
    o[i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  return c;
}
