// A lab: its name, your role and its members. Owners invite people, change roles and remove
// members; everyone can leave; anyone can create a new lab (and becomes its owner).
import * as api from "../api.js";
import { go, reloadLabs } from "../main.js";
import { currentLab, set, state } from "../state.js";
import { h, errorBox, fmtDate, showError, statusPill, toast, whileBusy } from "../ui.js";

const ROLES = ["viewer", "annotator", "curator", "owner"];
const ROLE_HELP =
  "Viewers read; annotators also label chips, answer crowd tasks and segment; " +
  "curators also manage datasets, classes, consensus versions and models; owners also manage members.";

export async function render(root, { labId } = {}) {
  const page = h("div", { class: "page" });
  root.append(page);
  const id = labId || currentLab()?.id;
  const newLabBox = h("div");
  const newLabBtn = h(
    "button",
    {
      type: "button",
      class: "btn",
      testid: "new-lab",
      onclick: () => {
        newLabBox.replaceChildren(createForm(newLabBox));
        newLabBox.querySelector("input").focus();
      },
    },
    "New lab",
  );
  if (!id) {
    page.append(
      h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Lab")), newLabBtn),
      newLabBox,
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
  const members = h("tbody", {});
  const listErrors = h("div");
  const leaveErrors = h("div");
  const leaveBtn = h("button", { type: "button", class: "btn", testid: "leave-lab" }, "Leave lab");
  leaveBtn.addEventListener("click", () => leave());

  page.append(
    h(
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
    ),
    newLabBox,
    leaveErrors,
    h("h2", { class: "section-title" }, "Members"),
    h("p", { class: "muted small" }, ROLE_HELP),
    ...(isOwner ? [emailInviteSection()] : []), // Element.append would print a null
    isOwner
      ? inviteForm()
      : h(
          "p",
          { class: "muted small", testid: "members-read-only" },
          "The lab's owners add and remove members and change their roles.",
        ),
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "data-table", testid: "member-list" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Username"),
            h("th", { scope: "col" }, "Name"),
            h("th", { scope: "col" }, "Role"),
            h("th", { scope: "col" }, "Member since"),
            isOwner ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")) : null,
          ),
        ),
        members,
      ),
    ),
    listErrors,
    ...(["curator", "owner"].includes(lab.role) ? [webhooksSection(lab)] : []),
  );

  async function load() {
    listErrors.replaceChildren();
    try {
      const rows = await api.labs.members(lab.id);
      members.replaceChildren(...rows.map(memberRow));
    } catch (e) {
      listErrors.replaceChildren(errorBox(e));
      showError(e, "Loading members");
    }
  }

  function memberRow(m) {
    const u = m.user;
    const me = state.user && u.id === state.user.id;
    const name = [u.first_name, u.last_name].filter(Boolean).join(" ");
    let role = h("span", { testid: "member-role" }, m.role);
    let actions = null;
    if (isOwner) {
      role = h(
        "select",
        { testid: "member-role", "aria-label": `Role of ${u.username}` },
        ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)),
      );
      role.addEventListener("change", () => setRole(m, role));
      const remove = h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet",
          testid: "remove-member",
          "aria-label": `Remove ${u.username} from the lab`,
        },
        "Remove",
      );
      remove.addEventListener("click", () => removeMember(m, remove));
      actions = h("td", { class: "actions" }, me ? null : remove);
    }
    return h(
      "tr",
      { testid: "member-row", dataset: { username: u.username } },
      h("td", {}, u.username, me ? h("span", { class: "muted small" }, " (you)") : null),
      h(
        "td",
        {},
        name || h("span", { class: "muted" }, "–"),
        u.orcid ? h("span", { class: "muted small" }, ` · ORCID ${u.orcid}`) : null,
      ),
      h("td", {}, role),
      h("td", { class: "muted small" }, fmtDate(m.created)),
      actions,
    );
  }

  function inviteForm() {
    const who = h("input", {
      id: "invite-user",
      testid: "invite-user",
      required: true,
      autocomplete: "off",
      placeholder: "username",
      maxlength: 150,
    });
    const role = h(
      "select",
      { id: "invite-role", testid: "invite-role" },
      ROLES.map((r) => h("option", { value: r, selected: r === "annotator" }, r)),
    );
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
              await load();
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

  /** Invite by e-mail: a single-use link with a role and an expiry; pending ones revocable. */
  function emailInviteSection() {
    const email = h("input", {
      id: "invite-email",
      testid: "invite-email",
      type: "email",
      required: true,
      autocomplete: "off",
      maxlength: 254,
      placeholder: "name@institute.org",
    });
    const role = h(
      "select",
      { id: "invite-email-role", testid: "invite-email-role" },
      ROLES.map((r) => h("option", { value: r, selected: r === "annotator" }, r)),
    );
    const days = h(
      "select",
      { id: "invite-days", testid: "invite-days", "aria-label": "The link works for" },
      [1, 7, 14, 30].map((d) => h("option", { value: d, selected: d === 7 }, d === 1 ? "1 day" : `${d} days`)),
    );
    const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "invite-send" }, "Send invitation");
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
    const form = h(
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
              await loadInvitations();
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
    loadInvitations();
    return h("div", { testid: "invitations" }, form, pendingBox);
  }

  async function setRole(m, select) {
    const before = m.role;
    select.disabled = true;
    try {
      const updated = await api.labs.setRole(lab.id, m.user.id, select.value);
      m.role = updated.role;
      toast(`${m.user.username} is now ${updated.role}.`, "ok");
      if (state.user && m.user.id === state.user.id) {
        await reloadLabs(); // one's own role changed: what the app offers changes with it
        go(`#/labs/${lab.id}`);
        return;
      }
    } catch (e) {
      select.value = before;
      showError(e, `Changing ${m.user.username}'s role`);
    } finally {
      select.disabled = false;
    }
  }

  function removeMember(m, button) {
    if (
      !confirm(
        `Remove ${m.user.username} from ${lab.name}? They lose access to the lab's private data; their votes and results stay.`,
      )
    )
      return;
    whileBusy(button, async () => {
      try {
        await api.labs.removeMember(lab.id, m.user.id);
        toast(`${m.user.username} removed from ${lab.name}.`, "ok");
        await load();
      } catch (e) {
        showError(e, `Removing ${m.user.username}`);
      }
    });
  }

  function leave() {
    if (!confirm(`Leave ${lab.name}? You lose access to its private data until an owner adds you again.`)) return;
    whileBusy(leaveBtn, async () => {
      leaveErrors.replaceChildren();
      try {
        await api.labs.leave(lab.id);
      } catch (e) {
        // e.g. 409: the last owner cannot leave
        leaveErrors.replaceChildren(errorBox(e));
        showError(e, "Leaving the lab");
        return;
      }
      toast(`You left ${lab.name}.`, "ok");
      await reloadLabs().catch((e) => showError(e, "Loading your labs"));
      go("#/lab");
    });
  }

  await load();
}

/** "New lab": a name (and a description); the creator becomes its owner. */
function createForm(box) {
  const name = h("input", { id: "lab-new-name", testid: "lab-new-name", required: true, maxlength: 200 });
  const desc = h("textarea", { id: "lab-new-desc", testid: "lab-new-description", rows: 2 });
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "lab-create" }, "Create lab");
  const form = h(
    "form",
    {
      class: "card form-card",
      testid: "lab-form",
      "aria-label": "New lab",
      onsubmit: (ev) => {
        ev.preventDefault();
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            const lab = await api.labs.create({ name: name.value.trim(), description: desc.value });
            await reloadLabs({ select: lab.id });
            toast(`Lab “${lab.name}” created; you are its owner.`, "ok");
            go(`#/labs/${lab.id}`);
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("h2", {}, "New lab"),
    h(
      "div",
      { class: "form-grid" },
      h("label", { for: "lab-new-name" }, "Name"),
      name,
      h("label", { for: "lab-new-desc" }, "Description"),
      desc,
    ),
    errors,
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "button", class: "btn", onclick: () => box.replaceChildren() }, "Cancel"),
      submit,
    ),
  );
  return form;
}

const EVENTS = {
  "image.ready": "Image ready",
  "image.failed": "Image failed",
  "job.succeeded": "Job succeeded",
  "job.failed": "Job failed",
  "training.finished": "Training finished",
  "model.promoted": "Model promoted",
  "support_set.frozen": "Support set frozen",
};

/** Webhooks (curators): add a URL for events, see its secret once, the delivery log, send a test. */
function webhooksSection(lab) {
  const box = h("section", { testid: "webhooks" });
  const list = h("tbody", {});
  const secretBox = h("div");
  const logBox = h("div");
  const listErrors = h("div");
  const url = h("input", {
    id: "hook-url",
    testid: "hook-url",
    type: "url",
    required: true,
    maxlength: 2000,
    placeholder: "https://pipeline.example.org/chiplab",
  });
  const checks = Object.entries(EVENTS).map(([value, label]) =>
    h("label", { class: "set-option" }, h("input", { type: "checkbox", value, testid: "hook-event" }), ` ${label}`),
  );
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "hook-create" }, "Add webhook");
  const form = h(
    "form",
    {
      class: "card form-card",
      testid: "hook-form",
      "aria-label": "New webhook",
      onsubmit: (ev) => {
        ev.preventDefault();
        const events = checks
          .map((c) => c.querySelector("input"))
          .filter((c) => c.checked)
          .map((c) => c.value);
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            const hook = await api.post(`labs/${lab.id}/webhooks/`, { url: url.value.trim(), events });
            url.value = "";
            showSecret(hook);
            await load();
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("div", { class: "form-grid" }, h("label", { for: "hook-url" }, "URL"), url),
    h("fieldset", { class: "set-choice" }, h("legend", {}, "Events"), checks),
    errors,
    h("div", { class: "form-actions" }, submit),
  );

  box.append(
    h("h2", { class: "section-title" }, "Webhooks"),
    h(
      "p",
      { class: "muted small" },
      "Chiplab POSTs a signed JSON event to each URL when what it subscribes to ",
      "happens, retrying with backoff if it does not answer 2xx. Verify the ",
      h("code", {}, "Chiplab-Signature"),
      " header with the secret (see the README).",
    ),
    form,
    secretBox,
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "data-table", testid: "hook-list" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "URL"),
            h("th", { scope: "col" }, "Events"),
            h("th", { scope: "col" }, "Active"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        list,
      ),
    ),
    listErrors,
    logBox,
  );

  async function load() {
    listErrors.replaceChildren();
    try {
      const hooks = await api.list(`labs/${lab.id}/webhooks/`);
      list.replaceChildren(...hooks.map(row));
      if (!hooks.length) list.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No webhooks yet.")));
    } catch (e) {
      listErrors.replaceChildren(errorBox(e));
    }
  }

  function row(hook) {
    const active = h("input", {
      type: "checkbox",
      testid: "hook-active",
      checked: hook.active,
      "aria-label": `Deliver to ${hook.url}`,
    });
    active.addEventListener("change", async () => {
      try {
        await api.patch(`webhooks/${hook.id}/`, { active: active.checked });
      } catch (e) {
        active.checked = !active.checked;
        showError(e, "Changing the webhook");
      }
    });
    const button = (label, testid, fn) => {
      const b = h("button", { type: "button", class: "btn btn-small btn-quiet", testid }, label);
      b.addEventListener("click", () => whileBusy(b, fn));
      return b;
    };
    return h(
      "tr",
      { testid: "hook-row", dataset: { id: hook.id } },
      h(
        "td",
        { class: "small" },
        hook.url,
        hook.description ? h("span", { class: "muted" }, ` · ${hook.description}`) : null,
      ),
      h("td", { class: "small" }, hook.events.map((e) => EVENTS[e] || e).join(", ")),
      h("td", {}, active),
      h(
        "td",
        { class: "actions" },
        button("Deliveries", "hook-deliveries", () => showLog(hook)),
        button("Send test", "hook-test", async () => {
          try {
            await api.post(`webhooks/${hook.id}/test`);
            toast("Test delivery queued.", "ok");
            await showLog(hook);
          } catch (e) {
            showError(e, "Sending a test");
          }
        }),
        button("New secret", "hook-rotate", async () => {
          if (!confirm("Replace the secret? Deliveries are signed with the new one from now on.")) return;
          try {
            showSecret(await api.post(`webhooks/${hook.id}/rotate-secret`));
          } catch (e) {
            showError(e, "Replacing the secret");
          }
        }),
        button("Delete", "hook-delete", async () => {
          if (!confirm(`Delete the webhook to ${hook.url} and its delivery log?`)) return;
          try {
            await api.del(`webhooks/${hook.id}/`);
            logBox.replaceChildren();
            await load();
          } catch (e) {
            showError(e, "Deleting the webhook");
          }
        }),
      ),
    );
  }

  function showSecret(hook) {
    const key = h("input", {
      type: "text",
      readonly: true,
      value: hook.secret,
      class: "token-key",
      testid: "hook-secret",
      "aria-label": "The webhook's secret",
      onfocus: (ev) => ev.target.select(),
    });
    secretBox.replaceChildren(
      h(
        "div",
        { class: "card form-card token-created", role: "status" },
        h(
          "p",
          { class: "token-warning" },
          h("strong", {}, "Copy the secret now: you will not see it again."),
          ` It signs every delivery to ${hook.url}.`,
        ),
        h(
          "div",
          { class: "inline-fields" },
          key,
          h("button", { type: "button", class: "btn btn-quiet", onclick: () => secretBox.replaceChildren() }, "Done"),
        ),
      ),
    );
    key.focus();
  }

  async function showLog(hook) {
    const body = h("tbody", {});
    const refresh = h("button", { type: "button", class: "btn btn-small", testid: "hook-log-refresh" }, "Refresh");
    refresh.addEventListener("click", () => whileBusy(refresh, fill));
    logBox.replaceChildren(
      h("h3", {}, `Deliveries to ${hook.url} `, refresh),
      h(
        "div",
        { class: "card table-card" },
        h(
          "table",
          { class: "data-table", testid: "hook-log" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["Created", "Event", "Status", "Attempts", "Last answer"].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          body,
        ),
      ),
    );
    async function fill() {
      try {
        const page = await api.get(`webhooks/${hook.id}/deliveries/`, { limit: 50 });
        body.replaceChildren(
          ...page.results.map((d) => {
            const last = d.log[d.log.length - 1];
            const answer = !last
              ? "–"
              : last.status_code
                ? `HTTP ${last.status_code} · ${last.duration_ms} ms`
                : last.error;
            return h(
              "tr",
              { testid: "hook-log-row" },
              h("td", { class: "small" }, fmtDate(d.created)),
              h("td", {}, d.event),
              h("td", {}, statusPill(d.status)),
              h("td", {}, String(d.attempts)),
              h("td", { class: "small", title: last ? last.error || last.response_excerpt : "" }, answer),
            );
          }),
        );
        if (!page.results.length)
          body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No deliveries yet.")));
      } catch (e) {
        showError(e, "Loading deliveries");
      }
    }
    await fill();
  }

  load();
  return box;
}
