// The viewer's display maths and overlay canvases: brightness/contrast/gamma lookup tables,
// scale bars, and the one-pixel-per-chip class and confidence maps.

export const DISPLAY_DEFAULT = Object.freeze({ brightness: 0, contrast: 0, gamma: 1, invert: false });

export function clampNum(v, lo, hi, fallback) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : fallback;
}

export function isDefaultDisplay(d) {
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

/** Display settings that stretch the [p, 1 - p] percentiles of RGBA ``pixels`` (their red
 * channel: grey previews) to black and white, for an image shown inverted or not. */
export function stretchSettings(pixels, p, invert = false) {
  const hist = new Uint32Array(256);
  for (let i = 0; i < pixels.length; i += 4) hist[pixels[i]]++;
  const n = pixels.length / 4;
  const at = (q) => {
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += hist[v];
      if (acc >= q * n) return v;
    }
    return 255;
  };
  let lo = at(p) / 255;
  let hi = at(1 - p) / 255;
  if (invert) [lo, hi] = [1 - hi, 1 - lo];
  const k = Math.min(4, 1 / Math.max(hi - lo, 1 / 255));
  return { contrast: 50 * Math.log2(k), brightness: 100 * (k * (0.5 - lo) - 0.5), gamma: 1 };
}

const UNIT_STEPS = { pm: ["pm", "nm", 1e3], nm: ["nm", "µm", 1e3], µm: ["µm", "mm", 1e3], um: ["µm", "mm", 1e3] };

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

/**
 * A (cols × rows) canvas with one pixel per chip: chip (r, col) opaque in ``colourAt(r, col)``
 * ([red, green, blue], 0–255), or transparent where that is null.
 */
function chipCanvas(rows, cols, colourAt) {
  const c = document.createElement("canvas");
  c.width = cols;
  c.height = rows;
  const ctx = c.getContext("2d");
  const im = ctx.createImageData(cols, rows);
  const px = im.data;
  for (let r = 0, i = 0; r < rows; r++) {
    for (let col = 0; col < cols; col++, i += 4) {
      const rgb = colourAt(r, col);
      if (!rgb) continue;
      px[i] = rgb[0];
      px[i + 1] = rgb[1];
      px[i + 2] = rgb[2];
      px[i + 3] = 255;
    }
  }
  ctx.putImageData(im, 0, 0);
  return c;
}

/** The chips coloured by class (label −1, or any without a colour, transparent). */
export function labelsCanvas(labels, rows, cols, rgbByLabel) {
  return chipCanvas(rows, cols, (r, col) => rgbByLabel[labels[r][col]]);
}

const CONFIDENCE_STOPS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Confidence (0..1) as a sequential colour map (dark purple = unsure, yellow = sure). */
export function confidenceCanvas(conf, rows, cols) {
  return chipCanvas(rows, cols, (r, col) => {
    const [a, b, t] = colourStop(CONFIDENCE_STOPS, Math.min(1, Math.max(0, conf[r][col])));
    return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
  });
}

/** The two of ``stops`` around ``v`` (0–1) and how far (0–1) from the first to the second it lies. */
export function colourStop(stops, v) {
  const f = v * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(f));
  return [stops[k], stops[k + 1], f - k];
}
