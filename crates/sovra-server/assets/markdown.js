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

// Inline patterns, tried at each position; the earliest match wins.
const INLINE = [
  ['code', /`([^`\n]+)`/],
  ['link', /\[([^\]\n]+)\]\(([^)\s]+)\)/],
  ['url', /\b(?:https?:\/\/|mailto:)[^\s<>()]+[^\s<>().,;:!?'"»”]/],
  ['strong', /\*\*(?=\S)([^\n]*?\S)\*\*/],
  ['strong', /(?<![\w])__(?=\S)([^\n]*?\S)__(?![\w])/],
  ['em', /\*(?=[^\s*])([^*\n]*?[^\s*])\*/],
  ['em', /(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w])/],
];

/** Inline Markdown of `text` as an array of nodes. */
export function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const [kind, re] of INLINE) {
      const m = re.exec(rest);
      if (m && (!best || m.index < best.m.index)) best = { kind, m };
    }
    if (!best) { out.push(document.createTextNode(rest)); break; }
    const { kind, m } = best;
    if (m.index > 0) out.push(document.createTextNode(rest.slice(0, m.index)));
    if (kind === 'code') out.push(h('code', m[1]));
    else if (kind === 'strong') out.push(h('strong', ...inline(m[1])));
    else if (kind === 'em') out.push(h('em', ...inline(m[1])));
    else if (kind === 'url') {
      const href = safeUrl(m[0]);
      out.push(href ? link(href, [m[0]]) : document.createTextNode(m[0]));
    } else {
      const href = safeUrl(m[2]);
      out.push(href ? link(href, inline(m[1])) : document.createTextNode(m[0]));
    }
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

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
  const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
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
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++; // the closing fence (or the end)
      const code = h('code', body.join('\n'));
      if (fence[2]) code.dataset.lang = fence[2];
      const pre = h('pre', code);
      pre.tabIndex = 0; // scrollable by keyboard
      frag.append(pre);
      continue;
    }
    if (!line.trim()) { flush(); i++; continue; }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      frag.append(h('p', h('strong', ...inline(heading[1]))));
      i++;
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
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
    const bullet = BULLET.exec(line), ordered = ORDERED.exec(line);
    if (bullet || ordered) {
      flush();
      const re = bullet ? BULLET : ORDERED;
      const list = h(bullet ? 'ul' : 'ol');
      if (ordered && ordered[1] !== '1') list.start = Number(ordered[1]);
      while (i < lines.length) {
        const m = re.exec(lines[i]);
        if (m) { list.append(h('li', ...inline(bullet ? m[1] : m[2]))); i++; continue; }
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
