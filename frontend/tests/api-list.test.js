// api.list against a fake fetch: it follows `next` to the last page and never returns part of a list.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { ApiError, LIST_MAX_PAGES, LIST_PAGE, list } from "../static/chiplab/js/api.js";

const ORIGIN = "http://chiplab.test";
let asked;

/** A server of `total` items behind a LimitOffsetPagination whose links name `host`. */
function serve(total, { host = ORIGIN, plain = false } = {}) {
  asked = [];
  globalThis.fetch = async (url) => {
    asked.push(url);
    const u = new URL(url, ORIGIN);
    const limit = Number(u.searchParams.get("limit"));
    const offset = Number(u.searchParams.get("offset") || 0);
    const items = Array.from({ length: Math.max(0, Math.min(limit, total - offset)) }, (_, i) => ({ id: offset + i }));
    const next = offset + limit < total ? `${host}${u.pathname}?limit=${limit}&offset=${offset + limit}` : null;
    const body = plain ? items : { count: total, next, previous: null, results: items };
    return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
  };
}

beforeEach(() => {
  globalThis.location = new URL(`${ORIGIN}/`);
  globalThis.document = { cookie: "" };
});
afterEach(() => {
  delete globalThis.fetch;
  delete globalThis.location;
  delete globalThis.document;
});

test("a list longer than one page comes back whole, in order", async () => {
  serve(2 * LIST_PAGE + 7);
  const items = await list("datasets/", { lab: 3 });
  assert.equal(items.length, 2 * LIST_PAGE + 7);
  assert.deepEqual(
    items.map((x) => x.id),
    items.map((_, i) => i),
  );
  assert.equal(asked.length, 3);
  assert.equal(asked[0], `/api/datasets/?limit=${LIST_PAGE}&lab=3`);
  assert.equal(asked[2], `/api/datasets/?limit=${LIST_PAGE}&offset=${2 * LIST_PAGE}`);
});

test("a single page is one request", async () => {
  serve(3);
  assert.equal((await list("labs/")).length, 3);
  assert.equal(asked.length, 1);
});

test("next links naming another host are followed on this origin", async () => {
  serve(LIST_PAGE + 1, { host: "http://internal:8000" });
  assert.equal((await list("tokens/")).length, LIST_PAGE + 1);
  assert.equal(asked[1], `/api/tokens/?limit=${LIST_PAGE}&offset=${LIST_PAGE}`);
});

test("an unpaginated list is returned as it is", async () => {
  serve(4, { plain: true });
  assert.deepEqual(
    (await list("labs/")).map((x) => x.id),
    [0, 1, 2, 3],
  );
});

test("a list past the page bound is an error, not a silent part of it", async () => {
  serve(LIST_MAX_PAGES * LIST_PAGE + 1);
  await assert.rejects(list("datasets/"), (e) => e instanceof ApiError && e.code === "too_many_pages");
  assert.equal(asked.length, LIST_MAX_PAGES);
});
