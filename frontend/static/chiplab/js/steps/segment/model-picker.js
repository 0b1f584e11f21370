// Which model segments: the lab's champion unless another version the lab may use is chosen.
import * as api from "../../api.js";
import { h } from "../../ui.js";

export function createModelPicker({ ws, store }) {
  const select = h("select", { id: "model-version", testid: "model-version" });
  const box = h(
    "div",
    { class: "inline-fields", testid: "model-box", hidden: true, style: { margin: ".5rem 0", flexWrap: "wrap" } },
    h("label", { for: "model-version" }, "Model"),
    select,
    h("a", { href: "#/models", class: "small" }, "About the models"),
  );

  /** Fill the selector: the champion first (chosen), then every version the lab may use. */
  async function load() {
    const labId = ws.dataset.lab;
    const usable = api.usableVersions(await api.registry.versions(), labId);
    // None registered yet: the server picks (and registers) the default when the job is made.
    if (!usable.length || store.disposed) return;
    const champion = await api.registry.champion(labId);
    if (store.disposed) return;
    const label = (v) => `${v.name} v${v.version} · ${v.encoder_kind}`;
    select.replaceChildren(
      h("option", { value: champion.id, selected: true }, `${label(champion)} (lab champion)`),
      ...usable.filter((v) => v.id !== champion.id).map((v) => h("option", { value: v.id }, label(v))),
    );
    follow(store.model.shown);
    box.hidden = false;
  }

  /** Choose ``id`` in the selector when the lab may use it. */
  function follow(id) {
    if (id && [...select.options].some((o) => o.value === id)) select.value = id;
  }

  /** The job request's model field: empty while the selector is not shown (the server picks). */
  const chosen = () => (box.hidden ? {} : { model_version: select.value });

  return { box, load, follow, chosen };
}
