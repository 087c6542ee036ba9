// The playground: chat (streamed from /v1/chat/completions) and raw completion (/v1/completions),
// sampling controls showing the server's defaults, per-answer timings, a stop button that aborts
// the generation on the server, the token-probability view and "Show code".

import {stream, getJson, ApiError, AuthError, apiKey} from './api.js';
import {h, $, $$, fill, num, ms, ago, copyText, toast} from './dom.js';
import * as store from './store.js';
import {TokenView} from './tokens.js';
import {curl, pythonCode, grpcurl} from './code.js';

/** The sampling fields of the form: input id suffix, request field, kind. */
const FIELDS = [
  ['max_tokens', 'int'], ['temperature', 'float'], ['top_p', 'float'], ['top_k', 'int'], ['min_p', 'float'],
  ['seed', 'int'], ['presence_penalty', 'float'], ['frequency_penalty', 'float'], ['repetition_penalty', 'float'],
];

export class Playground {
  constructor(app) {
    this.app = app;
    this.saved = store.settings();
    this.models = [];
    this.defaults = null;
    this.controller = null;
    this.conversation = null;
    this.tokenView = new TokenView($('#completion-text'), $('#token-tip'));
    this.followOutput = true;
    this.bind();
    this.restore();
  }

  // ---- wiring -------------------------------------------------------------------------------

  bind() {
    $('#composer').addEventListener('submit', e => {
      e.preventDefault();
      this.send();
    });
    const prompt = $('#prompt');
    prompt.addEventListener('keydown', e => this.enterSends(e, () => this.send()));
    prompt.addEventListener('input', () => autosize(prompt));
    $('#stop').addEventListener('click', () => this.stop());
    $('#completion-stop').addEventListener('click', () => this.stop());
    $('#completion-form').addEventListener('submit', e => {
      e.preventDefault();
      this.complete();
    });
    const completionPrompt = $('#completion-prompt');
    completionPrompt.addEventListener('keydown', e => this.enterSends(e, () => this.complete()));
    completionPrompt.addEventListener('input', () => this.persist());
    $('#use-output').addEventListener('click', () => {
      const text = this.lastCompletion || '';
      completionPrompt.value += text;
      this.persist();
      completionPrompt.focus();
    });
    document.addEventListener('keydown', e => {
      if (e.key === 'Escape' && this.controller) this.stop();
    });
    $$('[data-mode]').forEach(b => b.addEventListener('click', () => this.setMode(b.dataset.mode)));
    $('#model').addEventListener('change', () => this.persist());
    $('#new-chat').addEventListener('click', () => {
      this.newConversation();
      this.app.closePanes();
      $('#prompt').focus();
    });
    $('#settings-form').addEventListener('input', e => {
      e.target.classList.remove('invalid');
      this.persist();
    });
    $('#settings-form').addEventListener('submit', e => e.preventDefault());
    $('#reset-sampling').addEventListener('click', () => {
      for (const [name] of FIELDS) $(`#p-${name}`).value = '';
      $('#p-stop').value = '';
      $('#p-ignore_eos').checked = false;
      $$('#settings-form .invalid').forEach(el => el.classList.remove('invalid'));
      this.persist();
      toast('Sampling reset to the server defaults');
    });
    $('#show-probs').addEventListener('change', () => this.persist());
    $('#probs-top').addEventListener('input', () => this.persist());
    $('#show-code').addEventListener('click', () => this.showCode());
    const transcript = $('#transcript');
    transcript.addEventListener('scroll', () => {
      this.followOutput = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
    });
  }

  /** Enter sends, Shift+Enter is a new line (and nothing happens while an input method composes). */
  enterSends(event, action) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !event.altKey) {
      event.preventDefault();
      if (!this.controller) action();
    }
  }

  restore() {
    const s = this.saved;
    for (const [name] of FIELDS) {
      const v = s.params ? s.params[name] : undefined;
      $(`#p-${name}`).value = v === undefined || v === null ? '' : v;
    }
    $('#p-stop').value = s.params && typeof s.params.stop === 'string' ? s.params.stop : '';
    $('#p-ignore_eos').checked = Boolean(s.params && s.params.ignore_eos);
    $('#system').value = typeof s.system === 'string' ? s.system : '';
    $('#completion-prompt').value = typeof s.completionPrompt === 'string' ? s.completionPrompt : 'Once upon a time';
    $('#show-probs').checked = Boolean(s.probs && s.probs.on);
    $('#probs-top').value = s.probs && s.probs.top ? s.probs.top : 5;
    const list = store.conversations();
    this.conversation = list.find(c => c.id === s.conversation) || list[0] || this.blank();
    this.setMode(s.mode === 'completion' ? 'completion' : 'chat', false);
    this.renderConversation();
    this.renderConversationList();
  }

  persist() {
    const params = {};
    for (const [name] of FIELDS) params[name] = $(`#p-${name}`).value;
    params.stop = $('#p-stop').value;
    params.ignore_eos = $('#p-ignore_eos').checked;
    this.saved = {
      mode: this.mode, model: $('#model').value || this.saved.model, system: $('#system').value, params,
      completionPrompt: $('#completion-prompt').value,
      probs: {on: $('#show-probs').checked, top: Number($('#probs-top').value) || 5},
      conversation: this.conversation ? this.conversation.id : null,
    };
    store.saveSettings(this.saved);
  }

  setMode(mode, save = true) {
    this.mode = mode;
    $$('[data-mode]').forEach(b => b.setAttribute('aria-checked', String(b.dataset.mode === mode)));
    $('#chat-pane').hidden = mode !== 'chat';
    $('#completion-pane').hidden = mode !== 'completion';
    $('#system-field').hidden = mode !== 'chat';
    $('#conversations').classList.toggle('pane-disabled', mode !== 'chat');
    document.body.dataset.mode = mode;
    this.showDefaults();
    if (save) this.persist();
  }

  // ---- server facts -------------------------------------------------------------------------

  /** Loads the models and the sampling defaults; called at start and after a key is entered. */
  async load() {
    const [models, defaults] = await Promise.all([getJson('/v1/models'), getJson('/console/settings')]);
    this.models = models.data || [];
    this.defaults = defaults;
    const select = $('#model');
    const wanted = select.value || this.saved.model;
    fill(select, ...this.models.map(m => h('option', {value: m.id}, `${m.id} · ${num(m.max_model_len)} ctx`)));
    if (this.models.some(m => m.id === wanted)) select.value = wanted;
    select.disabled = this.models.length === 0;
    this.showDefaults();
    this.renderEmptyState();
    return this.models;
  }

  showDefaults() {
    const d = this.defaults;
    if (!d) return;
    const sd = d.sampling_defaults;
    // Placeholders show what the server uses when a field is left empty.
    const place = (name, text, title) => {
      const input = $(`#p-${name}`);
      input.placeholder = text;
      input.title = `Server default: ${title || text}`;
    };
    const maxTokens = this.mode === 'chat' ? d.max_tokens_default.chat : d.max_tokens_default.completions;
    place('max_tokens', maxTokens === null ? 'to context' : String(maxTokens),
      maxTokens === null ? 'until the context is full' : String(maxTokens));
    place('temperature', String(sd.temperature));
    place('top_p', String(sd.top_p));
    place('top_k', sd.top_k < 0 ? 'off' : String(sd.top_k), sd.top_k < 0 ? 'off (-1)' : null);
    place('min_p', sd.min_p === 0 ? 'off' : String(sd.min_p), sd.min_p === 0 ? 'off (0)' : null);
    place('seed', 'random');
    place('presence_penalty', String(sd.presence_penalty));
    place('frequency_penalty', String(sd.frequency_penalty));
    place('repetition_penalty', String(sd.repetition_penalty));
    const limit = d.max_tokens_limit;
    $('#max-tokens-note').textContent = limit === null ? '' : `This server allows at most ${num(limit)}.`;
    $('#probs-top').max = d.max_logprobs;
  }

  model() {
    return $('#model').value || (this.models[0] ? this.models[0].id : '');
  }

  // ---- requests -----------------------------------------------------------------------------

  /** The sampling fields the user set, as the API spells them; marks and refuses invalid ones. */
  params() {
    const out = {};
    let bad = null;
    for (const [name, kind] of FIELDS) {
      const input = $(`#p-${name}`);
      const raw = input.value.trim();
      input.classList.remove('invalid');
      if (raw === '') continue;
      const value = Number(raw);
      if (!Number.isFinite(value) || (kind === 'int' && !Number.isInteger(value))) {
        input.classList.add('invalid');
        bad = bad || input;
        continue;
      }
      out[name] = value;
    }
    const stop = $('#p-stop').value.split('\n').filter(s => s.length > 0);
    if (stop.length) out.stop = stop;
    if ($('#p-ignore_eos').checked) out.ignore_eos = true;
    if (bad) {
      this.app.openPane('settings');
      bad.focus();
      throw new Error(`${bad.name} must be ${bad.dataset.kind === 'int' ? 'a whole number' : 'a number'}`);
    }
    return out;
  }

  chatMessages(upTo) {
    const messages = [];
    const system = $('#system').value;
    if (system.trim()) messages.push({role: 'system', content: system});
    for (const m of this.conversation.messages) {
      if (m === upTo) break;
      if (m.error || (m.role === 'assistant' && !m.content)) continue;
      messages.push({role: m.role, content: m.content});
    }
    return messages;
  }

  chatBody(upTo) {
    return {model: this.model(), messages: this.chatMessages(upTo), stream: true,
      stream_options: {include_usage: true}, ...this.params()};
  }

  completionBody() {
    const body = {model: this.model(), prompt: $('#completion-prompt').value, stream: true,
      stream_options: {include_usage: true}, ...this.params()};
    if ($('#show-probs').checked) {
      const top = Math.max(1, Math.min(20, Number($('#probs-top').value) || 5));
      body.logprobs = top;
    }
    return body;
  }

  setBusy(busy) {
    $('#send').hidden = busy;
    $('#stop').hidden = !busy;
    $('#completion-generate').hidden = busy;
    $('#completion-stop').hidden = !busy;
    document.body.classList.toggle('busy', busy);
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  // ---- chat ---------------------------------------------------------------------------------

  blank() {
    return {id: store.newId(), title: 'New chat', created: Date.now(), updated: Date.now(), messages: []};
  }

  newConversation() {
    if (this.controller) this.stop();
    this.conversation = this.blank();
    this.persist();
    this.renderConversation();
    this.renderConversationList();
  }

  save() {
    if (!this.conversation.messages.length) return;
    const first = this.conversation.messages.find(m => m.role === 'user');
    if (first) this.conversation.title = first.content.replace(/\s+/g, ' ').trim().slice(0, 60) || 'Untitled';
    store.saveConversation(this.conversation);
    this.renderConversationList();
  }

  async send() {
    const input = $('#prompt');
    const text = input.value;
    if (!text.trim() || this.controller) return;
    try {
      this.params();
    } catch (e) {
      toast(e.message, 'error');
      return;
    }
    this.conversation.messages.push({role: 'user', content: text});
    input.value = '';
    autosize(input);
    this.followOutput = true;
    this.save();
    this.persist();
    this.renderConversation();
    const reply = {role: 'assistant', content: '', model: this.model()};
    this.conversation.messages.push(reply);
    await this.generate(reply);
  }

  async regenerate() {
    const messages = this.conversation.messages;
    const last = messages[messages.length - 1];
    if (this.controller || !last || last.role !== 'assistant') return;
    messages.pop();
    this.renderConversation();
    const reply = {role: 'assistant', content: '', model: this.model()};
    messages.push(reply);
    await this.generate(reply);
  }

  async generate(reply) {
    const view = this.messageView(reply, this.conversation.messages.length - 1, true);
    $('#transcript').append(view.element);
    $('#transcript .empty-state')?.remove();
    this.scroll();
    let body;
    try {
      body = this.chatBody(reply);
    } catch (e) {
      reply.error = e.message;
      this.finishView(view, reply);
      return;
    }
    const text = document.createTextNode('');
    view.body.append(text);
    const timing = new Timing();
    let usage = null;
    let finish = null;
    this.controller = new AbortController();
    this.setBusy(true);
    try {
      const outcome = await stream('/v1/chat/completions', body, this.controller.signal, chunk => {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          const delta = choice.delta || {};
          if (delta.content) {
            timing.token();
            reply.content += delta.content;
            text.appendData(delta.content);
            this.scroll();
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      });
      if (outcome === 'aborted') finish = 'stopped';
    } catch (e) {
      reply.error = describe(e);
    } finally {
      this.controller = null;
      this.setBusy(false);
    }
    reply.stats = timing.stats(usage, finish);
    this.finishView(view, reply);
    this.save();
    if (!reply.error) $('#prompt').focus();
  }

  scroll() {
    if (!this.followOutput) return;
    const t = $('#transcript');
    t.scrollTop = t.scrollHeight;
  }

  renderConversation() {
    const t = $('#transcript');
    const messages = this.conversation.messages;
    fill(t, ...messages.map((m, i) => {
      const view = this.messageView(m, i, false);
      view.body.append(m.content);
      this.finishView(view, m);
      return view.element;
    }));
    this.renderEmptyState();
    t.scrollTop = t.scrollHeight;
  }

  renderEmptyState() {
    const t = $('#transcript');
    if (this.conversation.messages.length || !t) return;
    const model = this.model();
    fill(t, h('div', {class: 'empty-state'},
      h('div', {class: 'empty-title'}, model ? `Chat with ${model}` : 'Chat'),
      h('p', {}, 'Messages stream from /v1/chat/completions. Conversations stay in this browser.'),
      h('p', {class: 'muted small'}, 'Enter sends · Shift+Enter adds a line · Esc stops the answer')));
  }

  messageView(m, index, streaming) {
    const body = h('div', {class: 'msg-body'});
    const meta = h('div', {class: 'msg-meta'});
    const who = m.role === 'user' ? 'You' : (m.model || 'Model');
    const element = h('article', {class: ['msg', `msg-${m.role}`, streaming && 'streaming'], dataset: {index}},
      h('div', {class: 'msg-role'}, who), body, meta);
    return {element, body, meta};
  }

  finishView(view, m) {
    view.element.classList.remove('streaming');
    const parts = [];
    if (m.error) {
      view.element.classList.add('failed');
      parts.push(h('div', {class: 'msg-error', role: 'alert'}, m.error));
    }
    if (m.role === 'assistant' && m.stats) parts.push(statsLine(m.stats));
    const actions = h('span', {class: 'msg-actions'});
    if (m.content) {
      actions.append(h('button', {type: 'button', class: 'link', onclick: async () => {
        toast(await copyText(m.content) ? 'Copied' : 'Copy failed', 'info');
      }}, 'Copy'));
    }
    const messages = this.conversation.messages;
    if (m.role === 'assistant' && messages[messages.length - 1] === m) {
      actions.append(h('button', {type: 'button', class: 'link', onclick: () => this.regenerate()}, 'Regenerate'));
    }
    parts.push(actions);
    fill(view.meta, ...parts);
  }

  renderConversationList() {
    const list = store.conversations();
    const items = list.map(c => h('li', {class: c.id === this.conversation.id ? 'active' : null},
      h('button', {type: 'button', class: 'conv-open', onclick: () => this.open(c.id)},
        h('span', {class: 'conv-title'}, c.title || 'Untitled'),
        h('span', {class: 'conv-time muted small'}, `${ago(c.updated)} · ${c.messages.length} messages`)),
      h('button', {type: 'button', class: 'conv-delete', 'aria-label': `Delete "${c.title}"`, title: 'Delete',
        onclick: () => this.remove(c.id)}, '×')));
    fill($('#conversation-list'), ...(items.length ? items : [h('li', {class: 'muted small empty'}, 'No saved chats yet.')]));
  }

  open(id) {
    if (this.controller) return;
    const c = store.conversations().find(x => x.id === id);
    if (!c) return;
    this.conversation = c;
    this.setMode('chat');
    this.persist();
    this.renderConversation();
    this.renderConversationList();
    this.app.closePanes();
  }

  remove(id) {
    if (!window.confirm('Delete this conversation from this browser?')) return;
    store.deleteConversation(id);
    if (this.conversation.id === id) this.conversation = store.conversations()[0] || this.blank();
    this.persist();
    this.renderConversation();
    this.renderConversationList();
  }

  // ---- completion ---------------------------------------------------------------------------

  async complete() {
    if (this.controller) return;
    let body;
    try {
      body = this.completionBody();
    } catch (e) {
      toast(e.message, 'error');
      return;
    }
    if (!body.prompt) {
      toast('Write a prompt first', 'error');
      return;
    }
    this.persist();
    const out = $('#completion-text');
    const probs = body.logprobs !== undefined;
    this.tokenView.reset();
    fill(out);
    fill($('#completion-echo'), body.prompt);
    $('#completion-output').classList.toggle('with-probs', probs);
    $('#completion-output').hidden = false;
    $('#use-output').hidden = true;
    const stats = $('#completion-stats');
    fill(stats, h('span', {class: 'muted'}, 'Generating…'));
    const text = document.createTextNode('');
    if (!probs) out.append(text);
    out.classList.add('streaming');
    const timing = new Timing();
    let usage = null;
    let finish = null;
    let error = null;
    let generated = '';
    this.controller = new AbortController();
    this.setBusy(true);
    try {
      const outcome = await stream('/v1/completions', body, this.controller.signal, chunk => {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          if (choice.text || (choice.logprobs && choice.logprobs.tokens && choice.logprobs.tokens.length)) timing.token();
          if (choice.text) {
            generated += choice.text;
            if (!probs) text.appendData(choice.text);
          }
          if (probs && choice.logprobs) this.tokenView.add(choice.logprobs);
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      });
      if (outcome === 'aborted') finish = 'stopped';
    } catch (e) {
      error = describe(e);
    } finally {
      this.controller = null;
      this.setBusy(false);
      out.classList.remove('streaming');
    }
    this.lastCompletion = generated;
    $('#use-output').hidden = !generated;
    const line = statsLine(timing.stats(usage, finish));
    fill(stats, error ? h('div', {class: 'msg-error', role: 'alert'}, error) : null, line);
  }

  // ---- show code ----------------------------------------------------------------------------

  async showCode() {
    let body;
    try {
      if (this.mode === 'chat') {
        const draft = $('#prompt').value;
        body = this.chatBody(null);
        if (draft.trim()) body.messages.push({role: 'user', content: draft});
        if (!body.messages.some(m => m.role === 'user')) body.messages.push({role: 'user', content: 'Tell me a story.'});
      } else {
        body = this.completionBody();
      }
    } catch (e) {
      toast(e.message, 'error');
      return;
    }
    const request = {mode: this.mode, body, baseUrl: location.origin, keyRequired: Boolean(apiKey()) || this.app.keyRequired,
      grpcAddress: await grpcAddress()};
    const snippets = {curl: curl(request), python: pythonCode(request), grpcurl: grpcurl(request)};
    const dialog = $('#code-dialog');
    const code = $('#code-text');
    let current = 'curl';
    const select = lang => {
      current = lang;
      code.textContent = snippets[lang];
      $$('#code-dialog [data-lang]').forEach(b => b.setAttribute('aria-selected', String(b.dataset.lang === lang)));
    };
    $$('#code-dialog [data-lang]').forEach(b => {
      b.onclick = () => select(b.dataset.lang);
    });
    $('#code-copy').onclick = async () => {
      const ok = await copyText(snippets[current]);
      $('#code-copy').textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => {
        $('#code-copy').textContent = 'Copy';
      }, 1500);
    };
    $('#code-note').textContent = request.keyRequired
      ? 'The key is read from $QUIRE_API_KEY; it is never written into the code.' : '';
    select(current);
    dialog.showModal();
  }
}

/** The gRPC address of this gateway as it announced itself, with the host the browser used. */
async function grpcAddress() {
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  try {
    const cluster = await getJson('/cluster');
    const self = (cluster.gateways || []).find(g => g.self) || (cluster.gateways || [])[0];
    if (self && self.grpc) return `${host}:${self.grpc.slice(self.grpc.lastIndexOf(':') + 1)}`;
  } catch (e) {
    // fall back to the default port
  }
  return `${host}:50051`;
}

/** Client-side timings of one answer: time to first token and the decode rate. */
class Timing {
  constructor() {
    this.start = performance.now();
    this.first = null;
    this.last = null;
    this.chunks = 0;
  }

  token() {
    const now = performance.now();
    if (this.first === null) this.first = now;
    this.last = now;
    this.chunks++;
  }

  stats(usage, finish) {
    const tokens = usage ? usage.completion_tokens : this.chunks;
    const seconds = this.first !== null && this.last > this.first ? (this.last - this.first) / 1000 : null;
    return {
      ttft: this.first === null ? null : this.first - this.start,
      rate: seconds && tokens > 1 ? (tokens - 1) / seconds : null,
      tokens,
      exact: Boolean(usage),
      total: performance.now() - this.start,
      finish: finish || 'unknown',
    };
  }
}

const FINISH_LABELS = {
  stop: 'stop: end of text or a stop string',
  length: 'length: max tokens or the context reached',
  abort: 'abort: the server aborted it',
  stopped: 'stopped: you stopped it',
};

function statsLine(st) {
  const item = (label, value, title) => h('span', {class: 'stat-item', title}, h('span', {class: 'muted'}, label), ' ', value);
  return h('div', {class: 'answer-stats', dataset: {finish: st.finish, tokens: st.tokens}},
    item('TTFT', ms(st.ttft), 'Time to first token, measured in this browser'),
    item('', st.rate === null ? '–' : `${num(st.rate, 1)} tok/s`, 'Tokens per second after the first'),
    item('', `${st.exact ? '' : '≈'}${num(st.tokens)} tokens`, st.exact ? 'Generated tokens (usage)' : 'Counted chunks; the usage record never came'),
    h('span', {class: ['finish', `finish-${st.finish}`], title: FINISH_LABELS[st.finish] || st.finish}, st.finish));
}

function describe(error) {
  if (error instanceof ApiError && error.param) {
    const field = document.getElementById(`p-${error.param}`);
    if (field) field.classList.add('invalid');
  }
  if (error instanceof AuthError) return `Not authorized: ${error.message}`;
  if (error instanceof ApiError) return `${error.message}${error.param ? ` (${error.param})` : ''}`;
  return `Request failed: ${error.message}`;
}

function autosize(area) {
  area.style.height = 'auto';
  area.style.height = `${Math.min(area.scrollHeight, 240)}px`;
}
