// Which support set Segment freezes (my chips, or a lab consensus for curators), and what it holds.
import * as api from "../../api.js";
import { h, errorBox, showError } from "../../ui.js";

/**
 * The support-set selector and its summary. `onChange()` is called when whether the set can
 * be segmented (`store.support.ok`) may have changed.
 */
export function createSupportSource({ ws, store, canRun, canConsensus, onChange }) {
  const s = store.support;
  const majorityLabel = () => `Lab consensus — majority (min votes ${s.minVotes})`;
  const majorityOption = h("option", { value: "majority" }, majorityLabel());
  const sourceSelect = h(
    "select",
    { id: "support-source", testid: "support-source" },
    h("option", { value: "single_owner" }, "My chips"),
    majorityOption,
    h("option", { value: "curator" }, "Curator approval"),
  );
  const minVotesInput = h("input", {
    type: "number",
    id: "min-votes",
    testid: "min-votes",
    min: 1,
    max: 100,
    value: s.minVotes,
    style: { width: "4.5rem" },
  });
  const minVotesField = h(
    "span",
    { class: "inline-fields", hidden: true },
    h("label", { for: "min-votes" }, "Min votes"),
    minVotesInput,
  );
  const box = canConsensus
    ? h(
        "div",
        { class: "inline-fields", testid: "support-source-box", style: { margin: ".5rem 0", flexWrap: "wrap" } },
        h("label", { for: "support-source" }, "Support set"),
        sourceSelect,
        minVotesField,
      )
    : null;
  const summary = h("div", { class: "small muted", testid: "support-summary" });
  const redescribe = () => describe().catch((e) => showError(e, "Support set"));

  sourceSelect.addEventListener("change", () => {
    s.rule = sourceSelect.value;
    minVotesField.hidden = s.rule !== "majority";
    redescribe();
  });
  minVotesInput.addEventListener("change", () => {
    const n = Math.round(Number(minVotesInput.value));
    const next = Number.isFinite(n) ? Math.min(100, Math.max(1, n)) : 2;
    minVotesInput.value = next;
    if (next === s.minVotes) return;
    s.minVotes = next;
    majorityOption.textContent = majorityLabel();
    redescribe();
  });

  let runTitle = ""; // why Segment is disabled, if it is for the support set
  const setOk = (ok, title) => {
    s.ok = ok;
    if (title !== undefined) runTitle = title;
    onChange();
  };

  /** Point the selector at the set a shown result was made with. */
  function match(r, job) {
    const support = r.provenance?.support_set;
    if (!canConsensus || !support?.rule || support.id === s.matched) return;
    s.matched = support.id;
    let votes = s.minVotes;
    if (support.rule === "majority") {
      // the rule's params are in the result's provenance (and on its job)
      const params = support.params || job?.support_set?.params || {};
      const n = Number(params.min_votes);
      if (Number.isFinite(n) && n >= 1) votes = n;
    }
    if (store.disposed || (support.rule === s.rule && votes === s.minVotes)) return;
    s.rule = support.rule;
    s.minVotes = votes;
    sourceSelect.value = s.rule;
    minVotesInput.value = s.minVotes;
    majorityOption.textContent = majorityLabel();
    minVotesField.hidden = s.rule !== "majority";
    redescribe();
  }

  /** What a job freezes: the rule and this grid's chips (a job that freezes its working set
   * runs an unchanged one on its newest version rather than on an identical new one). */
  function freezeBody() {
    const body = { rule: s.rule, grids: [ws.grid.id] };
    return s.rule === "majority" ? { ...body, min_votes: s.minVotes } : body;
  }

  async function describe() {
    if (!canRun || !ws.schema) return;
    if (s.rule !== "single_owner") return describeConsensus();
    const my = ++s.seq;
    const votes = await api.labeling.votes(ws.grid.id, ws.schema.id, "me");
    if (my !== s.seq || store.disposed) return;
    const counts = {};
    for (const c of votes.chips || []) if (c.class) counts[c.class] = (counts[c.class] || 0) + 1;
    const parts = ws.classes.map((c) => `${c.name} ${counts[c.id] || 0}`);
    summary.replaceChildren(
      `Support set on the ${ws.grid.chip_size} px grid: `,
      parts.join(" · ") || "no classes yet",
      ".",
    );
    // Classes belong to the whole dataset: those without chips on this grid are left out of
    // the frozen set (and the result), so two classes with chips are enough.
    const used = ws.classes.filter((c) => (counts[c.id] || 0) >= 1);
    const ok = used.length >= 2;
    setOk(ok, ok ? "" : "Give at least two classes example chips on this grid first (step 2).");
    if (!ok) {
      summary.append(
        " ",
        h(
          "span",
          { testid: "support-missing" },
          `Give at least two classes example chips on this grid (${used.length} ha${used.length === 1 ? "s" : "ve"} some).`,
        ),
        " ",
        h("a", { href: `#/images/${ws.image.id}/support` }, "Add examples"),
      );
    }
    leftOutNote(
      ws.classes.filter((c) => !(counts[c.id] || 0)),
      ok,
    );
  }

  /** Say plainly which of the dataset's classes this segmentation will not use. */
  function leftOutNote(unused, ok) {
    if (!ok || !unused.length) return;
    const names = unused.map((c) => c.name);
    const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
    const one = names.length === 1;
    summary.append(
      h("br"),
      h(
        "span",
        { testid: "support-left-out" },
        `${list} ha${one ? "s" : "ve"} no chips here and ${one ? "is" : "are"} left out of this segmentation.`,
      ),
    );
  }

  // A consensus set is the server's to judge: show its counts and warnings, and let the job
  // request report what is wrong (e.g. too few classes agreed on).
  async function describeConsensus() {
    const my = ++s.seq;
    const stale = () => my !== s.seq || store.disposed;
    summary.setAttribute("aria-busy", "true"); // keep the old text meanwhile: no layout jump
    const extra = s.rule === "majority" ? { min_votes: s.minVotes } : {};
    let answer;
    try {
      answer = await api.labeling.support(ws.grid.id, ws.schema.id, s.rule, extra);
    } catch (e) {
      if (stale()) return;
      summary.removeAttribute("aria-busy");
      summary.replaceChildren(errorBox(e));
      setOk(true); // the job request will say what is wrong
      return;
    }
    if (stale()) return;
    summary.removeAttribute("aria-busy");
    const counts = Object.fromEntries((answer.classes || []).map((c) => [c.id, c.count || 0]));
    const name =
      s.rule === "majority"
        ? `Lab consensus (majority, at least ${s.minVotes} vote${s.minVotes === 1 ? "" : "s"})`
        : "Curator approval";
    const parts = ws.classes.map((c) => `${c.name} ${counts[c.id] || 0}`);
    summary.replaceChildren(
      `${name} on the ${ws.grid.chip_size} px grid: `,
      parts.join(" · ") || "no classes yet",
      ".",
    );
    for (const w of answer.warnings || []) summary.append(h("br"), h("span", { testid: "support-warning" }, "⚠ ", w));
    setOk(true, "");
  }

  return { box, summary, describe, match, freezeBody, runTitle: () => runTitle };
}
