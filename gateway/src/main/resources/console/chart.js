// Small line charts drawn as SVG paths: no chart library. The plot stretches to its box
// (non-scaling strokes keep lines crisp); labels are plain HTML around it.

import {h, s, fill} from './dom.js';

const W = 300;
const H = 100;

/** A chart card; update() redraws it from new columns. */
export class LineChart {
  /**
   * @param title  card title
   * @param lines  [{key, label, cls}]: which columns to draw and how
   * @param format value formatter for labels
   * @param area   whether the first line gets a filled area
   */
  constructor(title, lines, format, area = false) {
    this.lines = lines;
    this.format = format;
    this.area = area;
    this.legend = h('div', {class: 'chart-legend'});
    this.max = h('span', {class: 'chart-max'});
    this.svg = s('svg', {class: 'chart-plot', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img',
      'aria-label': title});
    this.cursor = s('line', {class: 'chart-cursor', x1: 0, x2: 0, y1: 0, y2: H, 'vector-effect': 'non-scaling-stroke'});
    this.start = h('span', {}, '');
    this.element = h('figure', {class: 'card chart'},
      h('figcaption', {}, h('span', {class: 'chart-title'}, title), this.legend),
      h('div', {class: 'chart-box'}, this.max, this.svg),
      h('div', {class: 'chart-axis'}, this.start, h('span', {}, 'now')));
    this.data = null;
    this.hover = -1;
    this.svg.addEventListener('pointermove', e => this.pointer(e));
    this.svg.addEventListener('pointerleave', () => {
      this.hover = -1;
      this.draw();
    });
  }

  pointer(event) {
    if (!this.data) return;
    const box = this.svg.getBoundingClientRect();
    const n = this.data.length;
    this.hover = Math.max(0, Math.min(n - 1, Math.round(((event.clientX - box.left) / box.width) * (n - 1))));
    this.draw();
  }

  /**
   * @param columns {key: [values]} with nulls where nothing was measured
   * @param seconds length of one interval
   */
  update(columns, seconds) {
    this.columns = columns;
    this.seconds = seconds;
    this.data = columns[this.lines[0].key] || [];
    this.draw();
  }

  draw() {
    const n = this.data.length;
    if (!n) return;
    let top = 0;
    for (const line of this.lines) for (const v of this.columns[line.key] || []) if (v !== null && v > top) top = v;
    top = niceCeiling(top);
    const x = i => (n === 1 ? W : (i / (n - 1)) * W);
    const y = v => H - (v / top) * (H - 4) - 1;
    const children = [];
    for (const frac of [0.25, 0.5, 0.75]) {
      children.push(s('line', {class: 'chart-grid', x1: 0, x2: W, y1: y(top * frac), y2: y(top * frac),
        'vector-effect': 'non-scaling-stroke'}));
    }
    this.lines.forEach((line, index) => {
      const values = this.columns[line.key] || [];
      let d = '';
      let open = false;
      values.forEach((v, i) => {
        if (v === null || v === undefined) {
          open = false;
          return;
        }
        d += `${open ? 'L' : 'M'}${x(i).toFixed(2)},${y(v).toFixed(2)}`;
        // A point with no measured neighbour is a dot (a round cap on a zero-length stroke).
        const next = values[i + 1];
        if (!open && (next === null || next === undefined)) d += 'h0.001';
        open = true;
      });
      if (this.area && index === 0 && d) {
        children.push(s('path', {class: `chart-area ${line.cls}`, d: `${d}L${W},${H}L0,${H}Z`}));
      }
      children.push(s('path', {class: `chart-line ${line.cls}`, d: d || 'M0,0', 'vector-effect': 'non-scaling-stroke'}));
    });
    const at = this.hover >= 0 ? this.hover : n - 1;
    if (this.hover >= 0) {
      this.cursor.setAttribute('x1', x(at));
      this.cursor.setAttribute('x2', x(at));
      children.push(this.cursor);
    }
    fill(this.svg, ...children);
    this.max.textContent = top > 0 ? this.format(top) : '';
    this.start.textContent = `−${Math.round((n * this.seconds) / 60)} min`;
    const when = this.hover >= 0 ? ` · −${clock((n - 1 - at) * this.seconds)}` : '';
    fill(this.legend, ...this.lines.map(line => {
      const values = this.columns[line.key] || [];
      const v = this.hover >= 0 ? values[at] : lastValue(values);
      return h('span', {class: ['legend-item', line.cls]}, h('i', {class: 'swatch'}), `${line.label} `,
        h('b', {}, v === null || v === undefined ? '–' : this.format(v)));
    }), when ? h('span', {class: 'legend-when'}, when) : null);
  }
}

function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
  return null;
}

function clock(seconds) {
  const m = Math.floor(seconds / 60);
  const sec = Math.round(seconds % 60);
  return `${m}:${String(sec).padStart(2, '0')}`;
}

/** 0 -> 1, 7.3 -> 8, 42 -> 50, 870 -> 1000: a round top for the axis. */
export function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}
