// The console's entry point: views, the API key prompt, the side panes on small screens.

import {getJson, onAuthRequired, setApiKey, apiKey, keyRemembered, AuthError} from './api.js';
import {$, $$, toast} from './dom.js';
import {Playground} from './playground.js';
import {ClusterView} from './cluster.js';

class App {
  constructor() {
    this.keyRequired = false;
    this.keyDismissed = false; // the prompt was cancelled: wait for the user to ask for it again
    this.playground = new Playground(this);
    this.cluster = new ClusterView($('#view-cluster'));
    this.bind();
    this.route();
    this.connect();
    document.body.dataset.app = 'running';
  }

  bind() {
    window.addEventListener('hashchange', () => this.route());
    onAuthRequired(() => this.askForKey(false));
    $('#key-form').addEventListener('submit', e => {
      e.preventDefault();
      const key = $('#key-input').value.trim();
      if (!key) return;
      setApiKey(key, $('#key-remember').checked);
      this.keyDismissed = false;
      $('#key-dialog').close();
      this.connect();
    });
    $('#key-cancel').addEventListener('click', () => $('#key-dialog').close());
    $('#key-dialog').addEventListener('cancel', () => {
      this.keyDismissed = true;
    });
    $('#key-cancel').addEventListener('click', () => {
      this.keyDismissed = true;
    });
    $('#key-button').addEventListener('click', () => {
      if (apiKey()) {
        setApiKey('', false);
        toast('The API key was forgotten by this browser');
        this.updateKeyButton();
        this.connect();
      } else {
        this.askForKey(true);
      }
    });
    $('#code-close').addEventListener('click', () => $('#code-dialog').close());
    $$('[data-open-pane]').forEach(b => b.addEventListener('click', () => this.openPane(b.dataset.openPane)));
    $$('[data-close-pane]').forEach(b => b.addEventListener('click', () => this.closePanes()));
    $('#backdrop').addEventListener('click', () => this.closePanes());
    document.addEventListener('keydown', e => {
      if (e.key === 'Escape') this.closePanes();
    });
  }

  route() {
    const view = location.hash === '#cluster' ? 'cluster' : 'playground';
    $('#view-playground').hidden = view !== 'playground';
    $('#view-cluster').hidden = view !== 'cluster';
    $$('.tabs a').forEach(a => a.setAttribute('aria-current', a.getAttribute('href') === `#${view}` ? 'page' : 'false'));
    document.title = view === 'cluster' ? 'Cluster · Quire' : 'Playground · Quire';
    this.closePanes();
    if (view === 'cluster') this.cluster.start();
    else this.cluster.stop();
  }

  openPane(id) {
    this.closePanes();
    $(`#${id}`).classList.add('open');
    document.body.classList.add('pane-open');
  }

  closePanes() {
    $$('.pane.open').forEach(p => p.classList.remove('open'));
    document.body.classList.remove('pane-open');
  }

  setStatus(text, kind) {
    const pill = $('#server-status');
    pill.textContent = text;
    pill.dataset.state = kind;
  }

  updateKeyButton() {
    const button = $('#key-button');
    button.hidden = !this.keyRequired && !apiKey();
    button.textContent = apiKey() ? 'Forget key' : 'API key';
    button.title = apiKey() ? (keyRemembered() ? 'The key is kept on this device' : 'The key is kept in this tab') : '';
  }

  /** Loads what the playground needs; a 401 asks for a key instead. */
  async connect() {
    this.setStatus('Connecting…', 'pending');
    try {
      const models = await this.playground.load();
      this.setStatus(models.length ? `${models.length === 1 ? models[0].id : `${models.length} models`} · ready`
        : 'No model yet', models.length ? 'ok' : 'pending');
      if (!models.length) setTimeout(() => this.connect(), 3000);
    } catch (e) {
      if (e instanceof AuthError) {
        this.setStatus('API key needed', 'auth');
      } else {
        this.setStatus('Offline', 'error');
        setTimeout(() => this.connect(), 5000);
      }
    }
    this.updateKeyButton();
  }

  /** Shows the key prompt; a refused request opens it unless the user closed it (the key button always does). */
  askForKey(asked) {
    this.keyRequired = true;
    this.updateKeyButton();
    this.setStatus('API key needed', 'auth');
    const dialog = $('#key-dialog');
    if (dialog.open || (this.keyDismissed && !asked)) return;
    $('#key-error').hidden = !apiKey();
    $('#key-input').value = '';
    setApiKey('', false);
    dialog.showModal();
    $('#key-input').focus();
  }
}

new App();
