// A small, safe Markdown renderer for model output.
//
// Nothing is ever parsed as HTML: the output is built from DOM nodes, and
// all text goes in as text nodes, so markup in an answer stays text. What is
// rendered: fenced code blocks, inline code, bold, italic, bullet and
// numbered lists, pipe tables, headings (as bold paragraphs: answers do not
// get to shape the page's outline), and links whose URL is http, https or
// mailto (opened in a new tab, rel="noopener noreferrer"). Anything else is
// text. Unclosed constructs (a fence still streaming) render as far as they got.

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** `href` if it is an absolute http(s)/mailto URL, else null. */
export function safeUrl(href) {
  try {
    const u = new URL(href);
    return SAFE_PROTOCOLS.has(u.protocol) ? u.href : null;
  } catch (_) {
    return null;
  }
}

function h(tag, ...children) {
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}

export function link(href, children) {
  const a = h('a', ...children);
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

// Inline Markdown in one pass, linear in the text's length.
//
// At each position the constructs that can start there are tried in a fixed
// order (code, link, bare URL, `**`, `__`, `*`, `_`); the first that closes
// wins, so the earliest construct in the text wins, as a regex scan would.
// Whether one closes is answered in constant time from tables built once per
// text (where the next backtick, `]`, `*` or `_` is, where a `**` or `__` may
// close, where a URL's run of characters ends), never by searching ahead:
// the regexes this replaces searched the rest of the text at every position
// and were cubic on `*a* **x ` repeated. Emphasis recurses into its content
// over the same tables; content cannot hold a complete construct of its own
// kind (its closing would have closed the outer one first), so at most a
// handful of levels ever look at a character.

const WORD = /\w/;
const SPACE = /\s/;
// Characters a bare URL does not run through, and those it does not end on.
const URL_STOP = /[\s<>()]/;
const URL_TAIL = /[\s<>().,;:!?'"»”]/;

const isWord = (c) => c !== undefined && WORD.test(c);
const isSpace = (c) => c !== undefined && SPACE.test(c);

/** Tables over `text` for constant-time closing lookups (see above). */
function tables(text) {
  const n = text.length;
  const next = (pred) => {
    const t = new Int32Array(n + 2).fill(n);
    for (let p = n - 1; p >= 0; p--) t[p] = pred(p) ? p : t[p + 1];
    return t;
  };
  const at = (p) => text[p];
  const urlEnd = new Int32Array(n + 1);
  urlEnd[n] = n;
  for (let p = n - 1; p >= 0; p--) urlEnd[p] = URL_STOP.test(text[p]) ? p : urlEnd[p + 1];
  // lastGood[e]: the last position before e a URL may end on, or -1.
  const lastGood = new Int32Array(n + 1);
  lastGood[0] = -1;
  for (let p = 0; p < n; p++) lastGood[p + 1] = URL_TAIL.test(text[p]) ? lastGood[p] : p;
  return {
    text,
    nl: next((p) => at(p) === '\n'),
    tick: next((p) => at(p) === '`'),
    bracket: next((p) => at(p) === ']'),
    star: next((p) => at(p) === '*'),
    under: next((p) => at(p) === '_'),
    // A link's target ends at the first `)` or white space.
    target: next((p) => at(p) === ')' || isSpace(at(p))),
    // `**` closes after a non-space character.
    strong: next((p) => at(p) === '*' && at(p + 1) === '*' && p > 0 && !isSpace(at(p - 1))),
    // `__` closes after a non-space character and before a non-word one.
    under2: next((p) => at(p) === '_' && at(p + 1) === '_' && p > 0 && !isSpace(at(p - 1)) && !isWord(at(p + 2))),
    urlEnd,
    lastGood,
  };
}

/**
 * The construct starting at `i` within [`from`, `end`) of `t.text` (`from`
 * is where the text the lookbehinds may see begins): `{ kind, end, a, b }`
 * with the content at [a, b) (for a link also `href`), or null.
 */
function construct(t, i, from, end) {
  const s = t.text;
  const c = s[i];
  const before = i > from ? s[i - 1] : undefined;
  if (c === '`') {
    const j = t.tick[i + 1];
    if (j < end && j > i + 1 && t.nl[i + 1] > j) return { kind: 'code', end: j + 1, a: i + 1, b: j };
    return null;
  }
  if (c === '[') {
    const j = t.bracket[i + 1];
    if (j + 1 >= end || j === i + 1 || t.nl[i + 1] < j || s[j + 1] !== '(') return null;
    const k = t.target[j + 2];
    if (k >= end || k === j + 2 || s[k] !== ')') return null;
    return { kind: 'link', end: k + 1, a: i + 1, b: j, href: s.slice(j + 2, k) };
  }
  if ((c === 'h' || c === 'm') && !isWord(before)) {
    const scheme = s.startsWith('https://', i) ? 8 : s.startsWith('http://', i) ? 7 : s.startsWith('mailto:', i) ? 7 : 0;
    if (!scheme || i + scheme > end) return null;
    const body = i + scheme;
    const run = Math.min(t.urlEnd[body], end);
    const last = t.lastGood[run];
    if (run <= body || last < body + 1) return null;
    return { kind: 'url', end: last + 1, a: i, b: last + 1 };
  }
  if (c === '*') {
    if (s[i + 1] === '*' && i + 2 < end && !isSpace(s[i + 2])) {
      const j = t.strong[i + 3];
      if (j + 1 < end && t.nl[i + 2] >= j) return { kind: 'strong', end: j + 2, a: i + 2, b: j };
    }
    const d = s[i + 1];
    if (i + 1 < end && d !== '*' && !isSpace(d)) {
      const j = t.star[i + 1];
      if (j < end && t.nl[i + 1] > j && !isSpace(s[j - 1])) return { kind: 'em', end: j + 1, a: i + 1, b: j };
    }
    return null;
  }
  if (c === '_' && !isWord(before)) {
    if (s[i + 1] === '_' && i + 2 < end && !isSpace(s[i + 2])) {
      const j = t.under2[i + 3];
      if (j + 1 < end && t.nl[i + 2] >= j) return { kind: 'strong', end: j + 2, a: i + 2, b: j };
    }
    const d = s[i + 1];
    if (i + 1 < end && d !== '_' && !isSpace(d)) {
      const j = t.under[i + 1];
      if (j < end && t.nl[i + 1] > j && !isSpace(s[j - 1]) && !isWord(s[j + 1])) return { kind: 'em', end: j + 1, a: i + 1, b: j };
    }
  }
  return null;
}

/** Nodes for [`from`, `end`) of `t.text`. */
function spans(t, from, end) {
  const s = t.text;
  const out = [];
  let plainFrom = from; // start of the text not yet emitted
  let rest = from; // where lookbehinds stop (the end of the last construct)
  for (let i = from; i < end;) {
    const m = construct(t, i, rest, end);
    if (!m) { i++; continue; }
    if (i > plainFrom) out.push(document.createTextNode(s.slice(plainFrom, i)));
    if (m.kind === 'code') out.push(h('code', s.slice(m.a, m.b)));
    else if (m.kind === 'strong') out.push(h('strong', ...spans(t, m.a, m.b)));
    else if (m.kind === 'em') out.push(h('em', ...spans(t, m.a, m.b)));
    else if (m.kind === 'url') {
      const raw = s.slice(m.a, m.b);
      const href = safeUrl(raw);
      out.push(href ? link(href, [raw]) : document.createTextNode(raw));
    } else {
      const href = safeUrl(m.href);
      out.push(href ? link(href, spans(t, m.a, m.b)) : document.createTextNode(s.slice(i, m.end)));
    }
    i = plainFrom = rest = m.end;
  }
  if (end > plainFrom) out.push(document.createTextNode(s.slice(plainFrom, end)));
  return out;
}

/** Inline Markdown of `text` as an array of nodes. */
export function inline(text) {
  const s = String(text);
  return spans(tables(s), 0, s.length);
}

// Block syntax, recognised line by line with patterns that cannot backtrack
// more than a few characters (no two quantifiers compete for the same text):
// the whole renderer stays linear in the answer's length.
const FENCE = /^\s{0,3}(`{3,}|~{3,})(.*)$/;
const FENCE_INFO = /^[\w+#.-]*$/;
const BULLET = /^\s{0,3}[-*+]\s(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s(.*)$/;
const HEADING = /^\s{0,3}#{1,6}\s(.*)$/;
const SEP_CELL = /^:?-{2,}:?$/;

/** A fence line's `[fence, info]`, or null. */
function fenceOf(line) {
  const m = FENCE.exec(line);
  if (!m) return null;
  const info = m[2].trim();
  return FENCE_INFO.test(info) ? [m[1], info] : null;
}

/** A heading's text, without its closing `#`s, or null. */
function headingOf(line) {
  const m = HEADING.exec(line);
  if (!m) return null;
  let text = m[1].trim();
  let k = text.length;
  while (k > 0 && text[k - 1] === '#') k--;
  return text.slice(0, k).trimEnd();
}

/** `[marker, text]` of a list item line (`re` is BULLET or ORDERED), or null. */
function itemOf(re, line) {
  const m = re.exec(line);
  if (!m) return null;
  return re === BULLET ? ['', m[1].trimStart()] : [m[1], m[2].trimStart()];
}

/** Whether `line` is a table's separator row (`| --- | :-: |`). */
function isTableSep(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|')) s = s.slice(0, -1);
  return s.split('|').every((c) => SEP_CELL.test(c.trim()));
}

const cells = (line) => {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
};

function table(header, rows, align) {
  const cell = (tag, text, i) => {
    const c = h(tag, ...inline(text));
    if (align[i]) c.style.textAlign = align[i];
    if (tag === 'th') c.scope = 'col';
    return c;
  };
  const head = h('thead', h('tr', ...header.map((c, i) => cell('th', c, i))));
  const body = h('tbody', ...rows.map((r) => h('tr', ...header.map((_, i) => cell('td', r[i] || '', i)))));
  // A wide table scrolls by itself instead of widening the page.
  const wrap = h('div', h('table', head, body));
  wrap.className = 'table-wrap';
  wrap.tabIndex = 0;
  return wrap;
}

/** Renders `src` into a DocumentFragment. */
export function render(src) {
  const frag = document.createDocumentFragment();
  // U+2028/2029 end a line too, so `.` in the block patterns meets no line end.
  const lines = String(src).replace(/\r\n?|[\u2028\u2029]/g, '\n').split('\n');
  let i = 0;
  let para = [];
  const flush = () => {
    if (!para.length) return;
    const p = h('p');
    para.forEach((l, k) => { if (k) p.append(h('br')); p.append(...inline(l)); });
    frag.append(p);
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = fenceOf(line);
    if (fence) {
      flush();
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[0])) body.push(lines[i++]);
      i++; // the closing fence (or the end)
      const code = h('code', body.join('\n'));
      if (fence[1]) code.dataset.lang = fence[1];
      const pre = h('pre', code);
      pre.tabIndex = 0; // scrollable by keyboard
      frag.append(pre);
      continue;
    }
    if (!line.trim()) { flush(); i++; continue; }
    const heading = headingOf(line);
    if (heading !== null) {
      flush();
      frag.append(h('p', h('strong', ...inline(heading))));
      i++;
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && isTableSep(lines[i + 1])) {
      flush();
      const header = cells(line);
      const align = cells(lines[i + 1]).map((c) =>
        c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : '');
      i += 2;
      const rows = [];
      while (i < lines.length && lines[i].includes('|') && lines[i].trim()) rows.push(cells(lines[i++]));
      frag.append(table(header, rows, align));
      continue;
    }
    const bullet = itemOf(BULLET, line), ordered = bullet ? null : itemOf(ORDERED, line);
    if (bullet || ordered) {
      flush();
      const re = bullet ? BULLET : ORDERED;
      const list = h(bullet ? 'ul' : 'ol');
      if (ordered && ordered[0] !== '1') list.start = Number(ordered[0]);
      while (i < lines.length) {
        const m = itemOf(re, lines[i]);
        if (m) { list.append(h('li', ...inline(m[1]))); i++; continue; }
        // An indented line continues the item above it.
        if (/^\s{2,}\S/.test(lines[i]) && list.lastChild) {
          list.lastChild.append(h('br'), ...inline(lines[i].trim()));
          i++;
          continue;
        }
        break;
      }
      frag.append(list);
      continue;
    }
    para.push(line);
    i++;
  }
  flush();
  return frag;
}

/** Plain text of Markdown (for the screen-reader announcement and copy). */
export function plain(src) {
  const div = document.createElement('div');
  div.append(render(src));
  return div.textContent;
}
