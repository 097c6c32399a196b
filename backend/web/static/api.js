// The REST API, exactly as curl calls it: JSON in and out, the admin token (typed once, kept in
// sessionStorage) in the X-Admin-Token header, never in a URL or a cookie.

const KEY = 'qt.adminToken';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

// What every page may read: the latest /health body and whether admin calls can be made.
export const app = {
  health: null,
  authScreen: null, // 'missing' | 'refused' while the token screen is shown
  requestSignIn: () => {}, // set by the shell: shows the token screen
  get adminOpen() {
    return this.health?.admin_auth === 'disabled';
  },
  get signedIn() {
    return this.adminOpen || Boolean(token.get());
  },
};

export class ApiError extends Error {
  constructor(status, detail, path, body) {
    super(describe(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
    this.body = body;
  }

  get auth() {
    return this.status === 401 || this.status === 403;
  }
}

// FastAPI's details: a string, a list of strings, or pydantic's list of {loc, msg}.
export function describe(detail) {
  if (detail === null || detail === undefined) return '';
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      if (typeof d === 'string') return d;
      const where = (d.loc || []).filter((p) => p !== 'body').join('.');
      const what = String(d.msg || '').replace(/^Value error, /, ''); // pydantic's prefix says nothing
      return where ? `${where}: ${what}` : what; // a rule of the whole body has no field
    }).join('; ');
  }
  return JSON.stringify(detail);
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const secret = token.get();
  if (secret) headers['X-Admin-Token'] = secret;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
    signal,
  });
  const json = (response.headers.get('content-type') || '').includes('json');
  const data = json ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new ApiError(response.status, json ? data.detail : data, path, data);
    for (const listener of listeners) listener(error);
    throw error;
  }
  return data;
}

const listeners = new Set();
export function onApiError(listener) {
  listeners.add(listener);
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}
