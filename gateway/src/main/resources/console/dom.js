// Building the page from data without ever parsing it as markup: every string that reaches the
// document goes through a text node (or an attribute value), never an HTML parser. The page's
// Content-Security-Policy requires Trusted Types, so an HTML sink would throw anyway.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'props') Object.assign(el, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h('button', {class: 'x', onclick: f}, 'Send'). Strings become text nodes. */
export function h(tag, attrs, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

/** An SVG element, the same way. */
export function s(tag, attrs, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return Array.from(root.querySelectorAll(selector));
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** 1234 -> "1,234"; 0.1234 with digits 2 -> "0.12". */
export function num(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number(value).toLocaleString(undefined, {minimumFractionDigits: digits, maximumFractionDigits: digits});
}

/** Milliseconds for people: "850 ms", "1.2 s". */
export function ms(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (value < 10) return `${num(value, 1)} ms`;
  if (value < 1000) return `${num(value)} ms`;
  return `${num(value / 1000, value < 10000 ? 2 : 1)} s`;
}

export function percent(fraction, digits = 0) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return '–';
  return `${num(fraction * 100, digits)}%`;
}

/** "3 min ago" style times for the conversation list. */
export function ago(time) {
  const seconds = Math.max(0, (Date.now() - time) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(time).toLocaleDateString();
}

/** Copies text; works on plain-HTTP origins too, where navigator.clipboard does not exist. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      // fall through to the selection way
    }
  }
  const area = h('textarea', {class: 'offscreen', readonly: true, 'aria-hidden': 'true'});
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch (e) {
    ok = false;
  }
  area.remove();
  return ok;
}

/** Briefly shows a message at the bottom of the screen. */
export function toast(message, kind = 'info') {
  const host = $('#toasts');
  const el = h('div', {class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : 'status'}, message);
  host.append(el);
  setTimeout(() => el.classList.add('leaving'), 3200);
  setTimeout(() => el.remove(), 3600);
}
