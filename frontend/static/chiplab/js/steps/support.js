// Step 2: the support-set board. Click chips to vote them into the active class; click again
// to retract (a vote with class null). Number keys switch class.
import * as api from "../api.js";
import { h, append, debounce, errorBox, showError, toast, whileBusy } from "../ui.js";
import { chipCrop } from "../crops.js";
import { state } from "../state.js";
import { createSuggestions } from "./support/suggestions.js";

export const MIN_PER_CLASS = 2;
export const MAX_PER_CLASS = 10;

/** The board of the current grid; rebuilt when the grid changes under it (e.g. "Back to 64
 * px" after examples were carried to a new chip size). */
export async function mount(ws, panel) {
  let gridId = ws.grid?.id;
  let unmount = (await mountBoard(ws, panel)) || (() => {});
  const offGrid = ws.on("grid", async (g) => {
    if (!g || g.id === gridId || !unmount) return;
    gridId = g.id;
    const previous = unmount;
    unmount = null;
    previous();
    panel.replaceChildren();
    unmount = (await mountBoard(ws, panel)) || (() => {});
  });
  return () => {
    offGrid();
    if (unmount) unmount();
    unmount = null;
  };
}

async function mountBoard(ws, panel) {
  const { viewer } = ws;
  const grid = ws.grid;
  const mine = new Map(); // "r,c" -> class id (my current labels)
  let others = []; // [{row, col, counts: {class: n}}] from everyone else
  let showOthers = false;
  let serverWarnings = [];
  let disposed = false;
  // The classes of the dataset that apply to this image (several materials in one dataset):
  // guidance, crowd tasks and suggestions only ask about these. null until loaded.
  let onImage = null; // Set of class ids
  let classMode = null; // "chosen" (ticked here), "labels" (those labelled here) or "all"
  // What the API allows here: curators manage the dataset's classes, annotators label chips,
  // viewers look.
  const canManage = ws.can("curator");
  const canVote = ws.can("annotator");

  const classList = h("ul", { class: "class-list", testid: "class-list", "aria-label": "Classes" });
  const guidance = h("div", { class: "guidance", testid: "guidance", "aria-live": "polite" });
  const newName = h("input", {
    type: "text",
    id: "new-class",
    placeholder: "New class, e.g. Ge",
    maxlength: 100,
    testid: "new-class-name",
    "aria-label": "New class name",
  });
  const addBtn = h("button", { type: "submit", class: "btn", testid: "add-class", disabled: true }, "Add class");
  const addForm = h(
    "form",
    {
      class: "add-class",
      onsubmit: (ev) => {
        ev.preventDefault();
        addClass();
      },
    },
    newName,
    addBtn,
  );
  const othersToggle = h("input", {
    type: "checkbox",
    id: "show-others",
    testid: "show-others",
    onchange: () => {
      showOthers = othersToggle.checked;
      loadOthers();
    },
  });
  const errors = h("div");
  const suggest = createSuggestions({
    ws,
    grid,
    label: (row, col) => toggle(row, col),
    labelled: (row, col) => mine.get(`${row},${col}`) === ws.activeClassId,
    onChange: () => paint(),
    disposed: () => disposed,
  });

  append(panel, [
    h("h2", {}, "Support set"),
    canVote
      ? h(
          "p",
          { class: "muted small" },
          "Choose a class, then click example chips on the image. Click a chip again to remove it. ",
          `Give each class ${MIN_PER_CLASS}–${MAX_PER_CLASS} clear examples. Keys `,
          h("span", { class: "kbd" }, "1"),
          "–",
          h("span", { class: "kbd" }, "9"),
          " switch class.",
        )
      : h(
          "p",
          { class: "muted small", testid: "read-only-note" },
          "You are a viewer in this lab: you can look at the classes and chips; labelling needs the annotator role.",
        ),
    carriedNotice(ws, grid),
    classList,
    canManage ? addForm : null,
    errors,
    guidance,
    canVote ? h("div", { class: "next-chips" }, suggest.button, suggest.box) : null,
    h("label", { class: "toggle", for: "show-others" }, othersToggle, "Show other annotators' votes (crowd)"),
    h(
      "p",
      { class: "muted small" },
      "Others' votes appear as a small corner triangle in the colour of their most-voted class.",
    ),
    h(
      "div",
      { class: "form-actions" },
      h(
        "button",
        { type: "button", class: "btn btn-primary", testid: "to-segment", onclick: () => ws.goStep("segment") },
        "Next: segment →",
      ),
    ),
  ]);

  // Chip clicks are taken from the start: those made while my labels load wait for them
  // (a click toggles the chip's current label, so it needs them) and are then applied in
  // order. A click is never dropped.
  const waiting = [];
  let clicksLive = false;
  const onChip = (row, col) => {
    if (disposed) return;
    if (clicksLive) toggle(row, col);
    else waiting.push([row, col]);
  };
  viewer.onChipClick = canVote ? onChip : null;

  // --- data ------------------------------------------------------------------------
  try {
    await ws.ensureSchema();
    await Promise.all([loadMine(), loadImageClasses()]);
  } catch (e) {
    errors.replaceChildren(errorBox(e));
    showError(e, "Loading the support set");
  }
  if (disposed) return;
  addBtn.disabled = !ws.schema;
  await viewer.ready.catch(() => {});

  /** My current labels on this grid (again after a class is restored: its votes come back). */
  async function loadMine() {
    if (!ws.schema || !canVote) return;
    const current = await api.labeling.votes(grid.id, ws.schema.id, "me");
    mine.clear();
    for (const c of current.chips || []) if (c.class) mine.set(`${c.row},${c.col}`, c.class);
  }

  async function loadImageClasses() {
    if (!ws.schema) return;
    try {
      const body = await api.labeling.imageClasses(ws.image.id, ws.schema.id);
      onImage = new Set(body.classes);
      classMode = body.mode;
    } catch (e) {
      if (!api.isMissing(e)) throw e;
    } // an older server: every class applies
  }

  /** Whether a class is one of this image's (my examples of it make it one). */
  function applies(cls) {
    return !onImage || classMode === "all" || onImage.has(cls.id) || countOf(cls.id) > 0;
  }

  /** Tick a class on or off for this image (annotators and up). */
  async function setApplies(cls, on) {
    const wanted = ws.classes.filter((c) => (c.id === cls.id ? on : applies(c))).map((c) => c.id);
    if (!wanted.length) {
      toast("An image needs at least one class.", "error");
      renderClasses();
      return;
    }
    try {
      const body = await ws.write(api.labeling.setImageClasses(ws.image.id, ws.schema.id, wanted));
      onImage = new Set(body.classes);
      classMode = body.mode;
    } catch (e) {
      showError(e, `Ticking ${cls.name} for this image`);
    }
    refresh();
  }

  function countOf(classId) {
    let n = 0;
    for (const v of mine.values()) if (v === classId) n++;
    return n;
  }

  function renderClasses() {
    classList.replaceChildren();
    ws.classes.forEach((cls, i) => {
      const n = countOf(cls.id);
      const active = cls.id === ws.activeClassId;
      const status = n < MIN_PER_CLASS ? "low" : n > MAX_PER_CLASS ? "high" : "ok";
      const colour = h("input", {
        type: "color",
        value: cls.colour,
        testid: "class-colour",
        "aria-label": `Colour of ${cls.name}`,
        disabled: !canManage,
        title: canManage ? "" : "Colours are changed by the lab's curators",
        onclick: (ev) => ev.stopPropagation(),
        onchange: (ev) => updateClass(cls, { colour: ev.target.value }),
      });
      const name = h("input", {
        type: "text",
        class: "class-name",
        value: cls.name,
        testid: "class-name",
        "aria-label": `Name of class ${i + 1}`,
        maxlength: 100,
        readonly: !canManage,
        title: canManage ? "" : "Classes are renamed by the lab's curators",
        onfocus: () => select(cls.id),
        onchange: (ev) => {
          const v = ev.target.value.trim();
          if (v && v !== cls.name) updateClass(cls, { name: v });
          else ev.target.value = cls.name;
        },
        onkeydown: (ev) => {
          if (ev.key === "Enter") ev.target.blur();
        },
      });
      // Objects (particles, precipitates, voids) are also counted and sized in the result.
      const kind = h(
        "label",
        {
          class: "class-kind small",
          title: canManage
            ? "Count this class's pieces as objects (particles…): results give a count and a size histogram"
            : "Whether a class is counted as objects is set by the lab's curators",
          onclick: (ev) => ev.stopPropagation(),
        },
        h("input", {
          type: "checkbox",
          testid: "class-kind",
          checked: cls.kind === "objects",
          disabled: !canManage,
          "aria-label": `Count ${cls.name} as objects`,
          onchange: (ev) => updateClass(cls, { kind: ev.target.checked ? "objects" : "region" }),
        }),
        " objects",
      );
      const thumbs = h("div", { class: "chip-thumbs", testid: "class-chips" });
      for (const [key, cid] of mine) {
        if (cid !== cls.id) continue;
        const [row, col] = key.split(",").map(Number);
        const crop = chipCrop(viewer, grid, row, col, 34);
        crop.style.borderColor = cls.colour;
        crop.title = `Chip (${row}, ${col}) — click to show, shift-click to remove`;
        crop.setAttribute("role", "button");
        crop.setAttribute("tabindex", "0");
        crop.setAttribute("aria-label", `${cls.name} chip row ${row} column ${col}`);
        crop.addEventListener("click", (ev) => {
          if (ev.shiftKey) return toggle(row, col);
          const g = grid.chip_size;
          viewer.zoomTo(grid.offset_x + col * g - 2 * g, grid.offset_y + row * g - 2 * g, 5 * g, 5 * g);
        });
        thumbs.append(crop);
      }
      const here = applies(cls);
      // Is this class one of this image's materials? Unticked: no guidance, no crowd task.
      const onThis = h(
        "label",
        {
          class: "class-here small",
          title: n
            ? "You have examples of this class on this image, so it is one of its classes"
            : "Tick the classes this image shows: guidance and crowd tasks only ask about those",
          onclick: (ev) => ev.stopPropagation(),
        },
        h("input", {
          type: "checkbox",
          testid: "class-applies",
          checked: here,
          disabled: !canVote || n > 0,
          "aria-label": `${cls.name} is on this image`,
          onchange: (ev) => setApplies(cls, ev.target.checked),
        }),
        " on this image",
      );
      const li = h(
        "li",
        {
          class: `class-item${active ? " active" : ""}${here ? "" : " not-here"}`,
          testid: "class-item",
          dataset: { id: cls.id, count: n, here: String(here) },
          "aria-current": active ? "true" : undefined,
          onclick: () => select(cls.id),
        },
        h(
          "div",
          { class: "class-row" },
          h("span", { class: "class-key", title: `Press ${i + 1}` }, i < 9 ? String(i + 1) : "·"),
          colour,
          name,
          h(
            "span",
            {
              class: `class-count count-${status}`,
              testid: "class-count",
              title: `${MIN_PER_CLASS}–${MAX_PER_CLASS} examples recommended`,
            },
            `${n} chip${n === 1 ? "" : "s"}`,
          ),
          h("input", {
            type: "radio",
            name: "active-class",
            class: "visually-hidden",
            checked: active,
            "aria-label": `Active class ${cls.name}`,
            testid: "class-radio",
            onchange: () => select(cls.id),
          }),
          canManage
            ? h(
                "button",
                {
                  type: "button",
                  class: "btn btn-quiet btn-small",
                  testid: "remove-class",
                  "aria-label": `Remove class ${cls.name}`,
                  title: "Remove class",
                  onclick: (ev) => {
                    ev.stopPropagation();
                    removeClass(cls);
                  },
                },
                "✕",
              )
            : null,
        ),
        h("div", { class: "class-opts" }, onThis, kind),
        thumbs,
      );
      classList.append(li);
    });
    if (!ws.classes.length) {
      classList.append(
        h(
          "li",
          { class: "muted small", testid: "no-classes" },
          canManage
            ? "No classes yet. Add the features you want to map (e.g. STO, Ge, vacuum)."
            : "No classes yet. The lab's curators add the dataset's classes.",
        ),
      );
    }
    renderGuidance();
  }

  function renderGuidance() {
    if (!canVote) {
      guidance.replaceChildren();
      guidance.hidden = true;
      return;
    }
    const lines = [];
    if (ws.classes.length < 2)
      lines.push(
        canManage
          ? "Add at least two classes."
          : "The dataset needs at least two classes; the lab's curators add them.",
      );
    const elsewhere = ws.classes.filter((c) => !applies(c)).map((c) => c.name);
    for (const cls of ws.classes.filter(applies)) {
      const n = countOf(cls.id);
      if (n < MIN_PER_CLASS)
        lines.push(`${cls.name}: add ${MIN_PER_CLASS - n} more chip${MIN_PER_CLASS - n === 1 ? "" : "s"}.`);
      else if (n > MAX_PER_CLASS)
        lines.push(`${cls.name}: ${n} chips — more than ${MAX_PER_CLASS} rarely helps; keep the clearest.`);
    }
    const ready = !lines.length;
    guidance.replaceChildren(
      h("strong", {}, ready ? "Ready to segment." : "Guidance"),
      h(
        "ul",
        { class: "small" },
        [...lines, ...serverWarnings].map((t) => h("li", {}, t)),
      ),
      ...(elsewhere.length
        ? [
            h(
              "p",
              { class: "muted small", testid: "not-here-note" },
              `Not on this image (no guidance, no crowd tasks): ${elsewhere.join(", ")}. Tick “on this image” to include one.`,
            ),
          ]
        : []),
    );
    guidance.dataset.ready = ready;
  }

  function paint() {
    const chips = [];
    if (showOthers) {
      for (const o of others) {
        const best = Object.entries(o.counts || {}).sort((a, b) => b[1] - a[1])[0];
        const cls = best && ws.classById(best[0]);
        if (cls) chips.push({ row: o.row, col: o.col, color: cls.colour, kind: "other" });
      }
    }
    for (const [key, cid] of mine) {
      const cls = ws.classById(cid);
      if (!cls) continue;
      const [row, col] = key.split(",").map(Number);
      chips.push({ row, col, color: cls.colour, kind: "mine" });
    }
    chips.push(...suggest.chips());
    viewer.setChips(chips);
  }

  function refresh() {
    renderClasses();
    paint();
    refreshServerGuidance();
  }

  const refreshServerGuidance = debounce(async () => {
    if (disposed || !ws.schema || !canVote) return;
    try {
      const [s] = await Promise.all([api.labeling.support(grid.id, ws.schema.id), loadImageClasses()]);
      // Counting advice is already given locally; keep the server's other warnings.
      serverWarnings = (s.warnings || []).filter((w) => !/more chips?|at least|no chips|fewer than|more than/i.test(w));
      renderGuidance();
    } catch (e) {
      if (!api.isMissing(e)) console.warn("support guidance", e);
    }
  }, 400);

  async function loadOthers() {
    if (!showOthers || !ws.schema) {
      paint();
      return;
    }
    try {
      const s = await api.labeling.votes(grid.id, ws.schema.id, "all");
      const me = state.user?.id;
      others = (s.chips || [])
        .map((c) => {
          const counts = {};
          for (const u of c.users || []) if (u.user !== me && u.class) counts[u.class] = (counts[u.class] || 0) + 1;
          return { row: c.row, col: c.col, counts };
        })
        .filter((c) => Object.keys(c.counts).length);
      paint();
      toast(`${others.length} chip${others.length === 1 ? "" : "s"} labelled by others.`, "info");
    } catch (e) {
      showError(e, "Loading others' votes");
    }
  }

  // --- actions ---------------------------------------------------------------------
  function select(classId) {
    if (ws.activeClassId === classId) return;
    ws.activeClassId = classId;
    // Update in place: rebuilding the list would steal focus from the name being edited.
    for (const li of classList.querySelectorAll("[data-testid=class-item]")) {
      const on = li.dataset.id === classId;
      li.classList.toggle("active", on);
      if (on) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
      const radio = li.querySelector("[data-testid=class-radio]");
      if (radio) radio.checked = on;
    }
  }

  async function toggle(row, col) {
    if (!ws.schema) return;
    const key = `${row},${col}`;
    const before = mine.get(key) || null;
    if (!ws.activeClassId && !before) {
      toast("Add a class first, then click chips.", "error");
      return;
    }
    const next = before && (before === ws.activeClassId || !ws.activeClassId) ? null : ws.activeClassId;
    if (next) mine.set(key, next);
    else mine.delete(key);
    if (next) suggest.drop(row, col);
    refresh();
    try {
      await ws.write(api.labeling.vote(grid.id, { schema: ws.schema.id, row, col, class: next }));
      // an example of a class not ticked for this image makes it one of the image's classes
      const cls = next && ws.classById(next);
      if (cls && classMode === "chosen" && !onImage.has(cls.id)) await setApplies(cls, true);
    } catch (e) {
      if (before) mine.set(key, before);
      else mine.delete(key);
      refresh();
      showError(e, `Chip (${row}, ${col})`);
    }
  }

  function addClass() {
    const name = newName.value.trim();
    if (!name) {
      newName.focus();
      return;
    }
    if (!ws.schema) {
      toast("The label schema could not be loaded; reload the page.", "error");
      return;
    }
    whileBusy(addBtn, async () => {
      newName.value = ""; // typing the next name may start while this one is saved
      try {
        // the server picks a colour far from the classes' colours (colour-blind-safe palette)
        const cls = await api.labeling.addClass(ws.schema.id, { name });
        ws.classes.push(cls);
        if (classMode === "chosen") await setApplies(cls, true); // added while on this image
        ws.activeClassId = cls.id;
        refresh();
        // Back to the image, where chips are clicked and 1–9 switch class (in the name box
        // they typed digits) — unless the next name is already being typed.
        if (!(document.activeElement === newName && newName.value)) viewer.canvas.focus({ preventScroll: true });
      } catch (e) {
        if (!newName.value) newName.value = name;
        showError(e, "Adding a class");
      }
    });
  }

  async function updateClass(cls, body) {
    try {
      Object.assign(cls, await ws.write(api.labeling.updateClass(cls.id, body)));
    } catch (e) {
      showError(e, `Updating ${cls.name}`);
    }
    refresh();
  }

  async function removeClass(cls) {
    const n = countOf(cls.id);
    // Classes belong to the dataset (one label schema), not to this image: say so. The API
    // keeps removed classes with their votes, and the toast's Undo restores one.
    const here = n ? ` (${n} of them yours on this image)` : "";
    if (
      !confirm(
        `Remove class “${cls.name}” from the dataset “${ws.dataset.title}”?\n\n` +
          "Classes are shared by all images of this dataset: it is removed from every image, " +
          `and everyone's chips of this class stop counting in support sets${here}. ` +
          "Frozen support sets and earlier results keep it.\n\nThe message that follows offers Undo.",
      )
    )
      return;
    try {
      await api.labeling.removeClass(cls.id);
      ws.classes = ws.classes.filter((c) => c.id !== cls.id);
      for (const [k, v] of [...mine]) if (v === cls.id) mine.delete(k);
      if (ws.activeClassId === cls.id) ws.activeClassId = ws.classes[0]?.id || null;
      refresh();
      toast(`Class “${cls.name}” removed from every image of “${ws.dataset.title}”.`, "ok", {
        timeout: 15000,
        action: { label: "Undo", testid: "undo-remove-class", onClick: () => restoreClass(cls) },
      });
    } catch (e) {
      showError(e, `Removing ${cls.name}`);
    }
  }

  /** Undo a removal: the class comes back with everyone's votes (409 while its name is taken). */
  async function restoreClass(cls) {
    try {
      await api.labeling.updateClass(cls.id, { active: true });
    } catch (e) {
      showError(e, `Restoring ${cls.name}`);
      return;
    }
    toast(`Class “${cls.name}” restored with its chips.`, "ok");
    if (disposed) return; // another step or page: it loads the classes afresh
    try {
      await ws.refreshSchema(); // emits "classes", which re-renders the board
      await loadMine();
      if (!disposed) refresh();
    } catch (e) {
      showError(e, "Reloading the classes");
    }
  }

  const onKey = (ev) => {
    if (ev.target.closest?.('input[type="text"], input[type="number"], textarea, select')) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    // Enter on a button keeps its meaning (the suggestions' own buttons aside)
    if (
      ev.key === "Enter" &&
      ev.target.closest &&
      ev.target.closest("button, a, summary") &&
      !ev.target.closest("[data-testid=next-list]")
    )
      return;
    const k = parseInt(ev.key, 10);
    const accepting = canVote && suggest.current;
    if (k >= 1 && k <= 9 && ws.classes[k - 1]) {
      ev.preventDefault();
      select(ws.classes[k - 1].id);
      // a suggestion in focus: its number is its class, and the next suggestion comes up
      if (accepting) suggest.accept();
    }
    if (suggest.count && (ev.key === "n" || ev.key === "N")) {
      ev.preventDefault();
      suggest.focusNext();
    }
    if (accepting && (ev.key === "a" || ev.key === "A" || ev.key === "Enter")) {
      ev.preventDefault();
      suggest.accept();
    }
  };

  document.addEventListener("keydown", onKey);
  const offClasses = ws.on("classes", refresh);
  refresh();
  clicksLive = true;
  for (const [row, col] of waiting.splice(0)) toggle(row, col);

  return () => {
    disposed = true;
    document.removeEventListener("keydown", onKey);
    if (viewer.onChipClick === onChip) viewer.onChipClick = null; // not another step's
    offClasses();
  };
}

/** What happened to my examples when this grid was chosen after another (said once). */
function carriedNotice(ws, grid) {
  const c = ws.carried;
  if (!c || c.grid !== grid.id || c.reason === "no_examples") return null;
  ws.carried = null;
  const [x, y] = c.from_offset || [0, 0];
  const size = `${c.from_chip_size} px${x || y ? ` (offset ${x}, ${y})` : ""}`;
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  let text;
  if (c.reason === "") {
    text =
      `${plural(c.carried, "example")} carried over from ${size}` +
      (c.carried !== c.examples ? ` (your ${plural(c.examples, "chip")} there)` : "") +
      (c.lost ? `; ${plural(c.lost, "example")} covered no chip here mostly enough and stayed behind` : "") +
      ".";
  } else if (c.reason === "target_labelled") {
    text = `This grid keeps the examples you gave it; your ${plural(c.examples, "example")} of ${size} were not carried.`;
  } else {
    text = `Your ${plural(c.examples, "example")} of ${size} would cover ${c.carried} chips here, too many to carry: label this grid afresh.`;
  }
  return h(
    "div",
    { class: "carried", testid: "carried", role: "status" },
    h("p", { testid: "carried-text" }, text),
    c.reason === ""
      ? h(
          "p",
          { class: "muted small" },
          "Each chip here took the class of the examples covering most of it. " +
            `The ${size} grid keeps your original clicks.`,
        )
      : null,
    c.from
      ? h(
          "button",
          { type: "button", class: "btn btn-small", testid: "carried-back", onclick: () => ws.setGrid(c.from) },
          `Back to ${size}`,
        )
      : null,
  );
}
