// The charts' shared axes: the frame all three charts are drawn in and the x axis's ticks.
import assert from "node:assert/strict";
import { test } from "node:test";

import { chartFrame, rangeTicks } from "../static/chiplab/js/chart.js";

test("chartFrame: 320 wide, the plot area inside the margins", () => {
  assert.deepEqual(chartFrame(190, 40), { W: 320, H: 190, m: { l: 38, r: 8, t: 10, b: 40 }, iw: 274, ih: 140 });
  assert.equal(chartFrame(200, 38).ih, 152); // less room below
  // room above the plot for a bar's label when its interval reaches the top line
  assert.deepEqual(chartFrame(212, 38, 22).m, { l: 38, r: 8, t: 22, b: 38 });
  assert.equal(chartFrame(212, 38, 22).ih, 152);
});

test("rangeTicks: both ends and the middle, anchored so that their text stays inside", () => {
  assert.deepEqual(rangeTicks(1, 8.5), [
    { v: 1, anchor: "start" },
    { v: 4.75, anchor: "middle" },
    { v: 8.5, anchor: "end" },
  ]);
});
