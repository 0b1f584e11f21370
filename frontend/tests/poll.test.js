// The one polling helper: it stops when the step says so, after `tries`, or on stop().
import assert from "node:assert/strict";
import { test } from "node:test";

import { poll } from "../static/chiplab/js/poll.js";

test("polls until the step resolves truthy", async () => {
  let calls = 0;
  const { done } = poll(async () => ++calls === 3, { every: 1 });
  assert.equal(await done, true);
  assert.equal(calls, 3);
});

test("gives up after `tries` calls", async () => {
  let calls = 0;
  const { done } = poll(
    () => {
      calls++;
      return false;
    },
    { every: 1, tries: 4 },
  );
  assert.equal(await done, false);
  assert.equal(calls, 4);
});

test("stop() ends it without another call, even mid-wait", async () => {
  let calls = 0;
  const p = poll(
    () => {
      calls++;
      return false;
    },
    { every: 60_000, first: 60_000 },
  );
  p.stop();
  assert.equal(await p.done, false);
  assert.equal(calls, 0);
});

test("the wait grows from `first` by `grow` up to `every`", async () => {
  const waits = [];
  const realTimeout = globalThis.setTimeout;
  globalThis.setTimeout = (fn, ms) => {
    waits.push(ms);
    return realTimeout(fn, 0);
  };
  try {
    let calls = 0;
    await poll(() => ++calls === 6, { first: 100, every: 1000, grow: 3 }).done;
  } finally {
    globalThis.setTimeout = realTimeout;
  }
  assert.deepEqual(waits, [100, 300, 900, 1000, 1000, 1000]);
});
