// Models of the current lab: its champion, the model versions it may use (cards, licences,
// downloads), promotion and roll-back (curators) and fine-tuning jobs on frozen support sets.
//
// The page is put together here from its parts (views/models/): the champion and the versions
// (versions.js, champion.js), the training jobs and the form that starts one.
import { currentLab, hasRole } from "../state.js";
import { h } from "../ui.js";
import { trainingForm } from "./models/training-form.js";
import { createTrainingJobs } from "./models/training-jobs.js";
import { createVersions } from "./models/versions.js";

export async function render(root) {
  const lab = currentLab();
  const page = h("div", { class: "page" });
  root.append(page);
  page.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Models"), h("p", { class: "muted" }, lab ? `Lab: ${lab.name}` : "")),
    ),
  );
  if (!lab) {
    page.append(h("p", { class: "muted", testid: "no-lab" }, "Join a lab to see the models it uses."));
    return;
  }
  // The page's state, read and written by its parts; `stopped`: the page was left.
  const store = { lab, canManage: hasRole(lab, "curator"), stopped: false, versions: [], champion: null };
  let refillBase = null; // the training form's base-model choices follow the versions
  const versions = createVersions(store, { onLoaded: () => refillBase?.() });
  const jobs = createTrainingJobs(store, { onFinished: () => versions.load() });
  const trainingBox = h("div");
  page.append(
    versions.championBox,
    ...versions.section,
    h("h2", { class: "section-title" }, "Training"),
    h(
      "p",
      { class: "muted small" },
      "Fine-tune an encoder on the lab's frozen support sets. Part of each set's chips is held out to ",
      "measure the result; the new version is registered as the challenger, to compare with the champion and promote.",
    ),
    trainingBox,
    jobs.table,
  );

  await versions.load();
  refillBase = await trainingForm(trainingBox, store, { onQueued: jobs.reload });
  await jobs.load();
  return () => {
    store.stopped = true;
    jobs.stop();
  };
}
