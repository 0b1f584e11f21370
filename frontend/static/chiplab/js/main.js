// Boot and hash router. Each view module exports render(root, params) -> cleanup?.
import * as api from "./api.js";
import { state, set, pickLab, subscribe } from "./state.js";
import { h, clear, showError, toast } from "./ui.js";

const routes = [
  [/^#\/login$/, () => import("./views/login.js"), []],
  [/^#\/datasets$/, () => import("./views/datasets.js"), []],
  [/^#\/datasets\/([\w-]+)$/, () => import("./views/dataset.js"), ["datasetId"]],
  [/^#\/datasets\/([\w-]+)\/results$/, () => import("./views/dataset-results.js"), ["datasetId"]],
  [/^#\/compare\/([\w-]+)(?:\/([\w-]+)\/([\w-]+))?$/, () => import("./views/compare.js"), ["imageId", "a", "b"]],
  [/^#\/jobs(?:\?dataset=([\w-]+))?$/, () => import("./views/jobs.js"), ["datasetId"]],
  [/^#\/images\/([\w-]+)(?:\/(grid|support|segment|history))?$/, () => import("./views/image.js"), ["imageId", "step"]],
  [/^#\/search(?:\?(.*))?$/, () => import("./views/search.js"), ["query"]],
  [/^#\/crowd$/, () => import("./views/crowd.js"), []],
  [/^#\/review$/, () => import("./views/review.js"), []],
  [/^#\/lab$/, () => import("./views/lab.js"), []],
  [/^#\/labs\/([\w-]+)$/, () => import("./views/lab.js"), ["labId"]],
  [/^#\/models$/, () => import("./views/models.js"), []],
  [/^#\/profile$/, () => import("./views/profile.js"), []],
  [/^#\/help(?:\/([\w-]+))?$/, () => import("./views/help.js"), ["topic"]],
  [/^#\/invite\/([\w-]+)$/, () => import("./views/invite.js"), ["key"]],
  [/^#\/forgot$/, () => import("./views/reset.js"), []],
  [/^#\/reset\/([\w-]+)\/([\w-]+)$/, () => import("./views/reset.js"), ["uid", "token"]],
];
// Pages that work signed out: sign-in, the help, accepting an invitation, resetting a password.
const PUBLIC = /^#\/(login|help|forgot)(\/|$)|^#\/(invite|reset)\//;

const main = document.getElementById("main");
let cleanup = null;
let renderSeq = 0;
let current = null; // {load, view}: lets a view handle sub-route changes without re-rendering

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const seq = ++renderSeq;
  let hash = location.hash || "#/datasets";
  if (!state.user && !PUBLIC.test(hash)) {
    sessionStorage.setItem("chiplab.next", hash);
    hash = "#/login";
    history.replaceState(null, "", hash);
  }
  if (state.user && hash === "#/login") {
    hash = "#/datasets";
    history.replaceState(null, "", hash);
  }
  const match = routes.map(([re, load, names]) => [re.exec(hash), load, names]).find(([m]) => m);
  if (!match) {
    endView();
    current = null;
    clear(main).append(
      h(
        "div",
        { class: "pad" },
        h("h1", {}, "Not found"),
        h("p", {}, "This page does not exist. ", h("a", { href: "#/datasets" }, "Go to datasets")),
      ),
    );
    return;
  }
  const [m, load, names] = match;
  const params = Object.fromEntries(names.map((n, i) => [n, m[i + 1]]));
  highlightNav(hash);
  if (current && current.load === load && current.view.update?.(params)) return;
  try {
    const view = await load();
    if (seq !== renderSeq) return;
    endView();
    current = { load, view };
    clear(main);
    const result = await view.render(main, params);
    if (seq !== renderSeq) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (e) {
    if (seq !== renderSeq) return;
    clear(main).append(
      h(
        "div",
        { class: "page" },
        h("h1", {}, "This page cannot be shown"),
        h("p", { class: "error-text", testid: "page-error" }, e.message || String(e)),
        h("p", {}, h("a", { href: "#/datasets" }, "Back to your datasets")),
      ),
    );
    showError(e);
  }
}

/** Run the shown view's cleanup, once; an error in it is logged and never stops the next page. */
function endView() {
  if (!cleanup) return;
  try {
    cleanup();
  } catch (e) {
    console.error(e);
  }
  cleanup = null;
}

function highlightNav(hash) {
  document.querySelectorAll("#mainnav a").forEach((a) => {
    const href = a.getAttribute("href");
    const on =
      hash.startsWith(href) ||
      (href === "#/datasets" && hash.startsWith("#/images")) ||
      (href === "#/lab" && hash.startsWith("#/labs/"));
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}

function renderSession() {
  const signedIn = !!state.user;
  document.getElementById("mainnav").hidden = !signedIn;
  document.getElementById("session").hidden = !signedIn;
  if (!signedIn) return;
  const who = document.getElementById("who");
  who.textContent = state.user.username;
  who.title = `Your profile and API tokens (${state.user.username})`;
  const select = document.getElementById("lab-select");
  clear(select);
  if (!state.labs.length) select.append(h("option", { value: "" }, "No lab"));
  for (const lab of state.labs) {
    select.append(
      h(
        "option",
        { value: lab.id, selected: lab.id === state.labId },
        `${lab.name}${lab.role ? ` (${lab.role})` : ""}`,
      ),
    );
  }
}

/** Fetch the user's labs again (after joining, leaving or creating one); keeps the current
 * lab when still a member, else picks another. Returns the labs. */
export async function reloadLabs({ select } = {}) {
  const labs = await api.labs.list();
  const keep = select || state.labId;
  set({ labs, labId: labs.some((l) => l.id === keep) ? keep : pickLab(labs) });
  return labs;
}

/** Called after a successful sign-in (or at boot with a live session). */
export async function startSession(user) {
  const labs = await api.labs.list();
  set({ user, labs, labId: pickLab(labs) });
  renderSession();
}

async function boot() {
  api.onUnauthenticated(() => {
    if (!state.user) return;
    set({ user: null, labs: [], labId: null });
    renderSession();
    toast("Your session has ended; please sign in again.", "error");
    go("#/login");
  });
  document.getElementById("lab-select").addEventListener("change", (ev) => {
    set({ labId: ev.target.value });
    // Pages about "the current lab" follow the switch; pages of another lab's objects make no
    // sense after it: go to the lab's datasets.
    const hash = location.hash;
    if (["#/crowd", "#/review", "#/models", "#/lab", "#/profile"].includes(hash) || hash.startsWith("#/help")) route();
    else if (hash.startsWith("#/labs/")) go("#/lab");
    else go("#/datasets");
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await api.auth.logout();
    } catch (e) {
      showError(e, "Sign out");
    }
    set({ user: null, labs: [], labId: null });
    renderSession();
    go("#/login");
  });
  subscribe((_, patch) => {
    if ("labs" in patch || "labId" in patch) renderSession();
  });
  try {
    const me = await api.auth.me();
    await startSession(me);
  } catch (e) {
    if (!(e instanceof api.ApiError && (e.status === 401 || e.status === 403))) showError(e);
  }
  window.addEventListener("hashchange", route);
  route();
}

boot();
