// The one place that talks to the BoxOffice API: JSON in and out, the bearer token, one
// shared token refresh when the access token has expired, and problem+json turned into
// ApiError (whose message is the problem's human `detail`).

const SESSION_KEY = 'boxoffice.session';

export class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    super((problem && problem.detail) || fallbackMessage(status));
    this.name = 'ApiError';
    this.status = status;
    this.code = (problem && problem.code) || (status === 0 ? 'network' : `http_${status}`);
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }

  /** `[{field, message}]` from a validation problem. */
  get fieldErrors() { return Array.isArray(this.problem.errors) ? this.problem.errors : []; }
}

function fallbackMessage(status) {
  if (status === 0) return 'We could not reach the box office. Check your connection and try again.';
  if (status === 503) return 'Ticket sales are briefly unavailable. Please try again in a moment.';
  if (status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
  return `The request could not be completed (error ${status}).`;
}

// --- The session: tokens survive a reload (localStorage), listeners redraw the header. ---

let session = readSession();
const sessionListeners = new Set();

function readSession() {
  try { return JSON.parse(localStorage.getItem(SESSION_KEY)) || null; } catch { return null; }
}

function setSession(next) {
  session = next;
  try {
    if (next) localStorage.setItem(SESSION_KEY, JSON.stringify(next));
    else localStorage.removeItem(SESSION_KEY);
  } catch { /* private mode: the session lives in memory only */ }
  for (const listener of sessionListeners) listener(currentUser());
}

export function currentUser() { return session ? session.user : null; }
export function onSessionChange(listener) { sessionListeners.add(listener); }

// Another tab signing in or out changes localStorage; follow it.
window.addEventListener('storage', (event) => {
  if (event.key !== SESSION_KEY) return;
  session = readSession();
  for (const listener of sessionListeners) listener(currentUser());
});

// --- The server's clock: hold countdowns use it, so a wrong client clock cannot shorten them. ---

let clockSkew = 0;
function noteServerDate(header) {
  const server = header ? Date.parse(header) : NaN;
  if (Number.isNaN(server)) return;
  const skew = server - Date.now();
  // The Date header has whole seconds: only a clearly wrong client clock is corrected.
  clockSkew = Math.abs(skew) > 2000 ? skew : 0;
}
export function serverNow() { return Date.now() + clockSkew; }

// --- Requests ---

let refreshing = null;

/** Exchanges the refresh token once, however many requests found the access token expired. */
function refreshSession() {
  if (!session || !session.refresh_token) return Promise.resolve(false);
  if (!refreshing) {
    const token = session.refresh_token;
    refreshing = (async () => {
      try {
        const response = await send('POST', '/auth/refresh', { body: { refresh_token: token }, auth: false });
        if (response.ok) { setSession(await response.json()); return true; }
        if (response.status === 401) setSession(null); // spent or revoked: sign in again
        return false;
      } catch {
        return false; // offline: keep the session, the caller shows the network error
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

async function send(method, path, options) {
  const headers = { Accept: 'application/json, application/problem+json', ...(options.headers || {}) };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.auth !== false && session) headers.Authorization = `Bearer ${session.access_token}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      // The API sends its own validators (seat map ETags); the browser cache must not answer for it.
      cache: 'no-store',
      signal: options.signal,
    });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError(0, null);
  }
}

/**
 * Calls the API. Resolves `{status, data, headers}` for 2xx and 304; rejects with ApiError.
 * Options: body (JSON), headers, auth (default true), signal.
 */
export async function api(method, path, options = {}) {
  const hadSession = Boolean(session) && options.auth !== false;
  let response = await send(method, path, options);
  if (response.status === 401 && hadSession) {
    const problem = await response.clone().json().catch(() => null);
    if (problem && (problem.code === 'token_expired' || problem.code === 'invalid_token') && await refreshSession()) {
      response = await send(method, path, options);
    }
  }
  noteServerDate(response.headers.get('Date'));
  if (response.status === 304) return { status: 304, data: null, headers: response.headers };

  const text = await response.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!response.ok) {
    if (response.status === 401 && hadSession && data && /token/.test(data.code || '')) setSession(null);
    const retryAfter = Number(response.headers.get('Retry-After')) || null;
    throw new ApiError(response.status, data, retryAfter);
  }
  return { status: response.status, data, headers: response.headers };
}

/** An image the API draws for the signed-in person (a ticket's QR code), as an object URL. */
export async function imageURL(path) {
  let response = await send('GET', path, { headers: { Accept: 'image/svg+xml, image/png, application/problem+json' } });
  if (response.status === 401 && session && await refreshSession()) {
    response = await send('GET', path, { headers: { Accept: 'image/svg+xml, image/png, application/problem+json' } });
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  return URL.createObjectURL(await response.blob());
}

/**
 * Opens a stream of server-sent events that needs the signed-in person's token (EventSource
 * cannot send one): the Response whose body streams; rejects with ApiError when refused.
 */
export async function openStream(path, { signal } = {}) {
  const options = { headers: { Accept: 'text/event-stream, application/problem+json' }, signal };
  let response = await send('GET', path, options);
  if (response.status === 401 && session && await refreshSession()) response = await send('GET', path, options);
  if (!response.ok || !response.body) throw new ApiError(response.status, await response.json().catch(() => null));
  return response;
}

export const get = (path, options) => api('GET', path, options).then((r) => r.data);
export const post = (path, body, options = {}) => api('POST', path, { ...options, body }).then((r) => r.data);
export const del = (path, options) => api('DELETE', path, options).then((r) => r.data);

// --- Accounts ---

export async function signUp({ name, email, password }) {
  setSession(await post('/auth/signup', { name, email, password }, { auth: false }));
  return currentUser();
}

export async function logIn({ email, password }) {
  setSession(await post('/auth/login', { email, password }, { auth: false }));
  return currentUser();
}

export async function logOut() {
  const token = session && session.refresh_token;
  setSession(null);
  if (token) await post('/auth/logout', { refresh_token: token }, { auth: false }).catch(() => {});
}

/** Re-reads the signed-in user (a stale stored session is dropped by the refresh logic). */
export async function refreshUser() {
  if (!session) return null;
  try {
    const user = await get('/me');
    setSession({ ...session, user });
  } catch (error) {
    if (error.status === 401) setSession(null);
  }
  return currentUser();
}
