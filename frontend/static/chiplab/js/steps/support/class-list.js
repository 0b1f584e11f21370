// The dataset's classes as a list: colour, name, example count, whether the class is counted as
// objects and whether this image shows it, and my example chips of it as thumbnails.
import { chipCrop } from "../../crops.js";
import { h } from "../../ui.js";
import { MAX_PER_CLASS, MIN_PER_CLASS, SUGGESTED_PER_CLASS, applies, chipOf, countOf } from "./store.js";
import { zoomToChip } from "./zoom.js";

const stop = (ev) => ev.stopPropagation();

/**
 * `on` holds the board's actions: `toggle(row, col)` (a thumbnail shift-clicked), `update(cls,
 * body)`, `remove(cls)` and `setApplies(cls, on)`.
 */
export function createClassList({ ws, grid, store, canManage, canVote, on }) {
  const box = h("ul", { class: "class-list", testid: "class-list", "aria-label": "Classes" });

  function render() {
    box.replaceChildren(...ws.classes.map(classItem));
    if (!ws.classes.length) {
      box.append(
        h(
          "li",
          { class: "muted small", testid: "no-classes" },
          canManage
            ? "No classes yet. Add the features you want to map (e.g. STO, Ge, vacuum)."
            : "No classes yet. The lab's curators add the dataset's classes.",
        ),
      );
    }
  }

  function classItem(cls, i) {
    const n = countOf(store, cls.id);
    const active = cls.id === ws.activeClassId;
    const here = applies(store, cls);
    return h(
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
        colourInput(cls),
        nameInput(cls, i),
        countBadge(n),
        h("input", {
          type: "radio",
          name: "active-class",
          class: "visually-hidden",
          checked: active,
          "aria-label": `Active class ${cls.name}`,
          testid: "class-radio",
          onchange: () => select(cls.id),
        }),
        canManage ? removeButton(cls) : null,
      ),
      h("div", { class: "class-opts" }, onImageToggle(cls, n, here), kindToggle(cls)),
      thumbnails(cls),
    );
  }

  function colourInput(cls) {
    return h("input", {
      type: "color",
      value: cls.colour,
      testid: "class-colour",
      "aria-label": `Colour of ${cls.name}`,
      disabled: !canManage,
      title: canManage ? "" : "Colours are changed by the lab's curators",
      onclick: stop,
      onchange: (ev) => on.update(cls, { colour: ev.target.value }),
    });
  }

  function nameInput(cls, i) {
    return h("input", {
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
        if (v && v !== cls.name) on.update(cls, { name: v });
        else ev.target.value = cls.name;
      },
      onkeydown: (ev) => {
        if (ev.key === "Enter") ev.target.blur();
      },
    });
  }

  function countBadge(n) {
    const status = n < MIN_PER_CLASS ? "low" : n > MAX_PER_CLASS ? "high" : "ok";
    return h(
      "span",
      {
        class: `class-count count-${status}`,
        testid: "class-count",
        title: `${MIN_PER_CLASS}–${MAX_PER_CLASS} examples; ${SUGGESTED_PER_CLASS} or more make a markedly better map`,
      },
      `${n} chip${n === 1 ? "" : "s"}`,
    );
  }

  function removeButton(cls) {
    return h(
      "button",
      {
        type: "button",
        class: "btn btn-quiet btn-small",
        testid: "remove-class",
        "aria-label": `Remove class ${cls.name}`,
        title: "Remove class",
        onclick: (ev) => {
          ev.stopPropagation();
          on.remove(cls);
        },
      },
      "✕",
    );
  }

  /** Is this class one of this image's materials? Unticked: no guidance, no crowd task. */
  function onImageToggle(cls, n, here) {
    return h(
      "label",
      {
        class: "class-here small",
        title: n
          ? "You have examples of this class on this image, so it is one of its classes"
          : "Tick the classes this image shows: guidance and crowd tasks only ask about those",
        onclick: stop,
      },
      h("input", {
        type: "checkbox",
        testid: "class-applies",
        checked: here,
        disabled: !canVote || n > 0,
        "aria-label": `${cls.name} is on this image`,
        onchange: (ev) => on.setApplies(cls, ev.target.checked),
      }),
      " on this image",
    );
  }

  /** Objects (particles, precipitates, voids) are also counted and sized in the result. */
  function kindToggle(cls) {
    return h(
      "label",
      {
        class: "class-kind small",
        title: canManage
          ? "Count this class's pieces as objects (particles…): results give a count and a size histogram, and the map tells objects apart by their brightness (a material) rather than also by texture"
          : "Whether a class is counted as objects is set by the lab's curators",
        onclick: stop,
      },
      h("input", {
        type: "checkbox",
        testid: "class-kind",
        checked: cls.kind === "objects",
        disabled: !canManage,
        "aria-label": `Count ${cls.name} as objects`,
        onchange: (ev) => on.update(cls, { kind: ev.target.checked ? "objects" : "region" }),
      }),
      " objects",
    );
  }

  /** My examples of a class: a click shows the chip on the image, a shift-click removes it. */
  function thumbnails(cls) {
    const thumbs = h("div", { class: "chip-thumbs", testid: "class-chips" });
    for (const [key, cid] of store.mine) {
      if (cid !== cls.id) continue;
      const { row, col } = chipOf(key);
      const crop = chipCrop(ws.viewer, grid, row, col, 34);
      crop.style.borderColor = cls.colour;
      crop.title = `Chip (${row}, ${col}) — click to show, shift-click to remove`;
      crop.setAttribute("role", "button");
      crop.setAttribute("tabindex", "0");
      crop.setAttribute("aria-label", `${cls.name} chip row ${row} column ${col}`);
      crop.addEventListener("click", (ev) => {
        if (ev.shiftKey) return on.toggle(row, col);
        zoomToChip(ws.viewer, grid, row, col);
      });
      thumbs.append(crop);
    }
    return thumbs;
  }

  function select(classId) {
    if (ws.activeClassId === classId) return;
    ws.activeClassId = classId;
    // Update in place: rebuilding the list would steal focus from the name being edited.
    for (const li of box.querySelectorAll("[data-testid=class-item]")) {
      const isOn = li.dataset.id === classId;
      li.classList.toggle("active", isOn);
      if (isOn) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
      const radio = li.querySelector("[data-testid=class-radio]");
      if (radio) radio.checked = isOn;
    }
  }

  return { box, render, select };
}
