// Accepting an invitation link (#/invite/<key>): signed in, join as this account; signed out,
// create an account (this works where public sign-up is closed) or sign in first.
import * as api from "../api.js";
import { go, reloadLabs, startSession } from "../main.js";
import { state } from "../state.js";
import { h, errorBox, fmtDate, toast, whileBusy } from "../ui.js";

export async function render(root, { key }) {
  const card = h("div", { class: "card login-card invite-card", testid: "invite-card" });
  root.append(h("div", { class: "center-page" }, card));
  let invitation;
  try {
    invitation = await api.invitations.preview(key);
  } catch (e) {
    card.append(
      h("h1", {}, "Invitation"),
      errorBox(e),
      h(
        "p",
        {},
        state.user ? h("a", { href: "#/datasets" }, "Go to your datasets") : h("a", { href: "#/login" }, "Sign in"),
      ),
    );
    return;
  }
  const from = invitation.invited_by ? `${invitation.invited_by} invites you` : "You are invited";
  card.append(
    h("h1", { id: "invite-title" }, `Join ${invitation.lab_name}`),
    h(
      "p",
      { testid: "invite-summary" },
      `${from} to join the lab “${invitation.lab_name}” as `,
      h("strong", {}, invitation.role),
      ".",
    ),
    h(
      "p",
      { class: "muted small" },
      `Sent to ${invitation.email} · the link works once, until ${fmtDate(invitation.expires_at)}.`,
    ),
  );
  const errors = h("div", { "aria-live": "assertive" });

  async function done(answer) {
    if (answer.account_created) {
      await api.auth.me(); // the CSRF cookie of the new session
      await startSession(answer.user);
    }
    await reloadLabs({ select: answer.lab });
    toast(`You joined ${invitation.lab_name} as ${answer.role}.`, "ok");
    go(`#/labs/${answer.lab}`);
  }

  if (state.user) {
    const join = h(
      "button",
      { type: "button", class: "btn btn-primary", testid: "invite-accept" },
      `Join as ${state.user.username}`,
    );
    join.addEventListener("click", () =>
      whileBusy(join, async () => {
        errors.replaceChildren();
        try {
          await done(await api.invitations.accept(key));
        } catch (e) {
          errors.replaceChildren(errorBox(e));
        }
      }),
    );
    card.append(
      errors,
      h("div", { class: "form-actions" }, h("a", { class: "btn", href: "#/datasets" }, "Not now"), join),
    );
    join.focus();
    return;
  }

  const field = (id, label, attrs) => [h("label", { for: id }, label), h("input", { id, testid: id, ...attrs })];
  const [userLabel, username] = field("invite-username", "Choose a username", {
    autocomplete: "username",
    required: true,
    maxlength: 150,
  });
  const [firstLabel, first] = field("invite-first-name", "First name", { autocomplete: "given-name", maxlength: 150 });
  const [lastLabel, last] = field("invite-last-name", "Last name", { autocomplete: "family-name", maxlength: 150 });
  const [passLabel, password] = field("invite-password", "Choose a password", {
    type: "password",
    autocomplete: "new-password",
    required: true,
    minlength: 8,
  });
  const submit = h(
    "button",
    { type: "submit", class: "btn btn-primary", testid: "invite-create" },
    "Create account and join",
  );
  const signIn = h(
    "a",
    {
      href: "#/login",
      testid: "invite-sign-in",
      onclick: () => sessionStorage.setItem("chiplab.next", `#/invite/${key}`),
    },
    "sign in first",
  );
  const form = h(
    "form",
    {
      class: "invite-form",
      testid: "invite-account-form",
      "aria-labelledby": "invite-title",
      onsubmit: (ev) => {
        ev.preventDefault();
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            await done(
              await api.invitations.accept(key, {
                username: username.value.trim(),
                password: password.value,
                first_name: first.value.trim(),
                last_name: last.value.trim(),
              }),
            );
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("p", { class: "small" }, "Already have a Chiplab account? ", signIn, ", then open this link again."),
    h("h2", { class: "small-title" }, "New to Chiplab? Create your account"),
    h("p", { class: "muted small" }, `Its e-mail address will be ${invitation.email}.`),
    userLabel,
    username,
    firstLabel,
    first,
    lastLabel,
    last,
    passLabel,
    password,
    errors,
    h("div", { class: "form-actions" }, submit),
  );
  card.append(form);
  username.focus();
}
