// The console's only way to the server: the public OpenAI-compatible API, /cluster, /stats and
// /console/settings, all on this origin. With API keys configured the key goes in the
// Authorization header; it is kept in this tab (sessionStorage) or, if asked, on this device
// (localStorage), and never in a cookie.

const KEY_NAME = 'quire.console.apiKey';

/** The server refused the key (or wants one); the page asks for it. */
export class AuthError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AuthError';
  }
}

/** An error answer of the API, in OpenAI's shape. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.param = error ? error.param : null;
    this.code = error ? error.code : null;
  }
}

const listeners = new Set();

/** Called with the AuthError whenever a request is refused for its key. */
export function onAuthRequired(listener) {
  listeners.add(listener);
}

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || '';
}

export function keyRemembered() {
  return localStorage.getItem(KEY_NAME) !== null;
}

export function setApiKey(key, remember) {
  sessionStorage.removeItem(KEY_NAME);
  localStorage.removeItem(KEY_NAME);
  if (key) (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
}

function headers(json) {
  const out = {Accept: json ? 'application/json' : 'text/event-stream'};
  const key = apiKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function failure(response) {
  let error = null;
  try {
    const body = await response.json();
    error = body && body.error ? body.error : null;
  } catch (e) {
    error = null;
  }
  if (response.status === 401) {
    const auth = new AuthError(error && error.message ? error.message : 'an API key is required');
    listeners.forEach(l => l(auth));
    return auth;
  }
  return new ApiError(response.status, error);
}

/**
 * fetch(), tried once more when the request could not be sent at all (a network hiccup such as the
 * browser seeing its network change: nothing reached the server, or the connection closed before
 * any answer, which makes the server drop the request).
 */
async function send(path, init) {
  try {
    return await fetch(path, init);
  } catch (e) {
    if (init.signal && init.signal.aborted) throw e;
    await new Promise(resolve => setTimeout(resolve, 300));
    return fetch(path, init);
  }
}

/** GET a JSON resource of this server. */
export async function getJson(path, signal) {
  const response = await send(path, {headers: headers(true), cache: 'no-store', credentials: 'omit', signal});
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** POST JSON and read the whole JSON answer. */
export async function postJson(path, body, signal) {
  const response = await send(path, {
    method: 'POST', credentials: 'omit', signal, cache: 'no-store',
    headers: {...headers(true), 'Content-Type': 'application/json'},
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/**
 * POSTs a streaming request and calls onChunk with each Server-Sent Event's JSON until [DONE].
 * Aborting the signal closes the connection, which makes the server cancel the generation and
 * free its KV cache at once. Resolves with 'done', or 'aborted' when the signal stopped it.
 */
export async function stream(path, body, signal, onChunk) {
  let response;
  try {
    response = await send(path, {
      method: 'POST', credentials: 'omit', signal, cache: 'no-store',
      headers: {...headers(false), 'Content-Type': 'application/json'},
      body: JSON.stringify(body),
    });
  } catch (e) {
    if (signal.aborted) return 'aborted';
    throw e;
  }
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = event.split(/\r?\n/).filter(l => l.startsWith('data:')).map(l => l.slice(5).trimStart()).join('\n');
        if (!data) continue;
        if (data === '[DONE]') return 'done';
        const chunk = JSON.parse(data);
        if (chunk.error) throw new ApiError(500, chunk.error);
        onChunk(chunk);
      }
    }
  } catch (e) {
    if (signal.aborted) return 'aborted';
    throw e;
  } finally {
    reader.releaseLock();
  }
  if (signal.aborted) return 'aborted';
  throw new ApiError(502, {message: 'the stream ended before [DONE]'});
}
