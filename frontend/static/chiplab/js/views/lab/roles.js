// The roles of a lab member, weakest first, as the forms and the member list offer them.
import { h } from "../../ui.js";

export const ROLES = ["viewer", "annotator", "curator", "owner"];

/** A role selector with `chosen` selected. */
export function roleSelect(attrs, chosen) {
  return h(
    "select",
    attrs,
    ROLES.map((r) => h("option", { value: r, selected: r === chosen }, r)),
  );
}
