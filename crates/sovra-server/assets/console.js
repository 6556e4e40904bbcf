// Sovra operator console: polls /admin/* every 2 s and draws the trend as
// SVG (no chart library). An administrator signs in (local account or
// single sign-on: the session cookie, plus the CSRF header on changes);
// an operator key, where one is used instead, stays in this tab's
// sessionStorage.

import { el, client, initTheme, HttpError } from './common.js';
import { session, whoami, signOut, signInForm, csrfHeaders } from './signin.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000, POINTS = 60;
let key = sessionStorage.getItem('sovra.operator-key') || '';
const api = client(() => (key ? { Authorization: 'Bearer ' + key } : csrfHeaders()));
const STRINGS = {
  sign_in: 'Sign in', user_name: 'User name', password: 'Password', sign_in_with: 'Sign in with {name}',
  wrong_password: 'Incorrect name or password.', failed: 'Something went wrong: {error}',
};
const t = (k, vars = {}) => (STRINGS[k] || k).replace(/\{(\w+)\}/g, (m, v) => (v in vars ? String(vars[v]) : m));
const ADMINS = new Set(['platform_admin', 'tenant_admin', 'auditor']);

function renderAuth() {
  const box = $('auth');
  if (session.signedIn) {
    const u = session.user;
    const out = el('button', { type: 'button', id: 'signout' }, 'Sign out');
    out.addEventListener('click', async () => { await signOut(); history.length = 0; renderAuth(); poll(); });
    box.replaceChildren(el('p', { id: 'whoami' }, `Signed in as ${u.display_name || u.name} (${u.role.replace('_', ' ')}, ${u.tenant})`), out);
    $('keyform').hidden = !!ADMINS.has(u.role) && !key;
  } else {
    box.replaceChildren(el('h2', {}, 'Administrator sign-in'), ...signInForm(t, () => { history.length = 0; renderAuth(); poll(); }));
    $('keyform').hidden = false;
  }
}
const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const fmt = (n) => (n === null || n === undefined ? '–' : nf.format(n));
const history = []; // {at, requests, errors, prompt, completion}

function table(headers, rows, numeric = []) {
  if (!rows.length) return el('p', { class: 'muted' }, 'Nothing yet.');
  return el('table', {},
    el('thead', {}, el('tr', {}, ...headers.map((h, i) => el('th', { scope: 'col', class: numeric.includes(i) ? 'num' : '' }, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c, i) =>
      el('td', { class: numeric.includes(i) ? 'num' : '' }, c instanceof Node ? c : String(c)))))));
}

const badge = (ok, yes = 'healthy', no = 'unhealthy') => el('span', { class: 'badge ' + (ok ? 'ok' : 'bad') }, ok ? yes : no);

// A line chart of per-second rates; `a` and `b` pick two series.
function chart(container, label, a, b) {
  const W = 600, H = 150, P = 24;
  const rates = [];
  for (let i = 1; i < history.length; i++) {
    const dt = (history[i].at - history[i - 1].at) / 1000 || 1;
    rates.push([Math.max(0, a(history[i]) - a(history[i - 1])) / dt, Math.max(0, b(history[i]) - b(history[i - 1])) / dt]);
  }
  const max = Math.max(1, ...rates.flat());
  // Spread what there is over the width (until POINTS samples fill it).
  const span = Math.max(1, Math.min(POINTS, rates.length) - 1);
  const x = (i) => P + (i * (W - 2 * P)) / span;
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const path = (k) => rates.map((r, i) => (i ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(r[k]).toFixed(1)).join(' ');
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const last = rates[rates.length - 1] || [0, 0];
  svg.setAttribute('aria-label', `${label}: now ${fmt(last[0])} and ${fmt(last[1])} per second; peak ${fmt(max)}`);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  for (const v of [0, max / 2, max]) {
    add('line', { class: 'grid', x1: P, x2: W - P, y1: y(v), y2: y(v) });
    add('text', { x: 2, y: y(v) - 2 }, fmt(v));
  }
  if (rates.length) {
    add('path', { class: 'series', d: path(0) });
    add('path', { class: 'series2', d: path(1) });
  }
  container.replaceChildren(svg);
}

function tiles(u) {
  const items = [
    ['Requests', fmt(u.requests), 'requests'], ['Errors', fmt(u.errors), 'errors'],
    ['Prompt tokens', fmt(u.prompt_tokens), 'prompt'], ['Completion tokens', fmt(u.completion_tokens), 'completion'],
    ['Time to first token (mean)', u.ttft.mean_ms === null ? '–' : fmt(u.ttft.mean_ms) + ' ms', 'ttft'],
    ['TTFT p95 (bucket)', u.ttft.p95_ms === null ? '–' : '≤ ' + fmt(u.ttft.p95_ms) + ' ms', 'ttft95'],
    ['Generating now', fmt(u.active_generations), 'active'],
    ['Feedback up / down', `${fmt(u.feedback.up || 0)} / ${fmt(u.feedback.down || 0)}`, 'feedback'],
  ];
  $('tiles').replaceChildren(...items.map(([label, value, id]) =>
    el('li', { class: 'tile', 'data-tile': id }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value))));
}

async function optional(path) {
  try { return await api('GET', path); } catch (e) { if (e.status === 404) return null; throw e; }
}

async function poll() {
  let usage;
  try {
    usage = await api('GET', '/admin/usage');
  } catch (e) {
    $('state').textContent = e instanceof HttpError && (e.status === 401 || e.status === 403)
      ? (session.signedIn ? 'Your account may not see the console: sign in as an administrator, or use an operator key.'
        : 'Sign in as an administrator, or enter an operator key.')
      : 'Could not read usage: ' + e.message;
    return;
  }
  $('state').textContent = 'Live: updated ' + new Date().toLocaleTimeString();
  history.push({ at: Date.now(), requests: usage.requests, errors: usage.errors, prompt: usage.prompt_tokens, completion: usage.completion_tokens });
  if (history.length > POINTS + 1) history.shift();
  tiles(usage);
  chart($('chart-traffic'), 'Requests and errors per second', (h) => h.requests, (h) => h.errors);
  chart($('chart-tokens'), 'Completion and prompt tokens per second', (h) => h.completion, (h) => h.prompt);
  $('models').replaceChildren(table(['Model', 'State', 'Requests', 'Errors'],
    usage.models.map((m) => [m.model, badge(m.ready, 'ready', 'not ready'), fmt(m.requests), fmt(m.errors)]), [2, 3]));
  $('routes').replaceChildren(table(['Route', 'Requests', 'Errors'],
    usage.routes.map((r) => [r.route, fmt(r.requests), fmt(r.errors)]), [1, 2]));

  const [fleet, keys, feedback, moderation] = await Promise.all([
    optional('/admin/backends'), optional('/admin/keys'), optional('/admin/feedback'), optional('/admin/moderation'),
  ].map((p) => p.catch(() => null)));
  const counted = new Map(usage.backends.map((b) => [b.backend, b]));
  if (fleet && Array.isArray(fleet.backends)) {
    $('backends').replaceChildren(table(['Backend', 'State', 'Jurisdiction', 'Served', 'Failures', 'Retries', 'TTFT (ewma)'],
      fleet.backends.map((b) => {
        const c = counted.get(b.name) || {};
        return [b.name, badge(b.state === 'healthy', 'healthy', String(b.state)), b.jurisdiction || '',
          fmt(b.served), fmt(b.failures), fmt(c.retries || 0), b.ttft_ewma_ms ? fmt(b.ttft_ewma_ms) + ' ms' : '–'];
      }), [3, 4, 5, 6]));
  } else {
    $('backends').replaceChildren(
      el('p', { class: 'muted' }, 'One engine in process (no fleet configured):'),
      table(['Engine', 'Health'], usage.models.map((m) => [m.description || m.model, badge(m.ready, 'ready', 'not ready')])));
  }
  if (keys) {
    const now = Date.now();
    const state = (k) => (k.revoked_at_ms ? 'revoked' : (k.expires_at_ms && k.expires_at_ms <= now ? 'expired' : 'live'));
    const tenantKeys = keys.api_keys || [];
    $('keys').replaceChildren(
      el('p', {}, keys.open ? 'No operator key is configured: /v1 and /admin are open.' : `${keys.data.length} operator key(s), shown by prefix only.`),
      table(['Key prefix', 'Fingerprint'], keys.data.map((k) => [k.prefix, k.fingerprint])),
      el('p', {}, `${tenantKeys.length} tenant key(s) in your reach, shown by prefix only.`),
      table(['Tenant', 'Name', 'Key prefix', 'Role', 'Scopes', 'Expires', 'State'], tenantKeys.map((k) => [
        k.tenant, k.name, k.shown, k.role.replace('_', ' '), (k.scopes || []).join(', '),
        k.expires_at_ms ? new Date(k.expires_at_ms).toLocaleDateString() : 'never',
        badge(state(k) === 'live', 'live', state(k)),
      ])),
      el('p', { class: 'muted' }, 'Tenants: ' + keys.tenants.join(', ')));
  }
  const queue = (box, data, columns) => box.replaceChildren(data === null
    ? el('p', { class: 'muted' }, 'Not available on this server.')
    : table(columns.map((c) => c[0]), (data.data || []).slice(0, 50).map((row) => columns.map((c) => c[1](row)))));
  queue($('feedback'), feedback, [
    ['When', (f) => new Date(f.created_at).toLocaleString()], ['Rating', (f) => (f.rating === 'up' ? 'up' : 'down')],
    ['Reason', (f) => f.reason || ''], ['Message', (f) => f.message_id],
  ]);
  queue($('moderation'), moderation, [
    ['When', (m) => ((m.at || m.created_at) ? new Date(m.at || m.created_at).toLocaleString() : '')],
    ['Category', (m) => m.category || (m.categories || []).join(', ') || ''],
    ['Action', (m) => m.action || ''], ['Detail', (m) => m.reason || m.rule || m.id || ''],
  ]);
}

$('keyform').addEventListener('submit', (e) => {
  e.preventDefault();
  key = $('key').value.trim();
  if (key) sessionStorage.setItem('sovra.operator-key', key); else sessionStorage.removeItem('sovra.operator-key');
  $('key').value = '';
  history.length = 0;
  poll();
});
initTheme($('theme'));
whoami().then(renderAuth).then(poll).finally(() => { document.body.dataset.ready = 'true'; });
setInterval(poll, POLL_MS);
