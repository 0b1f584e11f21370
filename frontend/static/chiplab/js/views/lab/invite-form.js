// Owners add an existing account to the lab by its username, with a role.
import * as api from "../../api.js";
import { h, errorBox, toast, whileBusy } from "../../ui.js";
import { roleSelect } from "./roles.js";

/** The form; `onAdded()` reloads the member list. */
export function inviteForm(lab, onAdded) {
  const who = h("input", {
    id: "invite-user",
    testid: "invite-user",
    required: true,
    autocomplete: "off",
    placeholder: "username",
    maxlength: 150,
  });
  const role = roleSelect({ id: "invite-role", testid: "invite-role" }, "annotator");
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "invite-submit" }, "Add member");
  const errors = h("div");
  return h(
    "form",
    {
      class: "card form-card",
      testid: "invite-form",
      "aria-label": "Add a member",
      onsubmit: (ev) => {
        ev.preventDefault();
        const value = who.value.trim();
        if (!value) {
          who.focus();
          return;
        }
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            const m = await api.labs.invite(lab.id, value, role.value);
            toast(`${m.user.username} added to ${lab.name} as ${m.role}.`, "ok");
            who.value = "";
            await onAdded();
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h(
      "div",
      { class: "inline-fields" },
      h("label", { for: "invite-user" }, "Or add an account by username"),
      who,
      h("label", { for: "invite-role" }, "as"),
      role,
      submit,
    ),
    errors,
  );
}
