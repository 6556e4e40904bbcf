// Shared by the web chat and the operator console: HTTP, DOM and theme helpers.

/** Creates an element; children are nodes or strings (always added as text). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k.startsWith('aria-') || k.startsWith('data-') || k === 'role' || k === 'for' || k === 'lang' || k === 'dir') node.setAttribute(k, v === true ? 'true' : v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** Reads a localStorage value; storage may be off (private modes). */
export function stored(key, fallback = null) {
  try { return localStorage.getItem(key) ?? fallback; } catch (_) { return fallback; }
}
export function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
  } catch (_) { /* storage off: the setting lasts for this page only */ }
}

export class HttpError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

export async function httpError(res) {
  let message = '';
  try { message = (await res.json()).error.message; } catch (_) { /* not a JSON error */ }
  return new HttpError(message || `HTTP ${res.status}`, res.status);
}

/** A JSON API client that adds `headers()` to every request. */
export function client(headers) {
  return async function api(method, path, body, signal) {
    const init = { method, headers: { Accept: 'application/json', ...headers() }, signal };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (!res.ok) throw await httpError(res);
    return res.status === 204 ? null : res.json();
  };
}

/** Theme: the system's, until the toggle sets one (kept in localStorage). */
export function initTheme(button, onChange) {
  const media = matchMedia('(prefers-color-scheme: dark)');
  const current = () => document.documentElement.dataset.theme || (media.matches ? 'dark' : 'light');
  const apply = () => {
    const saved = stored('sovra.theme');
    if (saved === 'dark' || saved === 'light') document.documentElement.dataset.theme = saved;
    else delete document.documentElement.dataset.theme;
    button.setAttribute('aria-pressed', String(current() === 'dark'));
    if (onChange) onChange(current());
  };
  button.addEventListener('click', () => {
    store('sovra.theme', current() === 'dark' ? 'light' : 'dark');
    apply();
  });
  media.addEventListener('change', apply);
  apply();
}

/** Reads a server-sent event stream, calling onData with each event's data; stops when it returns false. */
export async function readSse(res, onData) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
    buf = buf.replace(/\r\n/g, '\n');
    let cut;
    while ((cut = buf.indexOf('\n\n')) !== -1 || (done && buf.trim())) {
      const block = cut === -1 ? buf : buf.slice(0, cut);
      buf = cut === -1 ? '' : buf.slice(cut + 2);
      const lines = block.split('\n').filter((l) => l.startsWith('data:'));
      if (!lines.length) continue; // comment or keep-alive
      const data = lines.map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      if (onData(data) === false) { reader.cancel().catch(() => {}); return; }
    }
    if (done) return;
  }
}
