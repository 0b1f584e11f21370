// Password reset: #/forgot asks for the e-mail address; the mailed link (#/reset/<uid>/<token>)
// chooses a new password. The answer to the first never says whether the address has an account.
import * as api from "../api.js";
import { go } from "../main.js";
import { h, errorBox, toast, whileBusy } from "../ui.js";

export function render(root, { uid, token } = {}) {
  const card = uid ? choose(uid, token) : ask();
  root.append(h("div", { class: "center-page" }, card));
  card.querySelector("input").focus();
}

function ask() {
  const email = h("input", {
    id: "forgot-email",
    testid: "forgot-email",
    type: "email",
    required: true,
    autocomplete: "email",
    maxlength: 254,
  });
  const errors = h("div", { "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "forgot-submit" }, "Send reset link");
  const form = h(
    "form",
    {
      class: "card login-card",
      testid: "forgot-form",
      "aria-labelledby": "forgot-title",
      onsubmit: (ev) => {
        ev.preventDefault();
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            await api.auth.requestReset(email.value.trim());
            form.replaceChildren(
              h("h1", { id: "forgot-title" }, "Check your e-mail"),
              h(
                "p",
                { testid: "forgot-sent" },
                `If an account uses ${email.value.trim()}, a link to choose a new ` +
                  "password is on its way. It works once, and not for long.",
              ),
              h(
                "p",
                { class: "muted small" },
                "Nothing arrived after a few minutes? Look in the spam folder, check " +
                  "the address, or ask your lab's owner which address your account uses.",
              ),
              h("p", {}, h("a", { href: "#/login" }, "Back to sign in")),
            );
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("h1", { id: "forgot-title" }, "Forgot your password?"),
    h("p", { class: "muted" }, "Enter your account's e-mail address; we send you a link to choose a new password."),
    h("label", { for: "forgot-email" }, "E-mail address"),
    email,
    errors,
    h("div", { class: "form-actions" }, h("a", { class: "btn", href: "#/login" }, "Cancel"), submit),
  );
  return form;
}

function choose(uid, token) {
  const pass = h("input", {
    id: "reset-password",
    testid: "reset-password",
    type: "password",
    required: true,
    autocomplete: "new-password",
    minlength: 8,
  });
  const again = h("input", {
    id: "reset-again",
    testid: "reset-again",
    type: "password",
    required: true,
    autocomplete: "new-password",
  });
  const errors = h("div", { "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "reset-submit" }, "Set password");
  return h(
    "form",
    {
      class: "card login-card",
      testid: "reset-form",
      "aria-labelledby": "reset-title",
      onsubmit: (ev) => {
        ev.preventDefault();
        errors.replaceChildren();
        if (pass.value !== again.value) {
          errors.replaceChildren(errorBox(new Error("The two passwords differ.")));
          return;
        }
        whileBusy(submit, async () => {
          try {
            await api.auth.confirmReset(uid, token, pass.value);
            toast("Password changed: sign in with the new one.", "ok");
            go("#/login");
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("h1", { id: "reset-title" }, "Choose a new password"),
    h("p", { class: "muted small" }, "At least 8 characters, not only digits, not a common password."),
    h("label", { for: "reset-password" }, "New password"),
    pass,
    h("label", { for: "reset-again" }, "Repeat it"),
    again,
    errors,
    h("div", { class: "form-actions" }, submit),
  );
}
