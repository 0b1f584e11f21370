// Webhooks (curators): add a URL for events, see its secret once, the delivery log, send a test.
import * as api from "../../api.js";
import { h, errorBox, showError, toast, whileBusy } from "../../ui.js";
import { showLog } from "./webhook-log.js";

const EVENTS = {
  "image.ready": "Image ready",
  "image.failed": "Image failed",
  "job.succeeded": "Job succeeded",
  "job.failed": "Job failed",
  "training.finished": "Training finished",
  "model.promoted": "Model promoted",
  "support_set.frozen": "Support set frozen",
};

/** The section: the form, the lab's webhooks (loaded as it is made), a secret, a log. */
export function webhooksSection(lab) {
  const list = h("tbody", {});
  const secretBox = h("div");
  const logBox = h("div");
  const listErrors = h("div");
  const box = h(
    "section",
    { testid: "webhooks" },
    h("h2", { class: "section-title" }, "Webhooks"),
    h(
      "p",
      { class: "muted small" },
      "Chiplab POSTs a signed JSON event to each URL when what it subscribes to ",
      "happens, retrying with backoff if it does not answer 2xx. Verify the ",
      h("code", {}, "Chiplab-Signature"),
      " header with the secret (see the README).",
    ),
    hookForm(lab, async (hook) => {
      showSecret(secretBox, hook);
      await load();
    }),
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
      h("td", {}, activeToggle(hook)),
      h("td", { class: "actions" }, ...hookActions(hook)),
    );
  }

  function hookActions(hook) {
    return [
      actionButton("Deliveries", "hook-deliveries", () => showLog(logBox, hook)),
      actionButton("Send test", "hook-test", async () => {
        try {
          await api.post(`webhooks/${hook.id}/test`);
          toast("Test delivery queued.", "ok");
          await showLog(logBox, hook);
        } catch (e) {
          showError(e, "Sending a test");
        }
      }),
      actionButton("New secret", "hook-rotate", async () => {
        if (!confirm("Replace the secret? Deliveries are signed with the new one from now on.")) return;
        try {
          showSecret(secretBox, await api.post(`webhooks/${hook.id}/rotate-secret`));
        } catch (e) {
          showError(e, "Replacing the secret");
        }
      }),
      actionButton("Delete", "hook-delete", async () => {
        if (!confirm(`Delete the webhook to ${hook.url} and its delivery log?`)) return;
        try {
          await api.del(`webhooks/${hook.id}/`);
          logBox.replaceChildren();
          await load();
        } catch (e) {
          showError(e, "Deleting the webhook");
        }
      }),
    ];
  }

  load();
  return box;
}

/** A new webhook: its URL and events; `onCreated(hook)` gets it with its secret. */
function hookForm(lab, onCreated) {
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
  return h(
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
            await onCreated(hook);
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
}

/** Whether deliveries go to the hook; a refused change is put back. */
function activeToggle(hook) {
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
  return active;
}

function actionButton(label, testid, fn) {
  const b = h("button", { type: "button", class: "btn btn-small btn-quiet", testid }, label);
  b.addEventListener("click", () => whileBusy(b, fn));
  return b;
}

/** A hook's secret, shown once (on creation and after a rotation). */
function showSecret(box, hook) {
  const key = h("input", {
    type: "text",
    readonly: true,
    value: hook.secret,
    class: "token-key",
    testid: "hook-secret",
    "aria-label": "The webhook's secret",
    onfocus: (ev) => ev.target.select(),
  });
  box.replaceChildren(
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
        h("button", { type: "button", class: "btn btn-quiet", onclick: () => box.replaceChildren() }, "Done"),
      ),
    ),
  );
  key.focus();
}
