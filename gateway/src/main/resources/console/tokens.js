// The completion mode's token view: each generated token is one element, shaded by the
// probability the model gave it, with the most likely alternatives on hover (from the API's
// logprobs). Token texts are shown as text, with whitespace made visible in the details.

import {h, fill, num} from './dom.js';

/** How a token's text reads in the details: spaces, newlines and tabs made visible. */
export function visible(text) {
  return text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥') || '∅';
}

/** Raw bytes of a partial UTF-8 character come as "bytes:\xe4"; show them as the escape. */
function shown(text) {
  return text.startsWith('bytes:') ? text.slice(6) : text;
}

export class TokenView {
  /** @param container where the token elements go; @param tip the shared tooltip element */
  constructor(container, tip) {
    this.container = container;
    this.tip = tip;
    this.details = [];
    this.pinned = null;
    container.addEventListener('pointerover', e => {
      const el = e.target.closest('.tok');
      if (el && !this.pinned) this.show(el);
    });
    container.addEventListener('pointerout', e => {
      if (!this.pinned && e.target.closest('.tok')) this.hide();
    });
    container.addEventListener('click', e => {
      const el = e.target.closest('.tok');
      if (!el) return;
      if (this.pinned === el) {
        this.unpin();
      } else {
        this.unpin();
        this.pinned = el;
        el.classList.add('pinned');
        this.show(el);
      }
    });
    document.addEventListener('keydown', e => {
      if (e.key === 'Escape' && this.pinned) this.unpin();
    });
  }

  unpin() {
    if (this.pinned) this.pinned.classList.remove('pinned');
    this.pinned = null;
    this.hide();
  }

  reset() {
    this.unpin();
    this.details = [];
  }

  /**
   * Appends the tokens of one chunk's logprobs ({tokens, token_logprobs, top_logprobs}).
   * @returns the elements added
   */
  add(logprobs) {
    const added = [];
    (logprobs.tokens || []).forEach((token, i) => {
      const logprob = logprobs.token_logprobs ? logprobs.token_logprobs[i] : null;
      const top = logprobs.top_logprobs ? logprobs.top_logprobs[i] : null;
      const p = logprob === null || logprob === undefined ? null : Math.exp(logprob);
      const index = this.details.length;
      this.details.push({token, logprob, p, top});
      const el = h('span', {class: ['tok', token.startsWith('bytes:') && 'tok-bytes', token.includes('\n') && 'tok-nl'],
        dataset: {i: index}}, shown(token));
      if (p !== null) el.style.setProperty('--p', p.toFixed(4));
      this.container.append(el);
      added.push(el);
    });
    return added;
  }

  show(el) {
    const d = this.details[Number(el.dataset.i)];
    if (!d) return;
    const alternatives = Object.entries(d.top || {}).map(([token, lp]) => ({token, p: Math.exp(lp), lp}))
      .sort((a, b) => b.p - a.p);
    fill(this.tip,
      h('div', {class: 'tip-head'}, h('code', {}, visible(shown(d.token))),
        h('span', {}, d.p === null ? '' : ` ${num(d.p * 100, 1)}%`)),
      h('div', {class: 'tip-sub muted'}, d.logprob === null ? 'no log-probability'
        : `logprob ${num(d.logprob, 3)}`),
      alternatives.length ? h('ol', {class: 'tip-list'}, ...alternatives.map(a => {
        const barEl = h('span', {class: 'tip-bar'});
        barEl.style.width = `${Math.max(2, a.p * 100).toFixed(1)}%`;
        return h('li', {class: a.token === d.token ? 'chosen' : null},
          h('code', {}, visible(shown(a.token))), h('span', {class: 'tip-track'}, barEl),
          h('span', {class: 'tip-p'}, `${num(a.p * 100, 1)}%`));
      })) : null);
    this.tip.hidden = false;
    const box = el.getBoundingClientRect();
    const tipBox = this.tip.getBoundingClientRect();
    let left = box.left + window.scrollX;
    left = Math.min(left, window.scrollX + document.documentElement.clientWidth - tipBox.width - 8);
    let top = box.bottom + window.scrollY + 6;
    if (box.bottom + tipBox.height + 12 > window.innerHeight) top = box.top + window.scrollY - tipBox.height - 6;
    this.tip.style.left = `${Math.max(8, left)}px`;
    this.tip.style.top = `${Math.max(8, top)}px`;
  }

  hide() {
    this.tip.hidden = true;
  }
}
