// The REST client: session auth + CSRF, one error type, upload progress.
// Every function returns parsed JSON (or null for 204) and throws ApiError on failure.

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message || `Request failed (${status})`);
    this.status = status;
    this.code = code || "error";
    this.fields = fields || null;
  }
}

const listeners = new Set();
/** Subscribe to "unauthenticated" (session lost) notifications. */
export function onUnauthenticated(fn) {
  listeners.add(fn);
}

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

function url(path, query) {
  const u = new URL(path.startsWith("/") ? path : `/api/${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

async function toError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const err = body?.error;
  if (err) return new ApiError(res.status, err.code, err.message, err.fields);
  const text =
    res.status === 413
      ? "The file is too large for this server."
      : res.status >= 500
        ? `The server had a problem (${res.status}). Try again in a moment.`
        : `Request failed (${res.status} ${res.statusText}).`;
  return new ApiError(res.status, `http_${res.status}`, text);
}

export async function request(method, path, { body, query, signal } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = cookie("csrftoken");
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path, query), init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
  }
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 || (res.status === 403 && err.code === "not_authenticated")) {
      for (const fn of listeners) fn(err);
    }
    throw err;
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  return type.includes("json") ? res.json() : res.text();
}

export const get = (path, query, opts) => request("GET", path, { query, ...opts });
export const post = (path, body) => request("POST", path, { body: body ?? {} });
export const patch = (path, body) => request("PATCH", path, { body });
export const del = (path) => request("DELETE", path);

/** Items asked for per page by list(), and the most pages it follows before giving up. */
export const LIST_PAGE = 500;
export const LIST_MAX_PAGES = 200;

/**
 * Every item of a list: a plain list as it is, a paginated one ({results, next}) page after
 * page by its `next` links until the last. Throws ApiError rather than return part of a list.
 */
export async function list(path, query) {
  let data = await get(path, { limit: LIST_PAGE, ...query });
  if (Array.isArray(data)) return data;
  const items = [...(data?.results || [])];
  for (let pages = 1; data?.next; pages++) {
    if (pages >= LIST_MAX_PAGES) {
      throw new ApiError(0, "too_many_pages", `The list has more than ${LIST_MAX_PAGES * LIST_PAGE} items.`);
    }
    // the server's absolute link, asked of this origin (a proxy may name the host otherwise)
    const next = new URL(data.next, location.origin);
    data = await get(next.pathname + next.search);
    items.push(...(data?.results || []));
  }
  return items;
}

/** Whether an error means "this endpoint is not deployed yet" (Django's HTML 404, not an API error). */
export const isMissing = (e) => e instanceof ApiError && e.status === 404 && e.code === "http_404";

/**
 * Upload one file as multipart field "file" with progress callbacks.
 * Returns {promise, abort}. onProgress(loaded, total) is called during the upload.
 */
export function upload(path, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", url(path));
    xhr.setRequestHeader("X-CSRFToken", cookie("csrftoken"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (ev) => onProgress?.(ev.loaded, ev.lengthComputable ? ev.total : file.size);
    xhr.onerror = () => reject(new ApiError(0, "network", "The upload was interrupted (network error)."));
    xhr.onabort = () => reject(new ApiError(0, "aborted", "Upload cancelled."));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const err = body?.error;
      reject(
        err
          ? new ApiError(xhr.status, err.code, err.message, err.fields)
          : new ApiError(
              xhr.status,
              `http_${xhr.status}`,
              xhr.status === 413 ? "The file is too large for this server." : `Upload failed (${xhr.status}).`,
            ),
      );
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

// --- endpoints ---------------------------------------------------------------------
export const auth = {
  me: () => get("auth/me"),
  login: (username, password) => post("auth/login", { username, password }),
  logout: () => post("auth/logout"),
  /** Change one's own first_name, last_name, orcid. */
  updateMe: (body) => patch("auth/me", body),
  /** Mail a reset link (the answer is the same whether the address has an account). */
  requestReset: (email) => post("auth/password-reset", { email }),
  confirmReset: (uid, token, password) => post("auth/password-reset/confirm", { uid, token, password }),
};

/** Invitation links (#/invite/<key>): what one offers, and accepting it. */
export const invitations = {
  preview: (key) => post("invitations/preview", { key }),
  /** Signed in: joins as this account; else body {username, password, first_name?, last_name?}. */
  accept: (key, body = {}) => post("invitations/accept", { key, ...body }),
  revoke: (id) => del(`invitations/${id}/`),
};

/** Per-user API tokens: the plain key is in the create response only. */
export const tokens = {
  list: () => list("tokens/"),
  /** opts: {expires_in_days, scopes: ["read", "write", "tokens"]} (server defaults: 90 days, read+write). */
  create: (name, opts = {}) => post("tokens/", { name, ...opts }),
  revoke: (id) => del(`tokens/${id}/`),
};

export const labs = {
  list: () => list("labs/"),
  get: (id) => get(`labs/${id}/`),
  create: (body) => post("labs/", body),
  members: (id) => list(`labs/${id}/members/`),
  /** who: the username of an existing account (e-mail addresses get an invitation instead). */
  invite: (id, who, role) => post(`labs/${id}/members/`, { user: who, role }),
  invitations: (id) => list(`labs/${id}/invitations/`),
  /** Mail a single-use link to join with a role (owners). */
  inviteEmail: (id, email, role, expiresInDays) =>
    post(`labs/${id}/invitations/`, { email, role, ...(expiresInDays ? { expires_in_days: expiresInDays } : {}) }),
  setRole: (id, userId, role) => patch(`labs/${id}/members/${userId}/`, { role }),
  removeMember: (id, userId) => del(`labs/${id}/members/${userId}/`),
  leave: (id) => post(`labs/${id}/leave`),
};

export const datasets = {
  list: (lab) => list("datasets/", { lab }),
  get: (id) => get(`datasets/${id}/`),
  create: (body) => post("datasets/", body),
  images: (id) => list(`datasets/${id}/images/`),
  upload: (id, file, onProgress) => upload(`datasets/${id}/images/`, file, onProgress),
};

export const images = {
  get: (id) => get(`images/${id}/`),
  /** Preview of frame 0, or of another frame of a time series (see image.preview_frames). */
  previewUrl: (id, frame = 0) => `/api/images/${id}/preview${frame ? `?frame=${frame}` : ""}`,
  /** Index of the full-resolution tiles of frame 0 (its tiles: `${tilesUrl}/z/row/col`). */
  tilesUrl: (id) => `/api/images/${id}/tiles`,
  thumbnailUrl: (id) => `/api/images/${id}/thumbnail`,
};

// --- labeling (grids, schemas and classes, votes, support sets, crowd tasks) -----------
export const labeling = {
  grids: (imageId) => list(`images/${imageId}/grids/`),
  createGrid: (imageId, { chip_size, offset_x = 0, offset_y = 0 }) =>
    post(`images/${imageId}/grids/`, { chip_size, offset_x, offset_y }),
  grid: (gridId) => get(`grids/${gridId}/`),
  chipSizeSuggestion: (imageId) => get(`images/${imageId}/chip-size-suggestion`),
  schemas: (datasetId) => list(`datasets/${datasetId}/schemas/`),
  /** Get or create the dataset's default schema (no name). */
  defaultSchema: (datasetId) => post(`datasets/${datasetId}/schemas/`, {}),
  schema: (schemaId) => get(`schemas/${schemaId}/`),
  addClass: (schemaId, body) => post(`schemas/${schemaId}/classes/`, body),
  updateClass: (classId, body) => patch(`classes/${classId}/`, body),
  removeClass: (classId) => del(`classes/${classId}/`),
  /** Current labels per chip; scope "me" or "all" (with counts per class). */
  votes: (gridId, schemaId, scope = "me") => get(`grids/${gridId}/votes/`, { schema: schemaId, user: scope }),
  vote: (gridId, body) => post(`grids/${gridId}/votes/`, body),
  support: (gridId, schemaId, rule = "single_owner", extra = {}) =>
    get(`grids/${gridId}/support`, { schema: schemaId, rule, ...extra }),
  versions: (schemaId) => list(`schemas/${schemaId}/versions/`),
  crowdTask: (schemaId, query) => get(`schemas/${schemaId}/crowd-task`, query),
  crowdAnswer: (task, selected) => post("crowd-tasks/answer", { task, selected }),
  /** The schema's classes that apply to an image ({mode, classes}); classes null: default. */
  imageClasses: (imageId, schemaId) => get(`images/${imageId}/classes`, { schema: schemaId }),
  setImageClasses: (imageId, schemaId, classes) =>
    request("PUT", `images/${imageId}/classes`, { body: { schema: schemaId, classes } }),
  agreement: (schemaId, query) => get(`schemas/${schemaId}/agreement`, query),
  /** Curators: contested chips to accept or reject. */
  reviewQueue: (schemaId, query) => get(`schemas/${schemaId}/review`, query),
  review: (schemaId, body) => post(`schemas/${schemaId}/review`, body),
};

// --- analysis (segmentation jobs and results) -----------------------------------------
export const analysis = {
  createJob: (body) => post("segmentation-jobs/", body),
  /** A job; query {wait: seconds}: answered once it lists a result or ends (at most 5 s). */
  job: (jobId, query) => get(`segmentation-jobs/${jobId}/`, query),
  cancel: (jobId) => post(`segmentation-jobs/${jobId}/cancel`),
  result: (resultId) => get(`segmentation-results/${resultId}/`),
  exportUrl: (resultId, kind) => `/api/segmentation-results/${resultId}/export/${kind}`,
  thumbnailUrl: (resultId, size = 128) => `/api/segmentation-results/${resultId}/thumbnail?size=${size}`,
  /** Class fractions across a direction: query {angle (degrees anticlockwise from →), band?}. */
  profile: (resultId, query) => get(`segmentation-results/${resultId}/profile`, query),
  history: (imageId) => list(`images/${imageId}/results/`),
  jobs: (query) => list("segmentation-jobs/", query),
  rerun: (jobId) => post(`segmentation-jobs/${jobId}/rerun`),
};

// --- registry (model versions, champions, training) ----------------------------------
export const registry = {
  champion: (labId) => get(`labs/${labId}/champion`),
  /** Model versions visible to the user (public ones and their labs'); query: {lab, name}. */
  versions: (query) => list("model-versions/", query),
  version: (id) => get(`model-versions/${id}/`),
  promote: (id, body = {}) => post(`model-versions/${id}/promote`, body),
  rollback: (name, body = {}) => post(`models/${encodeURIComponent(name)}/rollback`, body),
  downloadUrl: (id) => `/api/model-versions/${id}/download`,
  trainingJobs: (labId) => list(`labs/${labId}/training-jobs/`),
  createTraining: (labId, body) => post(`labs/${labId}/training-jobs/`, body),
  cancelTraining: (id) => post(`training-jobs/${id}/cancel`),
};

/** The model versions a lab's jobs may use: public ones and the lab's own (the API's rule). */
export function usableVersions(versions, labId) {
  return versions.filter((v) => !v.lab || v.visibility === "public" || v.lab === labId);
}
