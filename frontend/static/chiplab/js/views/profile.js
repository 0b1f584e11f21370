// Your profile: name and ORCID iD (FAIR exports credit you by them) and per-user API tokens
// for pipelines (the key is shown once, when it is created).
import * as api from "../api.js";
import { set, state } from "../state.js";
import { h, errorBox, fmtDate, showError, toast, whileBusy } from "../ui.js";

export async function render(root) {
  const page = h("div", { class: "page profile-page" });
  root.append(page);
  const me = await api.auth.me();
  page.append(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Profile"),
        h(
          "p",
          { class: "muted", testid: "profile-account" },
          `Signed in as ${me.username}${me.email ? ` · ${me.email}` : ""}`,
        ),
      ),
    ),
    profileForm(me),
    h("h2", { class: "section-title" }, "API tokens"),
    tokensSection(),
  );
}

function profileForm(me) {
  const first = h("input", {
    id: "me-first",
    testid: "me-first-name",
    maxlength: 150,
    value: me.first_name || "",
    autocomplete: "given-name",
  });
  const last = h("input", {
    id: "me-last",
    testid: "me-last-name",
    maxlength: 150,
    value: me.last_name || "",
    autocomplete: "family-name",
  });
  const orcid = h("input", {
    id: "me-orcid",
    testid: "me-orcid",
    maxlength: 40,
    value: me.orcid || "",
    placeholder: "0000-0002-1825-0097",
    "aria-describedby": "me-orcid-help",
  });
  const errors = h("div");
  const save = h("button", { type: "submit", class: "btn btn-primary", testid: "me-save" }, "Save");
  return h(
    "form",
    {
      class: "card form-card",
      testid: "profile-form",
      "aria-label": "Your name and ORCID iD",
      onsubmit: (ev) => {
        ev.preventDefault();
        whileBusy(save, async () => {
          errors.replaceChildren();
          try {
            const updated = await api.auth.updateMe({
              first_name: first.value.trim(),
              last_name: last.value.trim(),
              orcid: orcid.value.trim(),
            });
            orcid.value = updated.orcid || ""; // the canonical form
            set({ user: { ...state.user, ...updated } });
            toast("Profile saved.", "ok");
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("h2", {}, "Name and ORCID iD"),
    h(
      "div",
      { class: "form-grid" },
      h("label", { for: "me-first" }, "First name"),
      first,
      h("label", { for: "me-last" }, "Last name"),
      last,
      h("label", { for: "me-orcid" }, "ORCID iD"),
      orcid,
    ),
    h(
      "p",
      { class: "muted small", id: "me-orcid-help" },
      "Datasets you create credit you by this name and ORCID iD (its checksum is verified). Leave it empty to remove it.",
    ),
    errors,
    h("div", { class: "form-actions" }, save),
  );
}

const SCOPE_HELP = {
  read: "GET requests: read datasets, results, jobs",
  write: "every other request: upload, label, start jobs",
  tokens: "create and revoke tokens (no wider than this one)",
};

function tokensSection() {
  const box = h("div");
  const list = h("tbody", {});
  const listErrors = h("div");
  const created = h("div", { "aria-live": "polite" });
  const name = h("input", {
    id: "token-name",
    testid: "token-name",
    maxlength: 100,
    required: true,
    placeholder: "e.g. beamline pipeline",
  });
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "token-create" }, "Create token");
  const days = h(
    "select",
    { id: "token-days", testid: "token-days" },
    [
      [7, "7 days"],
      [30, "30 days"],
      [90, "90 days"],
      [365, "1 year"],
    ].map(([d, label]) => h("option", { value: d, selected: d === 90 }, label)),
  );
  const scopeBoxes = ["read", "write", "tokens"].map((scope) =>
    h("input", { type: "checkbox", value: scope, testid: `token-scope-${scope}`, checked: scope !== "tokens" }),
  );
  const table = h(
    "table",
    { class: "data-table", testid: "token-list" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Key starts"),
        h("th", { scope: "col" }, "Can"),
        h("th", { scope: "col" }, "Created"),
        h("th", { scope: "col" }, "Expires"),
        h("th", { scope: "col" }, "Last used"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    list,
  );

  async function load() {
    listErrors.replaceChildren();
    try {
      const tokens = await api.tokens.list();
      list.replaceChildren(...tokens.map(row));
      if (!tokens.length) {
        list.append(h("tr", { testid: "tokens-empty" }, h("td", { colspan: 7, class: "muted" }, "No tokens yet.")));
      }
    } catch (e) {
      listErrors.replaceChildren(errorBox(e));
      showError(e, "Loading tokens");
    }
  }

  function row(t) {
    const revoke = h(
      "button",
      { type: "button", class: "btn btn-small", testid: "token-revoke", "aria-label": `Revoke token ${t.name}` },
      "Revoke",
    );
    revoke.addEventListener("click", () => {
      if (!confirm(`Revoke the token “${t.name}”? Programs using it are refused from now on.`)) return;
      whileBusy(revoke, async () => {
        try {
          await api.tokens.revoke(t.id);
          toast(`Token “${t.name}” revoked.`, "ok");
          if (created.dataset.token === t.id) created.replaceChildren();
          await load();
        } catch (e) {
          showError(e, "Revoking the token");
        }
      });
    });
    return h(
      "tr",
      { testid: "token-row", dataset: { id: t.id } },
      h("td", {}, t.name),
      h("td", {}, h("code", {}, `${t.prefix}…`)),
      h("td", { class: "small", testid: "token-scopes" }, (t.scopes || []).join(", ")),
      h("td", { class: "small" }, fmtDate(t.created)),
      h("td", { class: "small", testid: "token-expires" }, t.expires_at ? fmtDate(t.expires_at) : "never"),
      h(
        "td",
        { class: "small", testid: "token-last-used" },
        t.last_used ? fmtDate(t.last_used) : h("span", { class: "muted" }, "never"),
      ),
      h("td", { class: "actions" }, revoke),
    );
  }

  function showKey(t) {
    const key = h("input", {
      type: "text",
      readonly: true,
      value: t.key,
      class: "token-key",
      testid: "token-key",
      "aria-label": `The key of token ${t.name}`,
      onfocus: (ev) => ev.target.select(),
    });
    const copy = h("button", { type: "button", class: "btn", testid: "token-copy" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(t.key);
        toast("Key copied to the clipboard.", "ok");
      } catch {
        key.focus();
        key.select();
        toast("The browser did not allow copying: the key is selected, copy it with Ctrl+C.", "info");
      }
    });
    created.dataset.token = t.id;
    created.replaceChildren(
      h(
        "div",
        { class: "card form-card token-created", testid: "token-created", role: "status" },
        h("h3", {}, `Token “${t.name}” created`),
        h(
          "p",
          { class: "token-warning", testid: "token-warning" },
          h("strong", {}, "Copy the key now: you will not see it again."),
          " Chiplab stores only a hash of it; if you lose it, revoke the token and create another.",
        ),
        h(
          "div",
          { class: "inline-fields" },
          key,
          copy,
          h(
            "button",
            { type: "button", class: "btn btn-quiet", testid: "token-done", onclick: () => created.replaceChildren() },
            "Done",
          ),
        ),
        h(
          "p",
          { class: "muted small" },
          "Use it as ",
          h("code", {}, `Authorization: Token ${t.prefix}…`),
          " with any /api/ request.",
        ),
      ),
    );
    key.focus();
  }

  const form = h(
    "form",
    {
      class: "inline-fields",
      testid: "token-form",
      "aria-label": "New API token",
      onsubmit: (ev) => {
        ev.preventDefault();
        const value = name.value.trim();
        if (!value) {
          name.focus();
          return;
        }
        whileBusy(submit, async () => {
          errors.replaceChildren();
          try {
            const scopes = scopeBoxes.filter((b) => b.checked).map((b) => b.value);
            const t = await api.tokens.create(value, { expires_in_days: Number(days.value), scopes });
            name.value = "";
            showKey(t);
            await load();
          } catch (e) {
            errors.replaceChildren(errorBox(e));
          }
        });
      },
    },
    h("label", { for: "token-name" }, "New token"),
    name,
    h("label", { for: "token-days" }, "expires in"),
    days,
    h(
      "fieldset",
      { class: "scope-choice" },
      h("legend", { class: "visually-hidden" }, "What the token may do"),
      scopeBoxes.map((b) => h("label", { class: "set-option", title: SCOPE_HELP[b.value] }, b, ` ${b.value}`)),
    ),
    submit,
  );

  box.append(
    h(
      "p",
      { class: "muted small" },
      "Tokens let scripts and pipelines use the API as you, with your roles: send ",
      h("code", {}, "Authorization: Token <key>"),
      ". A token can read (GET), write (everything else) and, with ",
      h("em", {}, "tokens"),
      ", create narrower tokens. Every new token expires; revoke one you no longer use.",
    ),
    h("div", { class: "card form-card" }, form, errors),
    created,
    h("div", { class: "card table-card" }, table),
    listErrors,
  );
  load();
  return box;
}
