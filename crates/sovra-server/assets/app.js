// Sovra web chat: plain DOM and ES modules, nothing loaded from elsewhere.
// Model output reaches the page only through markdown.js, which builds DOM
// nodes and never parses HTML.

import { el, stored, store, client, initTheme, readSse, httpError } from './common.js';
import { STRINGS, LANGUAGES, RTL, t as translate } from './i18n.js';
import { render as renderMarkdown, plain, safeUrl, link } from './markdown.js';
import { session, whoami, signOut, signInForm, csrfHeaders } from './signin.js';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('conv-list'), convMsg: $('conv-msg'), newBtn: $('new-chat'), search: $('search'),
  title: $('chat-title'), log: $('log'), welcome: $('welcome'), msgs: $('messages'),
  form: $('composer'), prompt: $('prompt'), send: $('send'), stop: $('stop'),
  editing: $('editing'), cancelEdit: $('cancel-edit'), status: $('status'), answerLive: $('answer-live'),
  lang: $('lang'), menu: $('menu'), privacy: $('privacy'),
};

// ---- Identity: a signed-in session, or the anonymous person the server made
// this browser (an HttpOnly cookie this script never sees; GET /auth/me hands
// it out with its CSRF token). The page names no user itself.

store('sovra.user', null); // the id older versions kept here names nobody now
const api = client(() => csrfHeaders());
const convPath = (id) => '/api/conversations/' + encodeURIComponent(id);

// ---- State ----

let profile = null;     // GET /api/profile
let lang = 'en';
let currentId = null;   // the open conversation; null: a new chat
let turns = [];         // {role, content, id, li, citations, rating}
let controller = null;  // AbortController of the answer in flight
let editing = null;     // the user turn being edited
let conversations = []; // the sidebar's data
let loadSeq = 0, listSeq = 0;

const t = (key, vars) => translate(lang, key, vars);

function locale() {
  const d = profile && profile.default_locale;
  return d && d.split('-')[0] === lang ? d : lang;
}

function assistant() {
  const a = (profile && profile.assistant) || {};
  const code = a[lang] ? lang : a.en ? 'en' : Object.keys(a)[0];
  return code ? { ...a[code], lang: code } : { name: 'Sovra', persona: '', lang: 'en' };
}

// Names in a profile's per-language map, in the UI language if it has it.
function localName(map) {
  if (!map) return { text: '', lang };
  if (map[lang]) return { text: map[lang], lang };
  const code = (profile.languages || []).find((l) => map[l]) || Object.keys(map)[0];
  return { text: map[code] || '', lang: code || lang };
}

// ---- Announcements ----

function announce(text) {
  ui.status.textContent = '';
  setTimeout(() => { ui.status.textContent = text; }, 50);
}

// Reads a streamed answer to screen readers in whole sentences, at most
// every 1.5 s, never token by token.
function sentenceAnnouncer() {
  let spoken = 0, last = 0;
  const say = (text) => {
    const clean = plain(text).replace(/\s+/g, ' ').trim();
    if (clean) ui.answerLive.append(el('p', {}, clean));
  };
  ui.answerLive.replaceChildren();
  return {
    push(text) {
      const now = Date.now();
      if (now - last < 1500) return;
      const re = /[.!?…。؟](?=\s)/g;
      let end = -1, m;
      while ((m = re.exec(text))) end = m.index + 1;
      if (end > spoken) { say(text.slice(spoken, end)); spoken = end; last = now; }
    },
    finish(text) { say(text.slice(spoken)); spoken = text.length; },
  };
}

// ---- Language ----

function languageOptions() {
  const first = ((profile && profile.languages) || []).filter((l) => STRINGS[l]);
  return [...new Set([...first, ...LANGUAGES])];
}

function chooseLanguage() {
  const saved = stored('sovra.lang');
  if (saved && STRINGS[saved]) return saved;
  const offered = (profile && profile.languages) || ['en'];
  for (const l of navigator.languages || []) {
    const code = l.split('-')[0];
    if (offered.includes(code) && STRINGS[code]) return code;
  }
  return offered.find((l) => STRINGS[l]) || 'en';
}

function nativeName(code) {
  try {
    const n = new Intl.DisplayNames([code], { type: 'language' }).of(code);
    return n.charAt(0).toLocaleUpperCase(code) + n.slice(1);
  } catch (_) { return code; }
}

function applyLanguage(code) {
  lang = code;
  const root = document.documentElement;
  root.lang = code;
  root.dir = RTL.has(code) ? 'rtl' : 'ltr';
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-placeholder]')) node.placeholder = t(node.dataset.i18nPlaceholder);
  ui.lang.value = code;
  const a = assistant();
  $('app-name').textContent = a.name;
  document.title = a.name;
  renderWelcome();
  renderPrivacy();
  if (!currentId) ui.title.textContent = t('new_chat');
  else { const c = conversations.find((x) => x.id === currentId); ui.title.textContent = (c && c.title) || t('untitled'); }
  renderList();
  if (!controller) for (const turn of turns) renderTurn(turn);
  refreshActions();
  if (editing) ui.editing.textContent = t('editing');
  renderAuth();
}

// ---- Sign-in: who is signed in, the sign-in dialog, sign-out ----

function renderAuth() {
  const who = $('whoami'), open = $('signin-open'), out = $('signout');
  const offered = session.methods.password || !!session.methods.oidc;
  who.hidden = !session.signedIn;
  who.textContent = session.signedIn ? t('signed_in_as', { name: session.user.display_name || session.user.name }) : '';
  out.hidden = !session.signedIn;
  open.hidden = session.signedIn || !offered;
}

function openSignIn() {
  const required = !!profile && profile.anonymous === false && !session.signedIn;
  $('signin-required').hidden = !required;
  $('signin-close').hidden = required;
  $('signin-body').replaceChildren(...signInForm(t, async () => {
    $('signin').close();
    renderAuth();
    newChat({ focus: false });
    await refreshList();
    ui.prompt.focus();
  }));
  $('signin').showModal();
  const first = $('signin-name') || $('signin-sso');
  if (first) first.focus();
}

// ---- Welcome: the assistant's name and persona, starters, help lines ----

function renderWelcome() {
  const a = assistant();
  const name = $('welcome-name');
  name.textContent = a.name;
  name.lang = a.lang;
  const text = $('welcome-text');
  text.textContent = a.persona || '';
  text.lang = a.lang;
  const starters = ['starter_health', 'starter_education', 'starter_services'].map((key) =>
    el('li', {}, el('button', { type: 'button', class: 'starter', 'data-kind': key.slice(8), onclick: () => startWith(t(key)) }, t(key))));
  $('starters').replaceChildren(...starters);
  const lines = $('hotlines');
  const s = profile && profile.services;
  if (!s) { lines.replaceChildren(); lines.hidden = true; return; }
  lines.hidden = false;
  const line = (svc, fallback) => {
    const n = localName(svc.name);
    return el('li', {},
      el('span', { lang: n.lang }, n.text || t(fallback)), ' ',
      el('a', { href: 'tel:' + svc.number.replace(/[^\d+]/g, ''), class: 'tel', dir: 'ltr' }, svc.number));
  };
  lines.replaceChildren(
    el('h4', { id: 'hotlines-heading' }, t('hotlines')),
    el('ul', { 'aria-labelledby': 'hotlines-heading' },
      line(s.emergency, 'emergency'), line(s.health, 'health_line'), line(s.crisis, 'crisis_line')));
}

function startWith(text) {
  if (controller) return;
  ui.prompt.value = '';
  send(text);
}

// ---- Privacy ----

function renderPrivacy() {
  const facts = [t('privacy_stored')];
  const p = (profile && profile.privacy) || {};
  const days = p.conversations_days;
  facts.push(days ? t('privacy_retention', { days: new Intl.NumberFormat(locale()).format(days) }) : t('privacy_forever'));
  if (p.jurisdictions && p.jurisdictions.length) {
    let names;
    try {
      const regions = new Intl.DisplayNames([locale()], { type: 'region' });
      names = p.jurisdictions.map((j) => (j === 'EU' ? 'EU' : regions.of(j)));
    } catch (_) { names = p.jurisdictions; }
    let where = names.join(', ');
    try { where = new Intl.ListFormat(locale(), { type: 'conjunction' }).format(names); } catch (_) { /* old browser */ }
    facts.push(t('privacy_where', { where }));
  }
  if (!profile || profile.anonymous) facts.push(t('privacy_anon'));
  $('privacy-facts').replaceChildren(...facts.map((f) => el('li', {}, f)));
}

async function downloadData() {
  const msg = $('privacy-msg');
  try {
    const res = await fetch('/api/me/data', { headers: { Accept: 'application/json' } });
    if (!res.ok) throw await httpError(res);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: 'sovra-my-data.json' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    msg.textContent = t('failed', { error: e.message });
  }
}

async function deleteData() {
  const msg = $('privacy-msg');
  if (!confirm(t('delete_data_confirm'))) return;
  try {
    await api('DELETE', '/api/me/data');
  } catch (e) {
    msg.textContent = t('failed', { error: e.message });
    return;
  }
  try {
    for (const key of Object.keys(localStorage)) if (key.startsWith('sovra.fb.')) store(key, null);
  } catch (_) { /* storage off */ }
  newChat({ focus: false });
  await refreshList();
  msg.textContent = t('data_deleted');
}

// ---- A small text dialog (rename, feedback reason) ----

function ask(label, value = '') {
  const dialog = $('ask'), input = $('ask-input');
  $('ask-label').textContent = label;
  input.value = value;
  return new Promise((resolve) => {
    const done = (result) => {
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const onClose = () => done(dialog.returnValue === 'ok' ? input.value : null);
    dialog.returnValue = '';
    dialog.addEventListener('close', onClose);
    $('ask-form').onsubmit = (e) => { e.preventDefault(); dialog.returnValue = 'ok'; dialog.close(); };
    $('ask-cancel').onclick = () => { dialog.returnValue = ''; dialog.close(); };
    input.onkeydown = (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); dialog.returnValue = 'ok'; dialog.close(); }
    };
    dialog.showModal();
    input.focus();
    input.select();
  });
}

// ---- Dates ----

function formatDate(s) {
  const d = new Date(s);
  if (isNaN(d)) return '';
  const today = d.toDateString() === new Date().toDateString();
  try {
    return new Intl.DateTimeFormat(locale(), today ? { timeStyle: 'short' } : { dateStyle: 'medium' }).format(d);
  } catch (_) { return d.toLocaleString(); }
}

// ---- Sidebar ----

function sideMessage(text) { ui.convMsg.textContent = text; ui.convMsg.hidden = !text; }

function renderList() {
  const q = ui.search.value.trim().toLocaleLowerCase(locale());
  const shown = q ? conversations.filter((c) => (c.title || '').toLocaleLowerCase(locale()).includes(q)) : conversations;
  ui.list.replaceChildren(...shown.map((c) => {
    const title = c.title || t('untitled');
    const when = formatDate(c.updated_at);
    const open = el('button', { type: 'button', class: 'conv-open', 'data-id': c.id, onclick: () => { openConversation(c.id); closeMenu(); } },
      el('span', { class: 'conv-title' }, title),
      when ? el('time', { dateTime: c.updated_at }, when) : null);
    if (c.id === currentId) open.setAttribute('aria-current', 'true');
    return el('li', {}, open,
      el('button', { type: 'button', class: 'icon conv-rename', 'aria-label': t('rename_conv', { title }), title: t('rename_conv', { title }), onclick: () => renameConversation(c) }, '✎'),
      el('button', { type: 'button', class: 'icon conv-delete', 'aria-label': t('delete_conv', { title }), title: t('delete_conv', { title }), onclick: () => deleteConversation(c) }, '×'));
  }));
  sideMessage(conversations.length ? (shown.length ? '' : t('no_matches')) : t('no_conversations'));
}

async function refreshList() {
  const seq = ++listSeq;
  let data;
  try {
    data = (await api('GET', '/api/conversations')).data || [];
  } catch (e) {
    if (seq === listSeq) sideMessage(t('failed', { error: e.message }));
    return;
  }
  if (seq !== listSeq) return;
  conversations = data;
  renderList();
  const cur = data.find((c) => c.id === currentId);
  if (cur && cur.title) ui.title.textContent = cur.title;
}

async function renameConversation(c) {
  const title = await ask(t('rename_prompt'), c.title || '');
  if (title === null || !title.trim()) return;
  try {
    await api('PATCH', convPath(c.id), { title: title.trim() });
  } catch (e) {
    sideMessage(t('failed', { error: e.message }));
    return;
  }
  await refreshList();
  const button = ui.list.querySelector(`.conv-open[data-id="${CSS.escape(c.id)}"]`);
  if (button) button.focus();
}

async function deleteConversation(c) {
  if (!confirm(t('delete_confirm', { title: c.title || t('untitled') }))) return;
  try {
    await api('DELETE', convPath(c.id));
  } catch (e) {
    if (e.status !== 404) { sideMessage(t('failed', { error: e.message })); return; }
  }
  if (c.id === currentId) newChat({ focus: false });
  await refreshList();
  ui.newBtn.focus();
  announce(t('deleted'));
}

// Narrow screens: the sidebar opens over the chat.
function closeMenu() {
  document.body.classList.remove('nav-open');
  ui.menu.setAttribute('aria-expanded', 'false');
}

// ---- Messages ----

function whoLabel(turn) {
  return turn.role === 'user' ? t('you') : assistant().name;
}

// A thumb drawn inline (emoji fonts are not everywhere); down is up flipped.
function thumb(up) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon-svg');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M2 10h4v11H2zM8 21V9.5l4.2-6.3c.9-.9 2.6-.3 2.3 1.2L13.6 9H20c1.2 0 2.1 1.1 1.8 2.3l-2.2 8.2c-.3.9-1 1.5-2 1.5z');
  if (!up) path.setAttribute('transform', 'rotate(180 12 12)');
  svg.append(path);
  return svg;
}

function actionButton(label, cls, onclick, extra = {}) {
  return el('button', { type: 'button', class: 'act ' + cls, onclick, ...extra }, label);
}

function renderCitations(turn) {
  const cites = Array.isArray(turn.citations) ? turn.citations : [];
  if (!cites.length) return null;
  return el('section', { class: 'citations', 'aria-label': t('sources') },
    el('p', { class: 'cite-head' }, t('sources')),
    el('ol', {}, ...cites.map((c) => {
      const href = c.url && safeUrl(c.url);
      const title = String(c.title || c.url || '');
      const parts = [el('span', { class: 'cite-n' }, `[${c.index ?? ''}]`), ' ', href ? link(href, [title]) : el('span', {}, title)];
      if (c.effective_date) parts.push(' ', el('time', { class: 'cite-date', dateTime: c.effective_date }, formatDate(c.effective_date)));
      if (c.snippet) parts.push(el('p', { class: 'cite-snippet' }, String(c.snippet)));
      return el('li', {}, ...parts);
    })));
}

function renderTurn(turn) {
  const li = turn.li || el('li');
  turn.li = li;
  li.className = 'msg msg-' + turn.role + (turn.streaming ? ' streaming' : '');
  const body = el('div', { class: turn.role === 'user' ? 'text plain' : 'text md' });
  if (turn.role === 'user') body.textContent = turn.content;
  else body.append(renderMarkdown(turn.content));
  turn.body = body;
  const actions = el('div', { class: 'msg-actions' });
  if (turn.role === 'assistant') {
    const rating = turn.id ? stored('sovra.fb.' + turn.id) : null;
    actions.append(
      actionButton(t('copy'), 'copy', () => copyTurn(turn)),
      actionButton(thumb(true), 'thumb up', () => rate(turn, 'up'), { 'aria-label': t('helpful'), title: t('helpful'), 'aria-pressed': String(rating === 'up') }),
      actionButton(thumb(false), 'thumb down', () => rate(turn, 'down'), { 'aria-label': t('not_helpful'), title: t('not_helpful'), 'aria-pressed': String(rating === 'down') }),
      actionButton(t('regenerate'), 'regenerate', () => regenerate(turn), { hidden: true }));
  } else {
    actions.append(actionButton(t('edit'), 'edit', () => startEdit(turn), { hidden: true }));
  }
  turn.actions = actions;
  const notes = (turn.notes || []).map((n) => el('p', { class: 'note' }, n));
  li.replaceChildren(
    el('p', { class: 'who' }, whoLabel(turn)),
    body, ...notes, renderCitations(turn) || '', actions);
  if (turn.streaming) li.setAttribute('aria-busy', 'true'); else li.removeAttribute('aria-busy');
  return li;
}

// Regenerate belongs to the last answer, edit to the last question. While
// an answer streams they stay in place, disabled: nothing moves when it ends.
function refreshActions() {
  const lastA = [...turns].reverse().find((x) => x.role === 'assistant');
  const lastU = [...turns].reverse().find((x) => x.role === 'user');
  const busy = Boolean(controller);
  for (const turn of turns) {
    if (!turn.actions) continue;
    const regen = turn.actions.querySelector('.regenerate');
    if (regen) { regen.hidden = turn !== lastA; regen.disabled = busy; }
    const edit = turn.actions.querySelector('.edit');
    if (edit) { edit.hidden = turn !== lastU; edit.disabled = busy; }
  }
}

function addTurn(turn) {
  turns.push(turn);
  ui.welcome.hidden = true;
  ui.msgs.append(renderTurn(turn));
  refreshActions();
  return turn;
}

function addError(message, retryText) {
  const li = el('li', { class: 'msg msg-error' },
    el('p', { class: 'who' }, t('error')),
    el('p', { class: 'text' }, message));
  if (retryText) {
    li.append(el('div', { class: 'msg-actions' },
      actionButton(t('retry'), 'retry', () => { li.remove(); retry(retryText); })));
  }
  ui.msgs.append(li);
  scrollDown();
  announce(t('error') + ': ' + message);
}

function clearMessages() {
  turns = [];
  ui.msgs.replaceChildren();
  ui.welcome.hidden = false;
}

const nearBottom = () => ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
const scrollDown = () => { ui.log.scrollTop = ui.log.scrollHeight; };

async function copyTurn(turn) {
  try {
    await navigator.clipboard.writeText(turn.content);
  } catch (_) {
    // No clipboard permission: select the text so the person can copy it.
    const range = document.createRange();
    range.selectNodeContents(turn.body);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  announce(t('copied'));
}

async function rate(turn, rating) {
  let reason;
  if (rating === 'down') {
    reason = await ask(t('feedback_reason'));
    if (reason === null) return;
  }
  if (!turn.id) await syncIds();
  if (!turn.id) return;
  try {
    await api('POST', '/api/messages/' + encodeURIComponent(turn.id) + '/feedback',
      reason && reason.trim() ? { rating, reason: reason.trim() } : { rating });
  } catch (e) {
    announce(t('failed', { error: e.message }));
    return;
  }
  store('sovra.fb.' + turn.id, rating);
  for (const b of turn.actions.querySelectorAll('.thumb')) b.setAttribute('aria-pressed', String(b.classList.contains(rating)));
  announce(t('feedback_thanks'));
}

// Attach the server's message ids to the turns on screen; if the two
// disagree (an answer that failed before anything was stored), the server's
// history is shown.
async function syncIds() {
  // While an answer streams the turns are in flux: its own end syncs them.
  if (!currentId || controller) return;
  const id = currentId, seq = loadSeq;
  let c;
  try { c = await api('GET', convPath(id)); } catch (_) { return; }
  if (id !== currentId || seq !== loadSeq || controller) return;
  const saved = (c.messages || []).filter((m) => m.role === 'user' || m.role === 'assistant');
  const n = Math.min(saved.length, turns.length);
  const agree = saved.slice(0, n).every((m, i) => m.role === turns[i].role);
  // The server may not have stored a stopped answer yet: ids for what it has.
  if (agree && saved.length <= turns.length) {
    saved.forEach((m, i) => { turns[i].id = m.id; if (m.citations) turns[i].citations = m.citations; });
    return;
  }
  const errors = [...ui.msgs.querySelectorAll('.msg-error')];
  clearMessages();
  for (const m of saved) addTurn({ role: m.role, content: m.content || '', id: m.id, citations: m.citations });
  ui.msgs.append(...errors);
  refreshActions();
}

// ---- Conversations ----

function newChat({ focus = true, replace = false } = {}) {
  stopAnswer();
  cancelEdit();
  loadSeq++;
  currentId = null;
  setHash(null, replace);
  ui.title.textContent = t('new_chat');
  clearMessages();
  renderList();
  if (focus) ui.prompt.focus();
}

async function openConversation(id, replace) {
  stopAnswer();
  cancelEdit();
  const seq = ++loadSeq;
  currentId = id;
  setHash(id, replace);
  renderList();
  clearMessages();
  ui.welcome.hidden = true;
  ui.title.textContent = t('loading');
  try {
    const c = await api('GET', convPath(id));
    if (seq !== loadSeq) return;
    ui.title.textContent = c.title || t('untitled');
    for (const m of c.messages || []) {
      if (m.role !== 'user' && m.role !== 'assistant') continue;
      addTurn({ role: m.role, content: m.content || '', id: m.id, citations: m.citations });
    }
    ui.welcome.hidden = turns.length > 0;
    refreshActions();
    scrollDown();
  } catch (e) {
    if (seq !== loadSeq) return;
    if (e.status === 404) {
      newChat({ focus: false, replace: true });
      addError(t('gone'));
      refreshList();
    } else {
      ui.title.textContent = t('untitled');
      addError(t('failed', { error: e.message }));
    }
  }
}

function hashId() {
  const m = /^#c=(.+)$/.exec(location.hash);
  if (!m) return null;
  try { return decodeURIComponent(m[1]); } catch (_) { return null; }
}

function setHash(id, replace) {
  if (id === hashId()) return;
  const url = id ? '#c=' + encodeURIComponent(id) : location.pathname + location.search;
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
}

function syncFromHash() {
  const id = hashId();
  if (id === currentId || (!id && location.hash.length > 1)) return;
  if (id) openConversation(id, true);
  else newChat({ focus: false, replace: true });
}

// ---- Edit, regenerate, retry: delete from a question on, then send ----

function startEdit(turn) {
  if (controller) return;
  editing = turn;
  ui.prompt.value = turn.content;
  ui.editing.textContent = t('editing');
  ui.editing.hidden = false;
  ui.cancelEdit.hidden = false;
  ui.prompt.focus();
}

function cancelEdit() {
  if (!editing) return;
  editing = null;
  ui.editing.hidden = true;
  ui.cancelEdit.hidden = true;
}

// Deletes `turn` and everything after it, on the server and on screen.
async function truncateFrom(turn) {
  // A stopped answer is stored by the server as it notices the stop: wait
  // for it (up to a second), or it could land after the truncation.
  const last = turns[turns.length - 1];
  for (let i = 0; i < 10 && last && last.role === 'assistant' && !last.id && last.content; i++) {
    await syncIds();
    if (!last.id) await new Promise((r) => setTimeout(r, 100));
  }
  if (!turn.id) await syncIds();
  if (turn.id && currentId) {
    try {
      await api('DELETE', convPath(currentId) + '/messages/' + encodeURIComponent(turn.id));
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }
  const at = turns.indexOf(turn);
  if (at >= 0) {
    for (const x of turns.slice(at)) x.li.remove();
    turns = turns.slice(0, at);
  }
  for (const e of ui.msgs.querySelectorAll('.msg-error')) e.remove();
}

async function regenerate(turn) {
  if (controller) return;
  const at = turns.indexOf(turn);
  const question = turns.slice(0, at).reverse().find((x) => x.role === 'user');
  if (!question) return;
  try { await truncateFrom(question); } catch (e) { addError(t('failed', { error: e.message })); return; }
  send(question.content);
}

async function retry(text) {
  await syncIds();
  const last = [...turns].reverse().find((x) => x.role === 'user');
  if (last && last.content === text) {
    try { await truncateFrom(last); } catch (e) { addError(t('failed', { error: e.message }), text); return; }
  }
  send(text);
}

// ---- Sending and streaming ----

function setStreaming(on) {
  const focused = document.activeElement;
  ui.send.disabled = on;
  ui.stop.hidden = !on;
  if (on && focused === ui.send) ui.stop.focus();
  if (!on && focused === ui.stop) ui.prompt.focus();
  refreshActions();
}

function stopAnswer() { if (controller) controller.abort(); }

async function send(text) {
  const ctrl = new AbortController();
  controller = ctrl;
  setStreaming(true);
  const mine = addTurn({ role: 'user', content: text });
  scrollDown();
  let answer = null, finish = null, streamError = null, sawDone = false, failed = false;
  const speaker = sentenceAnnouncer();
  try {
    if (!currentId) {
      const c = await api('POST', '/api/conversations', {}, ctrl.signal);
      if (ctrl.signal.aborted) throw new DOMException('Aborted', 'AbortError');
      currentId = c.id;
      setHash(c.id);
    }
    const res = await fetch(convPath(currentId) + '/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...csrfHeaders() },
      body: JSON.stringify({ content: text, language: lang }),
      signal: ctrl.signal,
    });
    if (!res.ok) throw await httpError(res);
    refreshList(); // the conversation exists now and may have a new title
    answer = addTurn({ role: 'assistant', content: '', streaming: true });
    let pending = false;
    const paint = () => {
      pending = false;
      const stick = nearBottom();
      answer.body.replaceChildren(renderMarkdown(answer.content));
      if (stick) scrollDown();
    };
    await readSse(res, (data) => {
      if (data === '[DONE]') { sawDone = true; return false; }
      let chunk;
      try { chunk = JSON.parse(data); } catch (_) { return true; }
      if (chunk.error) { streamError = chunk.error.message || t('conn_closed'); return true; }
      if (Array.isArray(chunk.citations)) answer.citations = chunk.citations;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) return true;
      const piece = choice.delta && choice.delta.content;
      if (typeof piece === 'string' && piece) {
        answer.content += piece;
        speaker.push(answer.content);
        // One repaint per frame, however many tokens arrived.
        if (!pending) { pending = true; requestAnimationFrame(paint); }
      }
      if (choice.finish_reason) finish = choice.finish_reason;
      return true;
    });
    if (streamError || (!sawDone && !finish)) {
      failed = true;
      addError(streamError || t('conn_closed'), text);
    } else {
      answer.notes = finish === 'length' ? [t('cut_off')] : answer.content ? [] : [t('empty_answer')];
      speaker.finish(answer.content);
      announce(t('answer_complete'));
    }
  } catch (e) {
    if (e.name === 'AbortError') {
      if (answer && answer.li.isConnected) answer.notes = [t('stopped')];
      if (mine.li.isConnected) announce(t('stopped'));
    } else {
      failed = true;
      if (!answer && !ui.prompt.value && mine.li.isConnected) {
        // Nothing was stored: take the question back so it can be sent again.
        mine.li.remove();
        turns = turns.filter((x) => x !== mine);
        ui.welcome.hidden = turns.length > 0;
      }
      addError(e.message || t('conn_closed'), text);
    }
  } finally {
    if (answer) {
      answer.streaming = false;
      if (failed && !answer.content) { answer.li.remove(); turns = turns.filter((x) => x !== answer); }
      else if (answer.li.isConnected) renderTurn(answer);
    }
    if (controller === ctrl) { controller = null; setStreaming(false); }
    if (mine.li.isConnected && !controller) await syncIds();
    refreshActions();
    refreshList();
  }
}

// ---- Events ----

ui.form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = ui.prompt.value.trim();
  if (!text || controller) return;
  if (editing) {
    const turn = editing;
    cancelEdit();
    try { await truncateFrom(turn); } catch (err) { addError(t('failed', { error: err.message })); return; }
  }
  ui.prompt.value = '';
  send(text);
});

ui.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    ui.form.requestSubmit();
  } else if (e.key === 'Escape') {
    if (controller) { e.preventDefault(); stopAnswer(); }
    else if (editing) { e.preventDefault(); cancelEdit(); ui.prompt.value = ''; }
  }
});

ui.stop.addEventListener('click', stopAnswer);
ui.cancelEdit.addEventListener('click', () => { cancelEdit(); ui.prompt.value = ''; ui.prompt.focus(); });
$('skip').addEventListener('click', (e) => { e.preventDefault(); ui.prompt.focus(); });
ui.newBtn.addEventListener('click', () => { newChat(); closeMenu(); });
ui.search.addEventListener('input', renderList);
ui.lang.addEventListener('change', () => { store('sovra.lang', ui.lang.value); applyLanguage(ui.lang.value); });
ui.menu.addEventListener('click', () => {
  const open = !document.body.classList.contains('nav-open');
  document.body.classList.toggle('nav-open', open);
  ui.menu.setAttribute('aria-expanded', String(open));
  if (open) ui.newBtn.focus();
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && document.body.classList.contains('nav-open')) { closeMenu(); ui.menu.focus(); }
});
$('signin-open').addEventListener('click', openSignIn);
$('signin-close').addEventListener('click', () => $('signin').close());
$('signin').addEventListener('cancel', (e) => { if (!$('signin-close').hidden) return; e.preventDefault(); });
$('signout').addEventListener('click', async () => {
  await signOut();
  renderAuth();
  newChat({ focus: false });
  await refreshList();
  $('signin-open').focus();
});
$('privacy-open').addEventListener('click', () => { $('privacy-msg').textContent = ''; ui.privacy.showModal(); });
$('privacy-close').addEventListener('click', () => ui.privacy.close());
$('download-data').addEventListener('click', downloadData);
$('delete-data').addEventListener('click', deleteData);
window.addEventListener('popstate', syncFromHash);
window.addEventListener('hashchange', syncFromHash);
initTheme($('theme'));

// ---- Start ----

async function start() {
  await whoami();
  try { profile = await api('GET', '/api/profile'); } catch (_) { profile = null; }
  ui.lang.replaceChildren(...languageOptions().map((code) => el('option', { value: code, lang: code }, nativeName(code))));
  applyLanguage(chooseLanguage());
  if (profile && profile.anonymous === false && !session.signedIn && (session.methods.password || session.methods.oidc)) openSignIn();
  else await refreshList();
  const initial = hashId();
  if (initial) await openConversation(initial, true);
  document.body.dataset.ready = 'true';
}
start();
