// A lab: its name, your role and its members. Owners invite people, change roles and remove
// members; everyone can leave; anyone can create a new lab (and becomes its owner).
//
// The page is put together here from its parts (views/lab/): the member list, the two ways
// of inviting, the "New lab" form and the curators' webhooks.
import * as api from "../api.js";
import { go, reloadLabs } from "../main.js";
import { currentLab, set, state } from "../state.js";
import { h, errorBox, fmtDate, showError, toast, whileBusy } from "../ui.js";
import { emailInviteSection } from "./lab/email-invites.js";
import { inviteForm } from "./lab/invite-form.js";
import { createMembers } from "./lab/members.js";
import { newLabControl } from "./lab/new-lab.js";
import { webhooksSection } from "./lab/webhooks.js";

const ROLE_HELP =
  "Viewers read; annotators also label chips, answer crowd tasks and segment; " +
  "curators also manage datasets, classes, consensus versions and models; owners also manage members.";

export async function render(root, { labId } = {}) {
  const page = h("div", { class: "page" });
  root.append(page);
  const id = labId || currentLab()?.id;
  const newLab = newLabControl();
  if (!id) {
    page.append(
      h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Lab")), newLab.button),
      newLab.box,
      h(
        "p",
        { class: "muted", testid: "no-lab" },
        "You are not a member of any lab yet. Ask a lab owner to invite you (by e-mail) or add you (by your username), or create a lab.",
      ),
    );
    return;
  }

  const lab = await api.labs.get(id);
  if (lab.id !== state.labId && state.labs.some((l) => l.id === lab.id)) set({ labId: lab.id });
  const isOwner = lab.role === "owner";
  const members = createMembers(lab);
  const leaveErrors = h("div");
  const leaveBtn = h("button", { type: "button", class: "btn", testid: "leave-lab" }, "Leave lab");
  leaveBtn.addEventListener("click", () => leave(lab, leaveBtn, leaveErrors));

  page.append(
    labHead(lab, newLab.button, leaveBtn),
    newLab.box,
    leaveErrors,
    h("h2", { class: "section-title" }, "Members"),
    h("p", { class: "muted small" }, ROLE_HELP),
    ...(isOwner ? [emailInviteSection(lab)] : []), // Element.append would print a null
    isOwner
      ? inviteForm(lab, members.load)
      : h(
          "p",
          { class: "muted small", testid: "members-read-only" },
          "The lab's owners add and remove members and change their roles.",
        ),
    members.table,
    members.errors,
    ...(["curator", "owner"].includes(lab.role) ? [webhooksSection(lab)] : []),
  );
  await members.load();
}

function labHead(lab, newLabBtn, leaveBtn) {
  return h(
    "div",
    { class: "page-head" },
    h(
      "div",
      {},
      h("h1", { testid: "lab-name" }, lab.name),
      h(
        "p",
        { class: "muted" },
        "Your role: ",
        h("strong", { testid: "lab-role" }, lab.role || "–"),
        ` · ${lab.slug} · created ${fmtDate(lab.created)}`,
      ),
      lab.description ? h("p", {}, lab.description) : null,
    ),
    h("div", { class: "inline-fields" }, newLabBtn, leaveBtn),
  );
}

function leave(lab, button, errors) {
  if (!confirm(`Leave ${lab.name}? You lose access to its private data until an owner adds you again.`)) return;
  whileBusy(button, async () => {
    errors.replaceChildren();
    try {
      await api.labs.leave(lab.id);
    } catch (e) {
      // e.g. 409: the last owner cannot leave
      errors.replaceChildren(errorBox(e));
      showError(e, "Leaving the lab");
      return;
    }
    toast(`You left ${lab.name}.`, "ok");
    await reloadLabs().catch((e) => showError(e, "Loading your labs"));
    go("#/lab");
  });
}
