// Every call to the API: the key header, JSON errors as ApiError, server-sent events.

const KEY_STORAGE = 'mmrag.apiKey';

export const auth = { required: false, onRefused: () => {} };

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || '';
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/** True when the server asks for a key and the browser holds none: then no call is made. */
export function needsKey() {
  return auth.required && !getKey();
}

export class ApiError extends Error {
  constructor(status, code, message, body = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export function keyHeaders(headers = {}) {
  const key = getKey();
  return key ? { ...headers, 'X-API-Key': key } : headers;
}

/** fetch() with the key; a non-2xx answer throws ApiError with the server's message. */
export async function call(path, { method = 'GET', json, body, signal, headers = {} } = {}) {
  if (json !== undefined) {
    headers = { ...headers, 'Content-Type': 'application/json' };
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, body, signal, headers: keyHeaders(headers) });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `The server cannot be reached (${err.message}).`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJson(path, options) {
  return (await call(path, options)).json();
}

async function errorOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  const message = body.message || (typeof body.detail === 'string' ? body.detail : '') ||
    `${response.status} ${response.statusText}`;
  const error = new ApiError(response.status, body.error || 'http_error', message, body);
  if (response.status === 401) auth.onRefused(error);
  return error;
}

/** The events of a text/event-stream response: {event, data} with data parsed as JSON. */
export async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const parsed = parseEvent(block);
      if (parsed) yield parsed;
    }
    if (done) break;
  }
}

function parseEvent(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (!data.length) return null;
  const text = data.join('\n');
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}
