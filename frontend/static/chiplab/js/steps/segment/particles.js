// The particle table of a result with object classes, tied to the map: hovering (or clicking)
// a particle on the map highlights its row; hovering (or clicking) a row outlines the particle.
//
// Data: the result's particles.json export (the table the page shows, at most 50,000 particles,
// with each particle's box) and instances.png (the particle id of every pixel, coded in RGB:
// id = R * 65536 + G * 256 + B). The table is virtualised: only the rows in view are in the
// document, so thousands of particles scroll smoothly.
import * as api from "../../api.js";
import { h, fmtNum } from "../../ui.js";

const ROW_PX = 26; // fixed row height of the virtualised table (app.css .particle-table)
const VIEW_ROWS = 12; // rows visible at once
const OVERSCAN = 6;

/** The table's columns: [key in particles.json (px | nm variant), header, formatter, title].
 * As many as fit the side panel's width; the Feret diameters are in particles.csv. */
function columnsFor(cols) {
  const nm = cols.includes("equivalent_diameter_nm");
  const len = nm ? "nm" : "px";
  const num = (d) => (v) => (v === null || v === undefined ? "–" : fmtNum(v, d));
  return [
    ["id", "#", (v) => String(v), "Particle id (as in particles.csv and instances.png)"],
    ["class", "Class", (v) => String(v)],
    [nm ? "area_nm2" : "area_px", `Area (${len}²)`, num(4)],
    [`equivalent_diameter_${len}`, `Eq. diam. (${len})`, num(3), "Equivalent diameter: of the disc of the same area"],
    ["aspect_ratio", "Aspect", num(3), "Aspect ratio: Feret max / Feret min"],
    ["circularity", "Circ.", num(3), "Circularity: 4π area / perimeter² (1 for a disc)"],
    ["edge", "Edge", (v) => (v ? "yes" : "")],
  ].filter(([key]) => cols.includes(key));
}

/** Loads the instance map's pixels (RGBA, exactly as stored: no colour management). */
async function loadIds(url) {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) throw new Error(`instances.png: ${res.status}`);
  const bitmap = await createImageBitmap(await res.blob(), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return { width: canvas.width, height: canvas.height, data };
}

/** The particle ties of the Segment step: `box(r)` renders a result's table (or ""), and
 * hooks the viewer's hover and draw while a result with particles is shown. */
export function createParticles({ ws, store }) {
  const { viewer } = ws;
  let state = null; // {r, table, ids, byId, order, colours, hover, selected, paths, ui}
  const prevHover = viewer.onHover;
  const prevDraw = viewer.onDraw;

  function idAt(x, y) {
    const ids = state?.ids;
    if (!ids) return 0;
    const xi = Math.floor((x * ids.width) / viewer.W),
      yi = Math.floor((y * ids.height) / viewer.H);
    if (xi < 0 || yi < 0 || xi >= ids.width || yi >= ids.height) return 0;
    const k = (yi * ids.width + xi) * 4;
    const id = (ids.data[k] << 16) | (ids.data[k + 1] << 8) | ids.data[k + 2];
    return state.byId.has(id) ? id : 0;
  }

  /** The particle's outline (its pixels' outer edges) as a path in image pixels. */
  function outline(id) {
    if (state.paths.has(id)) return state.paths.get(id);
    const { ids } = state;
    const [x0, y0, x1, y1] = state.table.boxes[state.byId.get(id)];
    const at = (x, y) =>
      x < 0 || y < 0 || x >= ids.width || y >= ids.height
        ? -1
        : (ids.data[(y * ids.width + x) * 4] << 16) |
          (ids.data[(y * ids.width + x) * 4 + 1] << 8) |
          ids.data[(y * ids.width + x) * 4 + 2];
    const path = new Path2D();
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        if (at(x, y) !== id) continue;
        if (at(x, y - 1) !== id) {
          path.moveTo(x, y);
          path.lineTo(x + 1, y);
        }
        if (at(x, y + 1) !== id) {
          path.moveTo(x, y + 1);
          path.lineTo(x + 1, y + 1);
        }
        if (at(x - 1, y) !== id) {
          path.moveTo(x, y);
          path.lineTo(x, y + 1);
        }
        if (at(x + 1, y) !== id) {
          path.moveTo(x + 1, y);
          path.lineTo(x + 1, y + 1);
        }
      }
    }
    if (state.paths.size > 200) state.paths.clear();
    state.paths.set(id, path);
    return path;
  }

  function drawOne(id, colour) {
    if (!id || !state?.ids) return;
    const { ctx, dpr, scale: s, tx, ty } = viewer;
    const [x0, y0, x1, y1] = state.table.boxes[state.byId.get(id)];
    const sx = viewer.W / state.ids.width,
      sy = viewer.H / state.ids.height;
    ctx.save();
    ctx.setTransform(dpr * s * sx, 0, 0, dpr * s * sy, dpr * tx, dpr * ty);
    ctx.lineWidth = 2.5 / (s * sx);
    ctx.strokeStyle = "#000000";
    ctx.stroke(outline(id));
    ctx.lineWidth = 1.5 / (s * sx);
    ctx.strokeStyle = colour;
    ctx.stroke(outline(id));
    ctx.restore();
    // a frame a few screen pixels around the box: a particle of a few pixels stays visible
    const pad = 4;
    ctx.save();
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = colour;
    ctx.strokeRect(
      tx + x0 * sx * s - pad,
      ty + y0 * sy * s - pad,
      (x1 - x0) * sx * s + 2 * pad,
      (y1 - y0) * sy * s + 2 * pad,
    );
    ctx.restore();
  }

  function onDraw() {
    if (prevDraw) prevDraw();
    if (!state || store.disposed) return;
    drawOne(state.selected, "#ffd400");
    if (state.hover !== state.selected) drawOne(state.hover, "#ffffff");
    viewer.canvas.dataset.particle = state.hover || state.selected || "";
  }

  function setHover(id, { scroll = false } = {}) {
    if (!state || state.hover === id) return;
    state.hover = id;
    state.ui.wrap.dataset.hover = id || "";
    if (id && scroll) scrollTo(id);
    state.ui.mark();
    viewer.requestDraw();
  }

  function select(id, { scroll = true } = {}) {
    if (!state) return;
    state.selected = state.selected === id ? 0 : id;
    state.ui.wrap.dataset.selected = state.selected || "";
    if (state.selected && scroll) scrollTo(state.selected);
    state.ui.mark();
    viewer.requestDraw();
  }

  function scrollTo(id) {
    const pos = state.order.indexOf(state.byId.get(id));
    if (pos < 0) return;
    const { body } = state.ui;
    const top = pos * ROW_PX,
      bottom = top + ROW_PX;
    const head = ROW_PX; // the sticky header
    if (top < body.scrollTop + head || bottom > body.scrollTop + body.clientHeight) {
      body.scrollTop = Math.max(0, top - body.clientHeight / 2);
    }
  }

  // The map: hover and click (a click that is not the end of a drag).
  viewer.onHover = (chip, p) => {
    if (prevHover) prevHover(chip, p);
    if (!state || store.disposed) return;
    setHover(p ? idAt(p.x, p.y) : 0, { scroll: true });
  };
  viewer.onDraw = onDraw;
  let down = null;
  const onDown = (ev) => {
    down = { x: ev.clientX, y: ev.clientY };
  };
  const onUp = (ev) => {
    if (!down || !state || store.disposed) return;
    const moved = Math.hypot(ev.clientX - down.x, ev.clientY - down.y) > 4;
    down = null;
    if (moved || store.correct.on) return; // in Correct mode a click labels a chip
    const p = viewer.toImage(ev.clientX, ev.clientY);
    const id = idAt(p.x, p.y);
    if (id) select(id);
  };
  viewer.canvas.addEventListener("pointerdown", onDown);
  viewer.canvas.addEventListener("pointerup", onUp);

  function tableUi(table) {
    const cols = columnsFor(table.columns);
    const index = Object.fromEntries(table.columns.map((c, i) => [c, i]));
    let sortKey = "id",
      sortDir = 1;
    const sortBy = (key) => {
      sortDir = sortKey === key ? -sortDir : 1;
      sortKey = key;
      const k = index[key];
      state.order.sort((a, b) => {
        const va = table.rows[a][k],
          vb = table.rows[b][k];
        if (va === vb) return a - b;
        if (va === null || va === undefined) return 1;
        if (vb === null || vb === undefined) return -1;
        return (va < vb ? -1 : 1) * sortDir;
      });
      for (const th of head.querySelectorAll("th")) {
        th.setAttribute("aria-sort", th.dataset.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
      }
      render();
    };
    const head = h(
      "thead",
      {},
      h(
        "tr",
        {},
        cols.map(([key, label, , title]) =>
          h(
            "th",
            { scope: "col", dataset: { key }, "aria-sort": key === "id" ? "ascending" : "none" },
            h(
              "button",
              {
                type: "button",
                class: "linklike",
                onclick: () => sortBy(key),
                title: `${title ? `${title}. ` : ""}Sort by this column`,
              },
              label,
            ),
          ),
        ),
      ),
    );
    const rowsBody = h("tbody", {});
    const body = h(
      "div",
      {
        class: "particle-table",
        testid: "particle-table",
        tabindex: "0",
        style: { maxHeight: `${ROW_PX * (VIEW_ROWS + 1)}px` },
      },
      h("table", { class: "stats" }, head, rowsBody),
    );
    const wrap = h("div", { testid: "particles", dataset: { hover: "", selected: "" } });

    function render() {
      const n = state.order.length;
      const first = Math.max(0, Math.floor(body.scrollTop / ROW_PX) - OVERSCAN);
      const last = Math.min(n, first + VIEW_ROWS + 2 * OVERSCAN);
      const spacer = (rows) =>
        rows > 0
          ? h(
              "tr",
              { class: "spacer", "aria-hidden": "true" },
              h("td", { colspan: cols.length, style: { height: `${rows * ROW_PX}px` } }),
            )
          : null;
      const shown = [];
      for (let pos = first; pos < last; pos++) {
        const i = state.order[pos];
        const row = table.rows[i];
        const id = row[index.id];
        shown.push(
          h(
            "tr",
            {
              testid: "particle-row",
              dataset: { id },
              onmouseenter: () => setHover(id),
              onmouseleave: () => setHover(0),
              onclick: () => select(id, { scroll: false }),
            },
            cols.map(([key, , fmt]) => h("td", {}, fmt(row[index[key]]))),
          ),
        );
      }
      rowsBody.replaceChildren(...[spacer(first), ...shown, spacer(n - last)].filter(Boolean));
      mark();
    }
    /** The hovered and selected particles' rows, marked (rows are not rebuilt on hover). */
    function mark() {
      for (const tr of rowsBody.querySelectorAll("tr[data-id]")) {
        const id = Number(tr.dataset.id);
        tr.classList.toggle("hover", id === state.hover);
        tr.classList.toggle("selected", id === state.selected);
        tr.setAttribute("aria-selected", id === state.selected ? "true" : "false");
      }
    }
    let pending = 0;
    body.addEventListener("scroll", () => {
      if (pending) return;
      pending = requestAnimationFrame(() => {
        pending = 0;
        render();
      });
    });
    return { wrap, body, render, mark };
  }

  /** The table of result `r` (with object classes): a box that fills in when loaded. */
  function box(r) {
    state = null;
    viewer.requestDraw();
    const links = r.links || {};
    if (!links["particles.json"] || !links["instances.png"]) return "";
    const holder = h(
      "div",
      { class: "particles-box" },
      h("h4", {}, "Particles"),
      h("p", { class: "small muted", testid: "particles-loading" }, "Loading the particle table…"),
    );
    (async () => {
      const [table, ids] = await Promise.all([
        api.request("GET", api.analysis.exportUrl(r.id, "particles.json")),
        loadIds(api.analysis.exportUrl(r.id, "instances.png")),
      ]);
      if (store.disposed || store.shown.result !== r) return;
      const byId = new Map(table.rows.map((row, i) => [row[table.columns.indexOf("id")], i]));
      state = { r, table, ids, byId, order: table.rows.map((_, i) => i), hover: 0, selected: 0, paths: new Map() };
      const ui = tableUi(table);
      state.ui = ui;
      const n = table.rows.length;
      ui.wrap.append(
        h(
          "p",
          { class: "small muted", testid: "particles-note" },
          `${n.toLocaleString()} particle${n === 1 ? "" : "s"}`,
          table.truncated
            ? ` of ${table.n_total.toLocaleString()} (the table shows the first ${n.toLocaleString()}; particles.csv has all)`
            : "",
          ". Hover or click a particle on the map to find its row; hover a row to outline it on the map. " +
            "Edge: the particle touches the image edge or the uncovered margin (left out of the sizes). " +
            "Feret diameters and the other columns: Particles CSV.",
        ),
        ui.body,
      );
      holder.replaceChildren(h("h4", {}, "Particles"), ui.wrap);
      ui.render();
      viewer.requestDraw();
    })().catch((e) => {
      if (store.disposed) return;
      console.warn("particles", e);
      holder.replaceChildren(
        h("h4", {}, "Particles"),
        h(
          "p",
          { class: "small muted", testid: "particles-error" },
          "The particle table could not be loaded; particles.csv has it.",
        ),
      );
    });
    return holder;
  }

  function dispose() {
    state = null;
    if (viewer.onHover && viewer.onHover !== prevHover) viewer.onHover = prevHover;
    if (viewer.onDraw === onDraw) viewer.onDraw = prevDraw;
    viewer.canvas.removeEventListener("pointerdown", onDown);
    viewer.canvas.removeEventListener("pointerup", onUp);
    delete viewer.canvas.dataset.particle;
  }

  return { box, dispose };
}
