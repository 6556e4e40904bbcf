// Sovra web chat. Plain DOM, no framework, nothing loaded from elsewhere.
// Model output is only ever written with textContent / text nodes.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const list = $('conv-list'), convMsg = $('conv-msg'), newBtn = $('new-chat');
  const titleEl = $('chat-title'), log = $('log'), empty = $('empty'), msgs = $('messages');
  const form = $('composer'), prompt = $('prompt'), sendBtn = $('send'), stopBtn = $('stop');
  const live = $('status');

  let currentId = null;  // id of the open conversation, null for a new chat
  let controller = null; // AbortController of the answer being sent/streamed
  let loadSeq = 0;       // discards responses of superseded loads
  let listSeq = 0;       // same, for the sidebar list

  // ---- HTTP helpers ----

  async function httpError(res) {
    let message = '';
    try { message = (await res.json()).error.message; } catch (_) { /* not a JSON error */ }
    const err = new Error(message || `Request failed (HTTP ${res.status}).`);
    err.status = res.status;
    return err;
  }

  async function api(method, path, body, signal) {
    const init = { method, headers: { Accept: 'application/json' }, signal };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (!res.ok) throw await httpError(res);
    return res.status === 204 ? null : res.json();
  }

  const convPath = (id) => '/api/conversations/' + encodeURIComponent(id);

  // ---- Location hash (#c=ID) ----

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

  // ---- Small UI helpers ----

  function announce(text) {
    live.textContent = '';
    setTimeout(() => { live.textContent = text; }, 100);
  }

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const scrollDown = () => { log.scrollTop = log.scrollHeight; };

  const LABELS = { user: 'You', assistant: 'Sovra', error: 'Error' };

  // Creates an element; children are nodes or plain strings (appended as text, never HTML).
  function el(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  // Appends a message bubble; returns its text element (holding one text node).
  function addMessage(kind, text) {
    empty.hidden = true;
    const body = el('div', { className: 'text' }, document.createTextNode(text));
    msgs.append(el('li', { className: 'msg msg-' + kind },
      el('p', { className: 'who' }, LABELS[kind] || kind), body));
    scrollDown();
    return body;
  }

  const addNote = (body, text) => body.after(el('p', { className: 'note' }, text));

  function showError(message) {
    addMessage('error', message);
    announce('Error: ' + message);
  }

  function clearMessages() { msgs.replaceChildren(); empty.hidden = false; }

  function setStreaming(on) {
    const focusWasOn = document.activeElement;
    sendBtn.disabled = on;
    stopBtn.hidden = !on;
    if (on && focusWasOn === sendBtn) stopBtn.focus();
    if (!on && focusWasOn === stopBtn) prompt.focus();
  }

  function stopAnswer() { if (controller) controller.abort(); }

  function formatDate(s) {
    const d = new Date(s);
    if (isNaN(d)) return '';
    return d.toDateString() === new Date().toDateString()
      ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleDateString();
  }

  // ---- Sidebar ----

  function sideMessage(text) { convMsg.textContent = text; convMsg.hidden = !text; }

  function markCurrent() {
    for (const b of list.querySelectorAll('.conv-open')) {
      if (b.dataset.id === currentId) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  function convItem(c) {
    const title = c.title || 'Untitled', when = formatDate(c.updated_at);
    const open = el('button', { type: 'button', className: 'conv-open' },
      el('span', { className: 'conv-title' }, title));
    if (when) open.append(el('time', { dateTime: c.updated_at }, when));
    open.dataset.id = c.id;
    open.addEventListener('click', () => openConversation(c.id));
    const del = el('button', { type: 'button', className: 'conv-delete', title: 'Delete conversation' }, '×');
    del.setAttribute('aria-label', 'Delete conversation: ' + title);
    del.addEventListener('click', () => deleteConversation(c.id, title));
    return el('li', {}, open, del);
  }

  async function refreshList() {
    const seq = ++listSeq;
    let data;
    try {
      data = (await api('GET', '/api/conversations')).data || [];
    } catch (e) {
      if (seq === listSeq) sideMessage('Could not load conversations: ' + e.message);
      return;
    }
    if (seq !== listSeq) return;
    list.replaceChildren(...data.map(convItem));
    markCurrent();
    sideMessage(data.length ? '' : 'No conversations yet.');
    const cur = data.find((c) => c.id === currentId);
    if (cur && cur.title) titleEl.textContent = cur.title;
  }

  async function deleteConversation(id, title) {
    if (!confirm(`Delete the conversation “${title}”? This cannot be undone.`)) return;
    try {
      await api('DELETE', convPath(id));
    } catch (e) {
      if (e.status !== 404) {
        sideMessage('Could not delete: ' + e.message);
        announce('Could not delete the conversation.');
        return;
      }
    }
    if (id === currentId) newChat({ focus: false });
    await refreshList();
    newBtn.focus();
    announce('Conversation deleted.');
  }

  // ---- Conversations ----

  function newChat({ focus = true, replace = false } = {}) {
    stopAnswer();
    loadSeq++;
    currentId = null;
    setHash(null, replace);
    markCurrent();
    titleEl.textContent = 'New chat';
    clearMessages();
    if (focus) prompt.focus();
  }

  async function openConversation(id, replace) {
    stopAnswer();
    const seq = ++loadSeq;
    currentId = id;
    setHash(id, replace);
    markCurrent();
    clearMessages();
    empty.hidden = true;
    titleEl.textContent = 'Loading…';
    try {
      const c = await api('GET', convPath(id));
      if (seq !== loadSeq) return;
      titleEl.textContent = c.title || 'Untitled';
      for (const m of c.messages || []) {
        addMessage(m.role === 'user' ? 'user' : 'assistant', m.content || '');
      }
      empty.hidden = msgs.children.length > 0;
      scrollDown();
    } catch (e) {
      if (seq !== loadSeq) return;
      if (e.status === 404) {
        newChat({ focus: false, replace: true });
        showError('That conversation no longer exists.');
        refreshList();
      } else {
        titleEl.textContent = 'Conversation';
        showError('Could not load the conversation: ' + e.message);
      }
    }
  }

  function syncFromHash() {
    const id = hashId();
    if (id === currentId || (!id && location.hash.length > 1)) return; // ignore other fragments
    if (id) openConversation(id, true);
    else newChat({ focus: false, replace: true });
  }

  // ---- Sending and streaming ----

  // Reads an SSE body, calling onData with each event's data; stops when it returns false.
  async function readSse(res, onData) {
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

  async function send(text) {
    const ctrl = new AbortController();
    controller = ctrl;
    setStreaming(true);
    const mine = addMessage('user', text);
    let body = null, finish = null, streamError = null, sawDone = false, failed = false;
    try {
      if (!currentId) {
        const c = await api('POST', '/api/conversations', {}, ctrl.signal);
        if (ctrl.signal.aborted) throw new DOMException('Aborted', 'AbortError');
        currentId = c.id;
        setHash(c.id);
        titleEl.textContent = c.title || 'New chat';
      }
      const res = await fetch(convPath(currentId) + '/messages', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({ content: text }),
        signal: ctrl.signal,
      });
      if (!res.ok) throw await httpError(res);
      refreshList(); // the conversation now exists and may have a new title
      body = addMessage('assistant', '');
      const bubble = body.parentElement, node = body.firstChild;
      bubble.classList.add('streaming');
      bubble.setAttribute('aria-busy', 'true');
      await readSse(res, (data) => {
        if (data === '[DONE]') { sawDone = true; return false; }
        let chunk;
        try { chunk = JSON.parse(data); } catch (_) { return true; }
        if (chunk.error) {
          streamError = chunk.error.message || 'The model reported an error.';
          return true;
        }
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) return true;
        const piece = choice.delta && choice.delta.content;
        if (typeof piece === 'string' && piece) {
          const stick = nearBottom();
          node.appendData(piece);
          if (stick) scrollDown();
        }
        if (choice.finish_reason) finish = choice.finish_reason;
        return true;
      });
      if (streamError || (!sawDone && !finish)) {
        failed = true;
        showError(streamError || 'The connection closed before the answer was complete.');
      } else {
        if (finish === 'length') addNote(body, 'The answer was cut off at the length limit.');
        else if (!body.textContent) addNote(body, 'The model returned an empty answer.');
        announce('Answer complete.');
      }
    } catch (e) {
      if (e.name === 'AbortError') {
        // Aborted by Stop, or by leaving the conversation (then nothing is shown).
        if (body && body.isConnected) addNote(body, 'Stopped.');
        if (mine.isConnected) announce('Answer stopped.');
      } else {
        failed = true;
        if (!body && !prompt.value) prompt.value = text; // let the user retry
        showError(e.message || 'Something went wrong.');
      }
    } finally {
      if (body) {
        const bubble = body.parentElement;
        bubble.classList.remove('streaming');
        bubble.removeAttribute('aria-busy');
        if (failed && !body.textContent) bubble.remove();
      }
      if (controller === ctrl) {
        controller = null;
        setStreaming(false);
      }
      refreshList();
    }
  }

  // ---- Events ----

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = prompt.value.trim();
    if (!text || controller) return;
    prompt.value = '';
    send(text);
  });

  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      if (form.requestSubmit) form.requestSubmit();
      else form.dispatchEvent(new Event('submit', { cancelable: true }));
    } else if (e.key === 'Escape' && controller) {
      e.preventDefault();
      stopAnswer();
    }
  });

  stopBtn.addEventListener('click', stopAnswer);
  $('skip').addEventListener('click', (e) => { e.preventDefault(); prompt.focus(); });
  newBtn.addEventListener('click', () => newChat());
  window.addEventListener('popstate', syncFromHash);
  window.addEventListener('hashchange', syncFromHash);

  refreshList();
  const initial = hashId();
  if (initial) openConversation(initial, true);
})();
