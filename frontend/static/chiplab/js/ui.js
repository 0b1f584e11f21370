// Small DOM helpers, toasts and formatting. No framework: views build elements with h().

/**
 * Create an element. attrs: plain attributes, plus `on<Event>` handlers, `class`, `dataset`,
 * `testid` (-> data-testid), `style` (object) and `props` (assigned as properties).
 */
export function h(tag, attrs = {}, ...children) {
  const el =
    tag === "svg" || attrs.svg
      ? document.createElementNS("http://www.w3.org/2000/svg", tag)
      : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false || k === "svg") continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === "testid") el.setAttribute("data-testid", v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "props") Object.assign(el, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** SVG element helper. */
export function s(tag, attrs = {}, ...children) {
  return h(tag, { ...attrs, svg: true }, ...children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let toastSeq = 0;
/**
 * Show a message in the toast area. kind: info | ok | error. Errors stay until dismissed.
 * action: {label, onClick, testid?} adds a button (e.g. Undo) that runs onClick and closes it.
 */
export function toast(message, kind = "info", { timeout, action } = {}) {
  const box = document.getElementById("toasts");
  const id = `toast-${++toastSeq}`;
  const close = h(
    "button",
    { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => node.remove() },
    "×",
  );
  const actionBtn = action
    ? h(
        "button",
        {
          type: "button",
          class: "btn btn-small toast-action",
          testid: action.testid || "toast-action",
          onclick: async () => {
            actionBtn.disabled = true;
            node.remove();
            await action.onClick();
          },
        },
        action.label,
      )
    : null;
  const node = h(
    "div",
    { class: `toast toast-${kind}`, id, testid: `toast-${kind}`, role: kind === "error" ? "alert" : undefined },
    h("span", {}, message),
    actionBtn,
    close,
  );
  box.append(node);
  const t = timeout ?? (kind === "error" ? 0 : 4000);
  if (t) setTimeout(() => node.remove(), t);
  return node;
}

/** Report any error to the user: nothing fails silently. */
export function showError(err, context) {
  if (err && err.name === "AbortError") return;
  console.warn(context || "error", err);
  const msg = err?.message || String(err);
  toast(context ? `${context}: ${msg}` : msg, "error");
}

/**
 * Run a request with its button disabled (and marked busy) until it settles, so that a double
 * click or a second Enter cannot send it twice. Returns fn's result; a call while busy is a no-op.
 */
export async function whileBusy(button, fn) {
  if (button.dataset.busy) return undefined;
  button.dataset.busy = "1";
  const wasDisabled = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    delete button.dataset.busy;
    button.removeAttribute("aria-busy");
    button.disabled = wasDisabled;
  }
}

/** Inline error box (forms); returns the element. */
export function errorBox(err) {
  const fields =
    err?.fields && typeof err.fields === "object"
      ? Object.entries(err.fields).map(([k, v]) => h("li", {}, `${k}: ${[].concat(v).join(" ")}`))
      : [];
  return h(
    "div",
    { class: "error-box", role: "alert", testid: "error-box" },
    h("p", {}, err?.message || String(err)),
    fields.length > 1 ? h("ul", {}, fields) : null,
  );
}

export function fmtBytes(n) {
  if (n == null) return "–";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${u[i]}`;
}

export function fmtDate(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function fmtNum(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

export function fmtPct(x, digits = 1) {
  return x === null || x === undefined ? "–" : `${(x * 100).toFixed(digits)} %`;
}

/** A job's worker timings ({stage: seconds}) as one line; `made_ahead` is a count, not
 * seconds: the map was made ahead of the Segment click (analysis.runner.ahead). */
export function fmtWorkerTimings(timings) {
  const stages = Object.entries(timings || {})
    .filter(([k, v]) => typeof v === "number" && k !== "made_ahead")
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`);
  if (timings?.made_ahead) stages.push("map made ahead of the click");
  return stages.join(" · ");
}

export function debounce(fn, ms) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A default class palette: distinct, colour-blind-friendlier (Okabe–Ito based). */
export const PALETTE = [
  "#0072b2",
  "#e69f00",
  "#009e73",
  "#cc79a7",
  "#56b4e9",
  "#d55e00",
  "#f0e442",
  "#7f7f7f",
  "#8c564b",
  "#17becf",
];

export function hexToRgb(hex) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : [128, 128, 128];
}

/** Status pill for images and jobs. */
export function statusPill(status, title) {
  return h("span", { class: `pill pill-${status}`, title, testid: "status" }, status);
}
