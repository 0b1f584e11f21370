// The pure helpers: grid arithmetic, display and colour maths, formatters, the chart's axis.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fractionAxis, interval } from "../static/chiplab/js/chart.js";
import { readableAreaUnit } from "../static/chiplab/js/steps/segment/areas.js";
import { fmtBytes, fmtNum, fmtPct, fmtWorkerTimings, hexToRgb, PALETTE } from "../static/chiplab/js/ui.js";
import { colourStop, displayLut, scaleBarLength } from "../static/chiplab/js/viewer.js";
import { stretchSettings } from "../static/chiplab/js/viewer/display.js";
import { geometry, gridShape } from "../static/chiplab/js/workspace.js";

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test("gridShape: whole chips from the offset, the rest in the margins (as ChipGrid)", () => {
  assert.deepEqual(gridShape(1000, 700, 64, 10, 5), {
    rows: 10,
    cols: 15,
    margins: { top: 5, left: 10, bottom: 55, right: 30 },
  });
  assert.deepEqual(gridShape(64, 64, 64), { rows: 1, cols: 1, margins: { top: 0, left: 0, bottom: 0, right: 0 } });
  assert.equal(gridShape(30, 30, 64).rows, 0); // smaller than one chip: no chips, never negative
  assert.deepEqual(geometry({ chip_size: 32, offset_x: null, rows: 2, cols: 3 }), {
    chip: 32,
    ox: 0,
    oy: 0,
    rows: 2,
    cols: 3,
  });
});

test("displayLut: identity by default, inverted, clipped by brightness and contrast", () => {
  const id = displayLut({});
  assert.equal(id.length, 256);
  assert.deepEqual([id[0], id[128], id[255]], [0, 128, 255]);
  const inv = displayLut({ invert: true });
  assert.deepEqual([inv[0], inv[255]], [255, 0]);
  assert.equal(displayLut({ brightness: 100 })[0], 255); // +100 % lifts black to white
  const hard = displayLut({ contrast: 100 }); // ×4 around the middle
  assert.deepEqual([hard[64], hard[191]], [0, 255]);
  assert.ok(displayLut({ gamma: 2 })[64] > id[64]); // gamma > 1 brightens the shadows
});

test("stretchSettings: the percentiles of the pixels become black and white", () => {
  const grey = (values) => Uint8ClampedArray.from(values.flatMap((v) => [v, v, v, 255]));
  const ramp = grey(Array.from({ length: 128 }, (_, i) => 64 + i)); // 64 … 191
  const lut = displayLut(stretchSettings(ramp, 0.005));
  assert.ok(lut[64] <= 1 && lut[191] >= 254, `${lut[64]} ${lut[191]}`);
  const inv = displayLut({ ...stretchSettings(ramp, 0.005, true), invert: true });
  assert.ok(inv[191] <= 1 && inv[64] >= 254, `${inv[191]} ${inv[64]}`);
  const flat = stretchSettings(grey([100, 100, 100]), 0.02); // one value: at most ×4, no infinity
  assert.equal(flat.contrast, 100);
  assert.ok(Number.isFinite(flat.brightness));
});

test("scaleBarLength: a 1-2-5 length near the target, in the next unit from 1000 on", () => {
  const bar = scaleBarLength(2, "nm", 1); // 2 nm per screen px: about 180 nm wanted
  assert.equal(bar.value, 200);
  assert.equal(bar.px, 100);
  assert.equal(bar.label, "200 nm");
  assert.equal(scaleBarLength(20, "nm", 1).label, "2 µm");
  assert.equal(scaleBarLength(2, "nm", 2).px, 100); // zoomed in ×2: half the length, same px
  assert.equal(scaleBarLength(1, "px", 1).label, "100 px"); // a unit without a larger one stays
});

test("colourStop: the two stops around a value and the fraction between them", () => {
  const stops = [[0], [10], [20]];
  assert.deepEqual(colourStop(stops, 0), [[0], [10], 0]);
  const [a, b, t] = colourStop(stops, 0.75);
  assert.deepEqual([a, b], [[10], [20]]);
  close(t, 0.5);
  assert.deepEqual(colourStop(stops, 1), [[10], [20], 1]); // the top is the last stop, not past it
});

test("hexToRgb and the palette: distinct valid colours, grey for anything else", () => {
  assert.deepEqual(hexToRgb("#0072b2"), [0, 114, 178]);
  assert.deepEqual(hexToRgb("E69F00"), [230, 159, 0]);
  assert.deepEqual(hexToRgb("red"), [128, 128, 128]);
  assert.deepEqual(hexToRgb(undefined), [128, 128, 128]);
  assert.equal(new Set(PALETTE).size, PALETTE.length);
  for (const c of PALETTE) assert.match(c, /^#[0-9a-f]{6}$/);
});

test("formatters: numbers, percentages and sizes; a dash for nothing", () => {
  assert.equal(fmtNum(0), "0");
  assert.equal(fmtNum(4.56789), "4.57");
  assert.equal(fmtNum(123456), "1.23e+5");
  assert.equal(fmtNum(0.0001234), "1.23e-4");
  assert.equal(fmtNum(null), "–");
  assert.equal(fmtNum(Number.NaN), "–");
  assert.equal(fmtPct(0.1234), "12.3 %");
  assert.equal(fmtPct(undefined), "–");
  assert.equal(fmtBytes(512), "512 B");
  assert.equal(fmtBytes(1536), "1.5 KB");
  assert.equal(fmtBytes(50 * 1024 * 1024), "50 MB");
  assert.equal(fmtBytes(null), "–");
});

test("fractionAxis: 10 % above the highest bar, a tenth rounded up, never past 1", () => {
  const axis = fractionAxis([{ fraction: 0.3 }, { fraction: 0.2, lo: 0.1, hi: 0.42 }]);
  close(axis.top, 0.5); // 0.42 × 1.1 = 0.462 -> 0.5
  assert.equal(axis.ticks.length, 6); // 0, 0.1 … 0.5
  const full = fractionAxis([{ fraction: 0.95 }]);
  assert.equal(full.top, 1);
  assert.deepEqual(
    full.ticks.map((v) => Math.round(v * 10)),
    [0, 2, 4, 6, 8, 10],
  );
  close(fractionAxis([{ fraction: 0 }]).top, 0.2); // at least 0.1 (× 1.1, rounded up)
  assert.deepEqual(interval({ fraction: 0.5, std: 0.7 }), [0, 1]); // ± std, clipped to 0–1
  assert.equal(interval({ fraction: 0.5, std: 0 }), null);
});

test("readableAreaUnit: areas in nm², µm² or mm² by the largest, with the factor to it", () => {
  assert.deepEqual(readableAreaUnit("nm²", [10, 500]), { unit: "nm²", factor: 1 });
  const um = readableAreaUnit("nm²", [2e6]);
  assert.equal(um.unit, "µm²");
  close(um.factor, 1e-6);
  assert.deepEqual(readableAreaUnit("px²", [1e9]), { unit: "px²", factor: 1 });
});

test("fmtWorkerTimings: seconds per stage; a map made ahead is said, not timed", () => {
  const t = { classify: 0.3141, save: 0.01, embeddings_cache: { memory: 1 } };
  assert.equal(fmtWorkerTimings(t), "classify 0.31 s · save 0.01 s");
  assert.equal(
    fmtWorkerTimings({ ...t, made_ahead: 1 }),
    "classify 0.31 s · save 0.01 s · map made ahead of the click",
  );
  assert.equal(fmtWorkerTimings(undefined), "");
});
