// Owners invite by e-mail: a single-use link with a role and an expiry; pending ones revocable.
import * as api from "../../api.js";
import { h, errorBox, fmtDate, showError, toast, whileBusy } from "../../ui.js";
import { roleSelect } from "./roles.js";

/** The invitation form and the pending invitations (loaded as it is made). */
export function emailInviteSection(lab) {
  const errors = h("div");
  const pending = h("tbody", {});
  const pendingBox = h(
    "div",
    { class: "card table-card", hidden: true },
    h(
      "table",
      { class: "data-table", testid: "invitation-list" },
      h("caption", { class: "visually-hidden" }, "Pending invitations"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["E-mail", "Role", "Sent", "Expires"].map((t) => h("th", { scope: "col" }, t)),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
        ),
      ),
      pending,
    ),
  );

  async function loadInvitations() {
    try {
      const rows = await api.labs.invitations(lab.id);
      pending.replaceChildren(...rows.map(invitationRow));
      pendingBox.hidden = !rows.length;
    } catch (e) {
      errors.replaceChildren(errorBox(e));
    }
  }

  function invitationRow(inv) {
    const revoke = h(
      "button",
      {
        type: "button",
        class: "btn btn-small btn-quiet",
        testid: "invitation-revoke",
        "aria-label": `Revoke the invitation to ${inv.email}`,
      },
      "Revoke",
    );
    revoke.addEventListener("click", () =>
      whileBusy(revoke, async () => {
        try {
          await api.invitations.revoke(inv.id);
          toast(`Invitation to ${inv.email} revoked: its link no longer works.`, "ok");
          await loadInvitations();
        } catch (e) {
          showError(e, "Revoking the invitation");
        }
      }),
    );
    return h(
      "tr",
      { testid: "invitation-row", dataset: { email: inv.email } },
      h("td", {}, inv.email),
      h("td", {}, inv.role),
      h("td", { class: "small" }, fmtDate(inv.created)),
      h("td", { class: "small" }, fmtDate(inv.expires_at)),
      h("td", { class: "actions" }, revoke),
    );
  }

  const form = invitationForm(lab, errors, loadInvitations);
  loadInvitations();
  return h("div", { testid: "invitations" }, form, pendingBox);
}

/** The form; `errors` shows what the server refused, `onSent()` reloads the pending ones. */
function invitationForm(lab, errors, onSent) {
  const email = h("input", {
    id: "invite-email",
    testid: "invite-email",
    type: "email",
    required: true,
    autocomplete: "off",
    maxlength: 254,
    placeholder: "name@institute.org",
  });
  const role = roleSelect({ id: "invite-email-role", testid: "invite-email-role" }, "annotator");
  const days = h(
    "select",
    { id: "invite-days", testid: "invite-days", "aria-label": "The link works for" },
    [1, 7, 14, 30].map((d) => h("option", { value: d, selected: d === 7 }, d === 1 ? "1 day" : `${d} days`)),
  );
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "invite-send" }, "Send invitation");
  return h(
    "form",
    {
      class: "card form-card",
      testid: "email-invite-form",
      "aria-label": "Invite by e-mail",
      onsubmit: (ev) => {
        ev.preventDefault();
        const value = email.value.trim();
        if (!value) {
          email.focus();
          return;
        }
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            const inv = await api.labs.inviteEmail(lab.id, value, role.value, Number(days.value));
            toast(`Invitation sent to ${inv.email}; they join as ${inv.role} when they accept.`, "ok");
            email.value = "";
            await onSent();
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h(
      "div",
      { class: "inline-fields" },
      h("label", { for: "invite-email" }, "Invite by e-mail"),
      email,
      h("label", { for: "invite-email-role" }, "as"),
      role,
      h("label", { for: "invite-days" }, "link valid"),
      days,
      submit,
    ),
    h(
      "p",
      { class: "muted small" },
      "They get a link that works once; with it they join, creating an account ",
      "if they have none. Nobody is added until they accept.",
    ),
    errors,
  );
}
