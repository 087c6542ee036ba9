// The cluster view: GET /cluster (gateways and workers as the cluster publishes them) and GET
// /stats (this gateway's traffic, windowed) every two seconds while the view is open.

import {getJson, AuthError} from './api.js';
import {h, fill, num, ms, percent} from './dom.js';
import {LineChart} from './chart.js';

const REFRESH_MS = 2000;

export class ClusterView {
  constructor(root) {
    this.root = root;
    this.timer = null;
    this.running = false;
    this.previous = null; // {time, completed per worker id} for the cluster-wide completion rate
    this.rate = null;
    this.mode = h('span', {class: 'muted', id: 'cluster-mode'});
    this.updated = h('span', {class: 'muted small', id: 'cluster-updated', 'aria-live': 'polite'});
    this.banner = h('div', {class: 'banner banner-error', id: 'cluster-error', hidden: true, role: 'alert'});
    this.cards = h('div', {class: 'cards', id: 'cluster-cards'});
    this.scope = h('p', {class: 'muted small', id: 'traffic-scope'});
    this.throughput = new LineChart('Generated tokens per second', [{key: 'tokens_per_second', label: 'tokens/s',
      cls: 'c1'}], v => num(v, v < 10 ? 1 : 0), true);
    this.ttft = new LineChart('Time to first token', [{key: 'ttft_p50_ms', label: 'p50', cls: 'c1'},
      {key: 'ttft_p95_ms', label: 'p95', cls: 'c2'}, {key: 'ttft_p99_ms', label: 'p99', cls: 'c4'}], ms);
    this.itl = new LineChart('Inter-token latency', [{key: 'itl_p50_ms', label: 'p50', cls: 'c1'},
      {key: 'itl_p95_ms', label: 'p95', cls: 'c2'}, {key: 'itl_p99_ms', label: 'p99', cls: 'c4'}], ms);
    this.workers = h('tbody');
    this.gateways = h('tbody');
    this.workerCount = h('span', {class: 'count'});
    this.gatewayCount = h('span', {class: 'count'});
    fill(root,
      h('div', {class: 'view-head'}, h('h1', {}, 'Cluster'), this.mode, h('span', {class: 'grow'}), this.updated),
      this.banner,
      this.cards,
      h('div', {class: 'charts'}, this.throughput.element, this.ttft.element, this.itl.element),
      this.scope,
      h('h2', {}, 'Workers ', this.workerCount),
      h('div', {class: 'table-wrap'}, h('table', {class: 'grid', id: 'workers-table'},
        h('thead', {}, h('tr', {}, ...['Worker', 'State', 'Models', 'KV cache', 'Running', 'Waiting', 'Completed',
          'Prefix hits', 'Step'].map(t => h('th', {scope: 'col'}, t)))),
        this.workers)),
      h('h2', {}, 'Gateways ', this.gatewayCount),
      h('div', {class: 'table-wrap'}, h('table', {class: 'grid', id: 'gateways-table'},
        h('thead', {}, h('tr', {}, ...['Gateway', 'Cluster address', 'gRPC', 'HTTP'].map(t => h('th', {scope: 'col'}, t)))),
        this.gateways)));
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  async tick() {
    clearTimeout(this.timer);
    // A refresh that hangs must not stop the view: give up after a few seconds and try again.
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), 8000);
    try {
      const [cluster, stats] = await Promise.all([getJson('/cluster', controller.signal),
        getJson('/stats', controller.signal)]);
      this.render(cluster, stats);
      this.banner.hidden = true;
      this.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      this.banner.hidden = false;
      this.banner.textContent = e instanceof AuthError
        ? 'This server needs an API key to show the cluster.'
        : `Cannot reach the server (${e.name === 'AbortError' ? 'no answer within 8 s' : e.message}); retrying…`;
      this.root.classList.add('stale');
    } finally {
      clearTimeout(timeout);
    }
    if (this.running) this.timer = setTimeout(() => this.tick(), REFRESH_MS);
  }

  /** The cluster-wide completion rate, from the workers' counters between two refreshes. */
  completionRate(workers) {
    const now = performance.now();
    const counts = new Map(workers.map(w => [w.id, w.requests_completed]));
    if (this.previous && now - this.previous.time > 500) {
      let delta = 0;
      for (const [id, count] of counts) {
        const before = this.previous.counts.get(id);
        if (before !== undefined && count >= before) delta += count - before;
      }
      this.rate = delta / ((now - this.previous.time) / 1000);
    }
    if (!this.previous || now - this.previous.time > 500) this.previous = {time: now, counts};
    return this.rate;
  }

  render(cluster, stats) {
    this.root.classList.remove('stale');
    const workers = cluster.workers || [];
    const gateways = cluster.gateways || [];
    const allInOne = workers.length === 1 && workers[0].address === 'in-process';
    this.mode.textContent = allInOne ? 'All-in-one server (quire serve)'
      : `${gateways.length} gateway${gateways.length === 1 ? '' : 's'}, ${workers.length} worker${workers.length === 1 ? '' : 's'}`;
    this.scope.textContent = gateways.length > 1
      ? 'Throughput and latency count the requests of this gateway; worker figures cover the whole cluster.'
      : 'Charts: five-second steps over the last five minutes (or since the gateway started).';

    const ready = workers.filter(w => w.state === 'ready').length;
    const running = workers.reduce((a, w) => a + w.running, 0);
    const waiting = workers.reduce((a, w) => a + w.waiting, 0);
    const kvUsed = workers.reduce((a, w) => a + w.kv_blocks_used, 0);
    const kvTotal = workers.reduce((a, w) => a + w.kv_blocks_total, 0);
    const rate = this.completionRate(workers);
    const minute = stats.last_minute;
    fill(this.cards,
      card('Workers', `${ready} ready`, `of ${workers.length}${workers.length - ready ? ` · ${workers.length - ready} not ready` : ''}`, 'card-workers'),
      card('Running', num(running), `${num(waiting)} waiting · ${rate === null ? '–' : num(rate, 2)} done/s`, 'card-running'),
      card('KV cache', percent(kvTotal ? kvUsed / kvTotal : 0, 1), `${num(kvUsed)} / ${num(kvTotal)} blocks`, 'card-kv',
        bar(kvTotal ? kvUsed / kvTotal : 0)),
      card('Throughput', `${num(minute.generation_tokens_per_second, 1)} tok/s`,
        `${num(minute.requests_per_second, 2)} req/s · last minute`, 'card-throughput'),
      card('Time to first token', ms(minute.ttft_ms.p50), `p95 ${ms(minute.ttft_ms.p95)} · p99 ${ms(minute.ttft_ms.p99)}`, 'card-ttft'),
      card('Inter-token latency', ms(minute.itl_ms.p50), `p95 ${ms(minute.itl_ms.p95)} · p99 ${ms(minute.itl_ms.p99)}`, 'card-itl'));

    const series = stats.series;
    const seconds = series.interval_seconds;
    const perSecond = values => values.map(v => v / seconds);
    // The last interval is still running: its rate is over the part that has passed.
    const partial = Math.max(0.5, ((stats.time_ms - series.start_ms) / 1000) - (series.requests.length - 1) * seconds);
    const tokens = perSecond(series.generation_tokens);
    tokens[tokens.length - 1] = series.generation_tokens[tokens.length - 1] / Math.min(seconds, partial);
    // The charts span the time this gateway has been up: one minute at least, five at most.
    const keep = Math.max(Math.min(12, tokens.length), Math.min(tokens.length, Math.ceil(stats.uptime_seconds / seconds) + 1));
    const recent = columns => Object.fromEntries(Object.entries(columns)
      .filter(([, v]) => Array.isArray(v)).map(([k, v]) => [k, v.slice(-keep)]));
    this.throughput.update(recent({tokens_per_second: tokens}), seconds);
    this.ttft.update(recent(series), seconds);
    this.itl.update(recent(series), seconds);

    this.workerCount.textContent = String(workers.length);
    this.gatewayCount.textContent = String(gateways.length);
    fill(this.workers, ...(workers.length ? workers.map(workerRow)
      : [h('tr', {}, h('td', {colspan: 9, class: 'empty'}, 'No worker has joined yet.'))]));
    fill(this.gateways, ...gateways.map(g => h('tr', {dataset: {gatewayId: g.id}},
      cell('Gateway', h('span', {class: 'mono', title: g.id}, short(g.id)), g.self ? h('span', {class: 'tag'}, 'this one') : null),
      cell('Cluster address', h('span', {class: 'mono'}, g.address)),
      cell('gRPC', h('span', {class: 'mono'}, g.grpc || '–')),
      cell('HTTP', h('span', {class: 'mono'}, g.http || '–')))));
  }
}

function short(id) {
  return String(id).slice(0, 8);
}

function card(title, value, detail, id, extra) {
  return h('div', {class: 'card stat', id},
    h('div', {class: 'stat-title'}, title),
    h('div', {class: 'stat-value'}, value),
    extra || null,
    h('div', {class: 'stat-detail'}, detail));
}

function bar(fraction) {
  const fillEl = h('span', {class: 'bar-fill'});
  const f = Math.max(0, Math.min(1, fraction || 0));
  fillEl.style.width = `${(f * 100).toFixed(1)}%`;
  if (f > 0.9) fillEl.classList.add('hot');
  else if (f > 0.75) fillEl.classList.add('warm');
  return h('span', {class: 'bar', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100,
    'aria-valuenow': (f * 100).toFixed(0)}, fillEl);
}

function cell(label, ...children) {
  return h('td', {dataset: {label}}, ...children);
}

function workerRow(w) {
  const used = w.kv_blocks_total ? w.kv_blocks_used / w.kv_blocks_total : 0;
  const state = w.stale ? 'stale' : w.state;
  return h('tr', {dataset: {workerId: w.id}, class: `state-${state}`},
    cell('Worker', h('div', {class: 'mono', title: w.id}, short(w.id)),
      h('div', {class: 'muted small mono'}, w.address === 'in-process' ? 'in this process' : w.address)),
    cell('State', h('span', {class: ['badge', `badge-${state}`]}, state)),
    cell('Models', ...w.models.map(m => h('span', {class: 'tag'}, m))),
    cell('KV cache', h('div', {class: 'kv'}, bar(used),
      h('span', {class: 'small muted'}, `${percent(used, 1)} · ${num(w.kv_blocks_used)}/${num(w.kv_blocks_total)}`))),
    cell('Running', h('span', {class: 'figure'}, num(w.running))),
    cell('Waiting', h('span', {class: 'figure'}, num(w.waiting))),
    cell('Completed', h('span', {class: 'figure'}, num(w.requests_completed))),
    cell('Prefix hits', h('span', {class: 'figure'}, percent(w.prefix_hit_rate, 1))),
    cell('Step', h('span', {class: 'figure'}, w.step_ms ? ms(w.step_ms) : '–')));
}
