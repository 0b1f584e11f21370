// Session-wide state: the signed-in user, their labs and the current lab. Views subscribe.

const subs = new Set();

export const state = {
  user: null,
  labs: [],
  labId: null,
};

export function subscribe(fn) {
  subs.add(fn);
  return () => subs.delete(fn);
}

export function set(patch) {
  Object.assign(state, patch);
  if ("labId" in patch && patch.labId) localStorage.setItem("chiplab.lab", patch.labId);
  for (const fn of subs) fn(state, patch);
}

export function currentLab() {
  return state.labs.find((l) => l.id === state.labId) || null;
}

/** Choose the remembered lab if the user still belongs to it, else their first lab. */
export function pickLab(labs) {
  const saved = localStorage.getItem("chiplab.lab");
  return (labs.find((l) => l.id === saved) || labs[0])?.id || null;
}

/** The signed-in user's membership of a lab (with its role), or null when not a member. */
export function labById(labId) {
  return state.labs.find((l) => l.id === labId) || null;
}

const ROLE_RANK = { viewer: 0, annotator: 1, curator: 2, owner: 3 };
export function hasRole(lab, role) {
  return !!lab && (ROLE_RANK[lab.role] ?? -1) >= ROLE_RANK[role];
}
