// "New lab": a name (and a description); the creator becomes its owner.
import * as api from "../../api.js";
import { go, reloadLabs } from "../../main.js";
import { h, errorBox, toast, whileBusy } from "../../ui.js";

/** The "New lab" button and the box its form opens in. */
export function newLabControl() {
  const box = h("div");
  const button = h(
    "button",
    {
      type: "button",
      class: "btn",
      testid: "new-lab",
      onclick: () => {
        box.replaceChildren(createForm(box));
        box.querySelector("input").focus();
      },
    },
    "New lab",
  );
  return { button, box };
}

function createForm(box) {
  const name = h("input", { id: "lab-new-name", testid: "lab-new-name", required: true, maxlength: 200 });
  const desc = h("textarea", { id: "lab-new-desc", testid: "lab-new-description", rows: 2 });
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "lab-create" }, "Create lab");
  return h(
    "form",
    {
      class: "card form-card",
      testid: "lab-form",
      "aria-label": "New lab",
      onsubmit: (ev) => {
        ev.preventDefault();
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            const lab = await api.labs.create({ name: name.value.trim(), description: desc.value });
            await reloadLabs({ select: lab.id });
            toast(`Lab “${lab.name}” created; you are its owner.`, "ok");
            go(`#/labs/${lab.id}`);
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("h2", {}, "New lab"),
    h(
      "div",
      { class: "form-grid" },
      h("label", { for: "lab-new-name" }, "Name"),
      name,
      h("label", { for: "lab-new-desc" }, "Description"),
      desc,
    ),
    errors,
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "button", class: "btn", onclick: () => box.replaceChildren() }, "Cancel"),
      submit,
    ),
  );
}
