// A lab's members: everyone sees the list; owners change roles and remove members.
import * as api from "../../api.js";
import { go, reloadLabs } from "../../main.js";
import { state } from "../../state.js";
import { h, errorBox, fmtDate, showError, toast, whileBusy } from "../../ui.js";
import { roleSelect } from "./roles.js";

/** The member table, the box for its loading errors, and `load()` to fill it (again). */
export function createMembers(lab) {
  const isOwner = lab.role === "owner";
  const rows = h("tbody", {});
  const errors = h("div");
  const table = h(
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
      rows,
    ),
  );

  async function load() {
    errors.replaceChildren();
    try {
      const members = await api.labs.members(lab.id);
      rows.replaceChildren(...members.map(memberRow));
    } catch (e) {
      errors.replaceChildren(errorBox(e));
      showError(e, "Loading members");
    }
  }

  function memberRow(m) {
    const u = m.user;
    const me = state.user && u.id === state.user.id;
    const name = [u.first_name, u.last_name].filter(Boolean).join(" ");
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
      h("td", {}, isOwner ? roleControl(m) : h("span", { testid: "member-role" }, m.role)),
      h("td", { class: "muted small" }, fmtDate(m.created)),
      isOwner ? h("td", { class: "actions" }, me ? null : removeButton(m)) : null,
    );
  }

  function roleControl(m) {
    const select = roleSelect({ testid: "member-role", "aria-label": `Role of ${m.user.username}` }, m.role);
    select.addEventListener("change", () => setRole(m, select));
    return select;
  }

  function removeButton(m) {
    const button = h(
      "button",
      {
        type: "button",
        class: "btn btn-small btn-quiet",
        testid: "remove-member",
        "aria-label": `Remove ${m.user.username} from the lab`,
      },
      "Remove",
    );
    button.addEventListener("click", () => removeMember(m, button));
    return button;
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

  return { table, errors, load };
}
