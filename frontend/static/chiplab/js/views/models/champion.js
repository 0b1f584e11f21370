// The champion card of the Models page: the version the lab's segmentations use, and its
// roll-back (curators of a lab with a champion of its own).
import * as api from "../../api.js";
import { h, showError, toast, whileBusy } from "../../ui.js";
import { licenceOf, SOURCES } from "./format.js";

export function championCard() {
  return h(
    "div",
    { class: "card form-card champion-card", testid: "champion", "aria-live": "polite" },
    h("p", { class: "muted" }, "Loading…"),
  );
}

/** Shows `store.champion` in `box`; `reload()` after a roll-back. */
export function renderChampion(box, store, reload) {
  const { lab, champion } = store;
  const own = champion.lab === lab.id;
  box.dataset.version = champion.id;
  box.replaceChildren(
    h(
      "div",
      { class: "champion-head" },
      h(
        "div",
        {},
        h("p", { class: "muted small champion-label" }, "Champion of this lab"),
        h("h2", { testid: "champion-name" }, `${champion.name} v${champion.version}`),
        h(
          "p",
          { class: "small", testid: "champion-note" },
          `${champion.encoder_kind} encoder · ${SOURCES[champion.source] || champion.source} · `,
          own ? "the lab's own champion" : "public default (the lab has not promoted a version of its own)",
        ),
        champion.card?.summary ? h("p", { class: "small muted" }, champion.card.summary) : null,
        // what the segmentations of this lab can expect where nothing was tuned (built-ins)
        champion.card?.evaluation
          ? h("p", { class: "small", testid: "champion-evaluation" }, champion.card.evaluation)
          : null,
        h("p", { class: "small muted" }, licenceOf(champion)),
      ),
      own && store.canManage ? rollbackButton(lab, champion, reload) : null,
    ),
  );
}

function rollbackButton(lab, champion, reload) {
  const button = h(
    "button",
    {
      type: "button",
      class: "btn btn-small",
      testid: "rollback",
      title: "Give the champion back to the version that held it before (or to the public default)",
    },
    "Roll back",
  );
  button.addEventListener("click", () => {
    if (!confirm(`Roll back the champion of ${lab.name} from ${champion.name} v${champion.version}?`)) return;
    whileBusy(button, async () => {
      try {
        const r = await api.registry.rollback(champion.name, { alias: "champion" });
        toast(
          r.version
            ? `Champion rolled back to ${r.name} v${r.version.version}.`
            : `${r.name} is no longer champion: the lab uses the public default.`,
          "ok",
        );
        await reload();
      } catch (e) {
        showError(e, "Roll back");
      }
    });
  });
  return button;
}
