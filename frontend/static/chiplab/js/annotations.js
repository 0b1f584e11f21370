// Tags and key-value annotations of an image (as OMERO's tag and map annotations), shown on
// the image page; the lab's annotators and above edit them (PUT images/<id>/annotations).
import * as api from "./api.js";
import { h, clear, errorBox, showError, toast, whileBusy } from "./ui.js";

const MAX_TAG = 64;
const MAX_KEY = 128;
const MAX_VALUE = 1024;

/** A card with the image's tags and pairs; ``canEdit``: an Edit button and form. */
export function annotationsBlock(image, canEdit) {
  const body = h("div", { testid: "annotations-body" }, h("p", { class: "muted small" }, "Loading…"));
  const block = h(
    "details",
    { class: "metadata card", testid: "image-annotations", open: true },
    h("summary", {}, "Tags and annotations"),
    body,
  );
  let data = { tags: [], pairs: [] };

  const show = () => {
    clear(body).append(
      h(
        "div",
        { testid: "annotation-tags", style: { margin: ".4rem 0" } },
        data.tags.length
          ? data.tags.map((t) =>
              h(
                "a",
                {
                  class: "pill pill-alias",
                  testid: "annotation-tag",
                  href: `#/search?tag=${encodeURIComponent(t)}`,
                  title: "Images with this tag",
                },
                t,
              ),
            )
          : h("span", { class: "muted small" }, "No tags."),
      ),
      data.pairs.length
        ? h(
            "table",
            { class: "kv", testid: "annotation-pairs" },
            h(
              "tbody",
              {},
              data.pairs.map((p) => h("tr", {}, h("th", { scope: "row" }, p.key), h("td", {}, p.value))),
            ),
          )
        : h("p", { class: "muted small" }, "No key-value annotations."),
      canEdit
        ? h(
            "button",
            {
              type: "button",
              class: "btn btn-small",
              testid: "annotations-edit",
              onclick: () => clear(body).append(form()),
            },
            "Edit",
          )
        : null,
    );
  };

  function pairRow(key = "", value = "") {
    const row = h(
      "div",
      { class: "inline-fields", testid: "annotation-pair-row" },
      h("input", { value: key, maxlength: MAX_KEY, placeholder: "key", "aria-label": "Key", testid: "annotation-key" }),
      h("input", {
        value,
        maxlength: MAX_VALUE,
        placeholder: "value",
        "aria-label": "Value",
        testid: "annotation-value",
        style: { flex: "1" },
      }),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet",
          "aria-label": "Remove this pair",
          onclick: () => row.remove(),
        },
        "×",
      ),
    );
    return row;
  }

  function form() {
    const tags = h("input", {
      id: "annotation-tags-input",
      testid: "annotation-tags-input",
      value: data.tags.join(", "),
      style: { width: "100%" },
      placeholder: "comma-separated, e.g. grain boundary, beam damage",
    });
    const rows = h(
      "div",
      {},
      data.pairs.map((p) => pairRow(p.key, p.value)),
    );
    const errors = h("div");
    const save = h(
      "button",
      { type: "submit", class: "btn btn-small btn-primary", testid: "annotations-save" },
      "Save",
    );
    return h(
      "form",
      {
        testid: "annotations-form",
        onsubmit: (ev) => {
          ev.preventDefault();
          whileBusy(save, async () => {
            errors.replaceChildren();
            const tagList = tags.value
              .split(",")
              .map((t) => t.trim())
              .filter(Boolean);
            const tooLong = tagList.find((t) => t.length > MAX_TAG);
            if (tooLong) {
              errors.append(errorBox(new Error(`A tag has at most ${MAX_TAG} characters.`)));
              return;
            }
            const pairs = [...rows.querySelectorAll("[data-testid=annotation-pair-row]")]
              .map((r) => ({
                key: r.querySelector("[data-testid=annotation-key]").value.trim(),
                value: r.querySelector("[data-testid=annotation-value]").value.trim(),
              }))
              .filter((p) => p.key || p.value);
            try {
              data = await api.request("PUT", `images/${image.id}/annotations`, { body: { tags: tagList, pairs } });
              toast("Annotations saved.", "ok");
              show();
            } catch (e) {
              errors.replaceChildren(errorBox(e));
            }
          });
        },
      },
      h("label", { for: "annotation-tags-input", class: "field-label" }, "Tags"),
      tags,
      h("p", { class: "field-label", style: { marginTop: ".6rem" } }, "Key-value pairs"),
      rows,
      h(
        "div",
        { class: "inline-fields" },
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            testid: "annotation-add-pair",
            onclick: () => rows.append(pairRow()),
          },
          "+ Pair",
        ),
        save,
        h("button", { type: "button", class: "btn btn-small btn-quiet", onclick: show }, "Cancel"),
      ),
      errors,
    );
  }

  api
    .get(`images/${image.id}/annotations`)
    .then((got) => {
      data = got;
      show();
    })
    .catch((e) => {
      clear(body).append(errorBox(e));
      showError(e, "Loading annotations");
    });
  return block;
}
