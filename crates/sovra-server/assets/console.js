// Sovra operator console: polls /admin/* every 2 s and draws the trend as
// SVG (no chart library). An administrator signs in (local account or
// single sign-on: the session cookie, plus the CSRF header on changes);
// an operator key, where one is used instead, stays in this tab's
// sessionStorage. Administrators create tenants and API keys and revoke
// keys through the admin API, within their reach. Its strings are in
// console-i18n.js (the sign-in form's in i18n.js), in every UI language.

import { el, client, initTheme, HttpError, stored, store } from './common.js';
import { session, whoami, signOut, signInForm, csrfHeaders } from './signin.js';
import { STRINGS, LANGUAGES, RTL } from './i18n.js';
import { CONSOLE } from './console-i18n.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000, POINTS = 60;
let key = sessionStorage.getItem('sovra.operator-key') || '';
const api = client(() => (key ? { Authorization: 'Bearer ' + key } : csrfHeaders()));
const ADMINS = new Set(['platform_admin', 'tenant_admin', 'auditor']);
const ROLES = ['member', 'developer', 'auditor', 'tenant_admin', 'platform_admin'];
const SCOPES = ['inference', 'embeddings', 'knowledge', 'conversations', 'admin'];
const DEFAULT_SCOPES = new Set(['inference', 'embeddings', 'knowledge', 'conversations']);
const KINDS = ['agency', 'team', 'startup', 'public', 'nation'];

// ---- Language ----

let lang = 'en';
function t(k, vars = {}) {
  const s = (CONSOLE[lang] && CONSOLE[lang][k]) || (STRINGS[lang] && STRINGS[lang][k]) || CONSOLE.en[k] || STRINGS.en[k] || k;
  return s.replace(/\{(\w+)\}/g, (m, v) => (v in vars ? String(vars[v]) : m));
}
let nf = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const fmt = (n) => (n === null || n === undefined ? '–' : nf.format(n));
const when = (ms) => new Date(ms).toLocaleString(lang);
const day = (ms) => new Date(ms).toLocaleDateString(lang);
const roleName = (r) => t('c_role_' + r);
const list = (items) => new Intl.ListFormat(lang, { style: 'short', type: 'unit' }).format(items);
// Identifiers (paths, prefixes, routes) keep their own direction in RTL.
const id = (s) => el('bdi', {}, String(s));

function chooseLanguage() {
  const saved = stored('sovra.lang');
  if (saved && CONSOLE[saved]) return saved;
  for (const l of navigator.languages || []) {
    const code = l.split('-')[0];
    if (CONSOLE[code]) return code;
  }
  return 'en';
}

function nativeName(code) {
  try {
    const n = new Intl.DisplayNames([code], { type: 'language' }).of(code);
    return n.charAt(0).toLocaleUpperCase(code) + n.slice(1);
  } catch (_) { return code; }
}

function applyLanguage(code) {
  lang = CONSOLE[code] ? code : 'en';
  const root = document.documentElement;
  root.lang = lang;
  root.dir = RTL.has(lang) ? 'rtl' : 'ltr';
  nf = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  document.title = t('c_title');
  $('lang').value = lang;
  renderAuth();
  lastKeys = '';
  redraw();
}

// ---- Sign-in ----

const canManage = () => (key ? true : session.signedIn && (session.user.role === 'platform_admin' || session.user.role === 'tenant_admin'));

function renderAuth() {
  fillStaticChoices();
  const box = $('auth');
  if (session.signedIn) {
    const u = session.user;
    const out = el('button', { type: 'button', id: 'signout' }, t('sign_out'));
    out.addEventListener('click', async () => { await signOut(); hideSecret(); history.length = 0; renderAuth(); poll(); });
    box.replaceChildren(el('p', { id: 'whoami' }, t('c_signed_in_as', { name: u.display_name || u.name, role: roleName(u.role), tenant: u.tenant })), out);
    $('keyform').hidden = !!ADMINS.has(u.role) && !key;
  } else {
    box.replaceChildren(el('h2', {}, t('c_admin_sign_in')), ...signInForm(t, () => { history.length = 0; renderAuth(); poll(); }));
    $('keyform').hidden = false;
  }
}

const history = []; // {at, requests, errors, prompt, completion}

function table(headers, rows, numeric = []) {
  if (!rows.length) return el('p', { class: 'muted' }, t('c_nothing_yet'));
  return el('table', {},
    el('thead', {}, el('tr', {}, ...headers.map((h, i) => el('th', { scope: 'col', class: numeric.includes(i) ? 'num' : '' }, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c, i) =>
      el('td', { class: numeric.includes(i) ? 'num' : '' }, c instanceof Node ? c : String(c)))))));
}

const badge = (ok, yes, no) => el('span', { class: 'badge ' + (ok ? 'ok' : 'bad') }, ok ? yes : no);

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
  svg.setAttribute('aria-label', t('c_chart_label', { label, a: fmt(last[0]), b: fmt(last[1]), max: fmt(max) }));
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
  const ms = (n) => t('c_ms', { n: fmt(n) });
  const items = [
    ['c_requests', fmt(u.requests), 'requests'], ['c_errors', fmt(u.errors), 'errors'],
    ['c_prompt_tokens', fmt(u.prompt_tokens), 'prompt'], ['c_completion_tokens', fmt(u.completion_tokens), 'completion'],
    ['c_ttft_mean', u.ttft.mean_ms === null ? '–' : ms(u.ttft.mean_ms), 'ttft'],
    ['c_ttft_p95', u.ttft.p95_ms === null ? '–' : '≤ ' + ms(u.ttft.p95_ms), 'ttft95'],
    ['c_generating', fmt(u.active_generations), 'active'],
    ['c_feedback_tile', `${fmt(u.feedback.up || 0)} / ${fmt(u.feedback.down || 0)}`, 'feedback'],
  ];
  $('tiles').replaceChildren(...items.map(([label, value, tile]) =>
    el('li', { class: 'tile', 'data-tile': tile }, el('div', { class: 'label' }, t(label)), el('div', { class: 'value' }, value))));
}

async function optional(path) {
  try { return await api('GET', path); } catch (e) { if (e.status === 404) return null; throw e; }
}

// The last answers, so that a language change redraws without a fetch.
let last = null;
let lastKeys = '';

function refused(e) {
  last = null;
  lastKeys = '';
  $('manage').hidden = true;
  $('state').textContent = e instanceof HttpError && (e.status === 401 || e.status === 403)
    ? (session.signedIn ? t('c_not_admin') : t('c_need_auth'))
    : t('c_usage_failed', { error: e.message });
}

async function poll() {
  // Usage is the whole platform's (platform admins only); a tenant's
  // administrators still get their tenant's keys and queues.
  let usage = null;
  try {
    usage = await api('GET', '/admin/usage');
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 403 && session.signedIn)) return refused(e);
  }
  if (usage) {
    history.push({ at: Date.now(), requests: usage.requests, errors: usage.errors, prompt: usage.prompt_tokens, completion: usage.completion_tokens });
    if (history.length > POINTS + 1) history.shift();
  }
  const [fleet, keys, feedback, moderation] = await Promise.all([
    optional('/admin/backends'), optional('/admin/keys'), optional('/admin/feedback'), optional('/admin/moderation'),
  ].map((p) => p.catch(() => null)));
  if (!usage && !keys && !feedback && !moderation) return refused(new HttpError('', 403));
  last = { usage, fleet, keys, feedback, moderation, at: Date.now() };
  redraw();
}

function redraw() {
  if (!last) return;
  const { usage, fleet, keys, feedback, moderation } = last;
  $('state').textContent = t('c_live', { time: new Date(last.at).toLocaleTimeString(lang) });
  const ready = (ok) => badge(ok, t('c_ready'), t('c_not_ready'));
  if (usage) {
    tiles(usage);
    chart($('chart-traffic'), t('c_chart_traffic'), (h) => h.requests, (h) => h.errors);
    chart($('chart-tokens'), t('c_chart_tokens'), (h) => h.completion, (h) => h.prompt);
    $('models').replaceChildren(table([t('c_col_model'), t('c_col_state'), t('c_requests'), t('c_errors')],
      usage.models.map((m) => [id(m.model), ready(m.ready), fmt(m.requests), fmt(m.errors)]), [2, 3]));
    $('routes').replaceChildren(table([t('c_col_route'), t('c_requests'), t('c_errors')],
      usage.routes.map((r) => [id(r.route), fmt(r.requests), fmt(r.errors)]), [1, 2]));
  }

  const counted = new Map((usage ? usage.backends : []).map((b) => [b.backend, b]));
  if (fleet && Array.isArray(fleet.backends)) {
    $('backends').replaceChildren(table([t('c_col_backend'), t('c_col_state'), t('c_col_jurisdiction'), t('c_col_served'), t('c_col_failures'), t('c_col_retries'), t('c_col_ttft')],
      fleet.backends.map((b) => {
        const c = counted.get(b.name) || {};
        return [id(b.name), badge(b.state === 'healthy', t('c_healthy'), String(b.state)), b.jurisdiction || '',
          fmt(b.served), fmt(b.failures), fmt(c.retries || 0), b.ttft_ewma_ms ? t('c_ms', { n: fmt(b.ttft_ewma_ms) }) : '–'];
      }), [3, 4, 5, 6]));
  } else {
    $('backends').replaceChildren(
      el('p', { class: 'muted' }, t('c_one_engine')),
      table([t('c_col_engine'), t('c_col_health')], (usage ? usage.models : []).map((m) => [m.description || m.model, ready(m.ready)])));
  }
  if (keys) renderKeys(keys);
  const queue = (box, data, columns) => box.replaceChildren(data === null
    ? el('p', { class: 'muted' }, t('c_not_available'))
    : table(columns.map((c) => c[0]), (data.data || []).slice(0, 50).map((row) => columns.map((c) => c[1](row)))));
  queue($('feedback'), feedback, [
    [t('c_col_when'), (f) => when(f.created_at)], [t('c_col_rating'), (f) => (f.rating === 'up' ? t('c_up') : t('c_down'))],
    [t('c_col_reason'), (f) => f.reason || ''], [t('c_col_message'), (f) => id(f.message_id)],
  ]);
  queue($('moderation'), moderation, [
    [t('c_col_when'), (m) => ((m.at || m.created_at) ? when(m.at || m.created_at) : '')],
    [t('c_col_category'), (m) => m.category || (m.categories || []).join(', ') || ''],
    [t('c_col_action'), (m) => m.action || ''], [t('c_col_detail'), (m) => m.reason || m.rule || m.id || ''],
  ]);
}

// ---- Tenants and keys ----

const keyState = (k, now) => (k.revoked_at_ms ? 'revoked' : (k.expires_at_ms && k.expires_at_ms <= now ? 'expired' : 'live'));

function renderKeys(keys) {
  const manage = canManage();
  // Redrawn only when something changed: a redraw every 2 s would take the
  // keyboard focus off a Revoke button.
  const sig = JSON.stringify([keys, manage]);
  if (sig === lastKeys) return;
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.revoke : undefined;
  lastKeys = sig;
  const now = Date.now();
  const tenantKeys = keys.api_keys || [];
  const headers = [t('c_col_tenant'), t('c_col_name'), t('c_col_prefix'), t('c_col_role'), t('c_col_scopes'), t('c_col_expires'), t('c_col_state')];
  if (manage) headers.push(t('c_col_actions'));
  $('keys').replaceChildren(
    el('p', {}, keys.open ? t('c_open_mode') : t('c_operator_keys', { n: fmt(keys.data.length) })),
    table([t('c_col_prefix'), t('c_col_fingerprint')], keys.data.map((k) => [id(k.prefix), id(k.fingerprint)])),
    el('p', {}, t('c_tenant_keys', { n: fmt(tenantKeys.length) })),
    table(headers, tenantKeys.map((k) => {
      const s = keyState(k, now);
      const row = [id(k.tenant), k.name, id(k.shown), roleName(k.role), list((k.scopes || []).map((x) => t('c_scope_' + x))),
        k.expires_at_ms ? day(k.expires_at_ms) : t('c_never'), badge(s === 'live', t('c_live_state'), t('c_' + s + '_state'))];
      if (manage) {
        row.push(s === 'revoked' ? '' : el('button', {
          type: 'button', class: 'revoke', 'data-revoke': k.id,
          'aria-label': t('c_revoke_label', { name: k.name, prefix: k.shown }),
          onclick: () => revoke(k),
        }, t('c_revoke')));
      }
      return row;
    })),
    el('p', { class: 'muted' }, t('c_tenants', { list: list(keys.tenants) })));
  if (focused) document.querySelector(`[data-revoke="${CSS.escape(focused)}"]`)?.focus();
  fillTenants(keys.tenants);
  $('manage').hidden = !manage;
}

const option = (value, text) => el('option', { value }, text);

/** Puts `values` into a select, keeping what was chosen. */
function fillSelect(select, values, label = (v) => v) {
  const chosen = select.value;
  select.replaceChildren(...values.map((v) => option(v, label(v))));
  if (values.includes(chosen)) select.value = chosen;
}

function fillTenants(tenants) {
  fillSelect($('tenant-parent'), tenants);
  fillSelect($('newkey-tenant'), tenants);
}

/** The roles the caller may put on a key (never above their own). */
function grantable() {
  const mine = key ? 'platform_admin' : session.user && session.user.role;
  if (mine === 'platform_admin') return ROLES;
  if (mine === 'tenant_admin') return ROLES.filter((r) => r !== 'platform_admin');
  return ['member'];
}

function fillStaticChoices() {
  fillSelect($('tenant-kind'), KINDS, (k) => t('c_kind_' + k));
  fillSelect($('newkey-role'), grantable(), roleName);
  const box = $('newkey-scopes');
  const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  const fresh = !box.querySelector('input');
  box.replaceChildren(el('legend', {}, t('c_col_scopes')), ...SCOPES.map((s) => el('label', { class: 'check' },
    el('input', { type: 'checkbox', name: 'scope', value: s, checked: fresh ? DEFAULT_SCOPES.has(s) : checked.has(s) }),
    ' ', t('c_scope_' + s))));
}

function say(text) { $('keys-msg').textContent = text; }

/** Runs an admin call from a form: errors go to its alert line. */
async function submitting(button, error, work) {
  error.textContent = '';
  button.disabled = true;
  try {
    await work();
  } catch (e) {
    error.textContent = t('c_refused', { error: e.message });
  } finally {
    button.disabled = false;
  }
}

$('tenant-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const error = $('tenant-error');
  const segment = $('tenant-segment').value.trim();
  const parent = $('tenant-parent').value;
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(segment)) {
    error.textContent = t('c_segment_invalid');
    $('tenant-segment').setAttribute('aria-invalid', 'true');
    $('tenant-segment').focus();
    return;
  }
  $('tenant-segment').removeAttribute('aria-invalid');
  submitting($('tenant-submit'), error, async () => {
    const path = parent ? parent + '/' + segment : segment;
    const body = { path, kind: $('tenant-kind').value };
    const name = $('tenant-name').value.trim();
    if (name) body.name = name;
    const made = await api('POST', '/admin/tenants', body);
    $('tenant-segment').value = '';
    $('tenant-name').value = '';
    await poll();
    $('newkey-tenant').value = made.path;
    say(t('c_tenant_created', { path: made.path }));
  });
});

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const error = $('key-error');
  const name = $('newkey-name').value.trim();
  const scopes = [...$('newkey-scopes').querySelectorAll('input:checked')].map((i) => i.value);
  const days = $('newkey-days').value.trim();
  if (!name) { error.textContent = t('c_name_required'); $('newkey-name').focus(); return; }
  if (!scopes.length) { error.textContent = t('c_scope_required'); $('newkey-scopes').querySelector('input').focus(); return; }
  if (days && !(/^\d+$/.test(days) && Number(days) >= 1 && Number(days) <= 3650)) {
    error.textContent = t('c_expiry_invalid'); $('newkey-days').focus(); return;
  }
  submitting($('key-submit'), error, async () => {
    // A tenant service key: it acts as no user, so it may live in any tenant in reach.
    const body = { name, tenant: $('newkey-tenant').value, service: true, role: $('newkey-role').value, scopes };
    if (days) body.expires_in = Number(days) * 86400;
    const made = await api('POST', '/admin/keys', body);
    $('newkey-name').value = '';
    $('newkey-days').value = '';
    showSecret(made.secret);
    say(t('c_key_created', { name: made.name, prefix: made.shown }));
    poll();
  });
});

function showSecret(secret) {
  $('secret').textContent = secret;
  $('secret-copied').textContent = '';
  $('secret-box').hidden = false;
  $('secret-box').focus();
}
$('secret-copy').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText($('secret').textContent);
    $('secret-copied').textContent = t('copied');
  } catch (_) {
    // No clipboard (an insecure origin, or refused): select it for Ctrl+C.
    getSelection().selectAllChildren($('secret'));
    $('secret-copied').textContent = t('c_copy_failed');
  }
});
function hideSecret() {
  $('secret').textContent = '';
  $('secret-copied').textContent = '';
  $('secret-box').hidden = true;
}
$('secret-done').addEventListener('click', () => { hideSecret(); $('newkey-name').focus(); });

async function revoke(k) {
  if (!confirm(t('c_revoke_confirm', { name: k.name, prefix: k.shown }))) return;
  try {
    await api('DELETE', '/admin/keys/' + encodeURIComponent(k.id));
    $('keys-error').textContent = '';
    say(t('c_key_revoked', { name: k.name, prefix: k.shown }));
  } catch (e) {
    say('');
    $('keys-error').textContent = t('c_refused', { error: e.message });
  }
  await poll();
}

$('keyform').addEventListener('submit', (e) => {
  e.preventDefault();
  key = $('key').value.trim();
  if (key) sessionStorage.setItem('sovra.operator-key', key); else sessionStorage.removeItem('sovra.operator-key');
  $('key').value = '';
  history.length = 0;
  fillStaticChoices();
  lastKeys = '';
  poll();
});
$('lang').replaceChildren(...LANGUAGES.filter((c) => CONSOLE[c]).map((code) => el('option', { value: code, lang: code }, nativeName(code))));
$('lang').addEventListener('change', () => { store('sovra.lang', $('lang').value); applyLanguage($('lang').value); });
initTheme($('theme'));
whoami().then(() => applyLanguage(chooseLanguage())).then(poll).finally(() => { document.body.dataset.ready = 'true'; });
setInterval(poll, POLL_MS);
