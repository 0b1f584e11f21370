// Sign-in page (session auth).
import * as api from "../api.js";
import { startSession, go } from "../main.js";
import { h, errorBox } from "../ui.js";

export function render(root) {
  const user = h("input", {
    id: "login-username",
    name: "username",
    autocomplete: "username",
    required: true,
    testid: "login-username",
  });
  const pass = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    testid: "login-password",
  });
  const errors = h("div", { "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "login-submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card login-card",
      testid: "login-form",
      "aria-labelledby": "login-title",
      onsubmit: async (ev) => {
        ev.preventDefault();
        errors.replaceChildren();
        submit.disabled = true;
        try {
          const me = await api.auth.login(user.value.trim(), pass.value);
          await api.auth.me(); // refresh the CSRF cookie for the new session
          await startSession(me);
          const next = sessionStorage.getItem("chiplab.next");
          sessionStorage.removeItem("chiplab.next");
          go(next && next !== "#/login" ? next : "#/datasets");
        } catch (e) {
          errors.replaceChildren(errorBox(e));
          submit.disabled = false;
        }
      },
    },
    h("h1", { id: "login-title" }, "Sign in to Chiplab"),
    h("p", { class: "muted" }, "Few-shot segmentation of electron micrographs."),
    h("label", { for: "login-username" }, "Username"),
    user,
    h("label", { for: "login-password" }, "Password"),
    pass,
    errors,
    h("div", { class: "form-actions" }, submit),
    h(
      "p",
      { class: "small login-links" },
      h("a", { href: "#/forgot", testid: "forgot-link" }, "Forgot your password?"),
      " · ",
      h("a", { href: "#/help", testid: "login-help" }, "What is Chiplab?"),
    ),
    h("p", { class: "muted small" }, "New here? Ask a lab owner for an invitation: it arrives by e-mail."),
  );
  root.append(h("div", { class: "center-page" }, form));
  user.focus();
}
