// charts.js — small SVG charts drawn in the page, with nothing fetched from anywhere:
// a sparkline for a KPI's month-by-month trend and a horizontal bar chart for values
// by town. Each returns an <svg> element with a text alternative (role="img", <title>).

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Colours by status; the pages always say the status in words as well. */
export const STATUS_COLOURS = {
  met: '#1a7f37',
  not_met: '#b42318',
  no_data: '#6b7280',
};

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  }
  if (text !== undefined) el.textContent = text;
  return el;
}

function root(width, height, label) {
  const el = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': label,
    focusable: 'false',
  });
  el.append(svg('title', {}, label));
  return el;
}

function finite(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * A sparkline of `values` (numbers or null for months without data), with an optional
 * dashed `target` line. Gaps stay gaps; the last known point is marked.
 */
export function sparkline(values, { width = 160, height = 40, target = null, label = '', colour = '#1d4ed8' } = {}) {
  const el = root(width, height, label);
  el.classList.add('sparkline');
  const known = values.filter(finite);
  if (known.length === 0) {
    el.append(svg('line', { x1: 2, x2: width - 2, y1: height / 2, y2: height / 2, stroke: '#9ca3af', 'stroke-dasharray': '2 3' }));
    return el;
  }
  const all = finite(target) ? [...known, target] : known;
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    hi += Math.abs(hi) * 0.1 || 1;
    lo -= Math.abs(lo) * 0.1 || 1;
  }
  const pad = 4;
  const step = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
  const x = (i) => pad + i * step;
  const y = (v) => pad + (height - 2 * pad) * (1 - (v - lo) / (hi - lo));

  if (finite(target)) {
    el.append(svg('line', {
      x1: pad, x2: width - pad, y1: y(target), y2: y(target),
      stroke: '#6b7280', 'stroke-width': 1, 'stroke-dasharray': '3 3',
    }));
  }
  // One polyline per run of known values.
  let run = [];
  const flush = () => {
    if (run.length > 1) {
      el.append(svg('polyline', {
        points: run.join(' '), fill: 'none', stroke: colour, 'stroke-width': 2,
        'stroke-linejoin': 'round', 'stroke-linecap': 'round',
      }));
    } else if (run.length === 1) {
      const [px, py] = run[0].split(',');
      el.append(svg('circle', { cx: px, cy: py, r: 1.5, fill: colour }));
    }
    run = [];
  };
  values.forEach((v, i) => {
    if (finite(v)) run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    else flush();
  });
  flush();
  let last = values.length - 1;
  while (last >= 0 && !finite(values[last])) last -= 1;
  el.append(svg('circle', { cx: x(last).toFixed(1), cy: y(values[last]).toFixed(1), r: 3, fill: colour }));
  return el;
}

/**
 * A horizontal bar chart: one row per item `{label, value, text, status}` (text: the
 * value as shown), drawn `width` pixels wide. A `target` draws a dashed vertical line.
 * Bars start at zero, so negative values point left.
 */
export function hbars(items, { width = 600, target = null, label = '', targetLabel = '' } = {}) {
  const rowHeight = 28;
  const top = finite(target) ? 18 : 6;
  const height = top + items.length * rowHeight + 6;
  const el = root(width, height, label);
  el.classList.add('hbars');

  const labelWidth = Math.min(96, Math.round(width * 0.26));
  const valueWidth = Math.min(84, Math.round(width * 0.22));
  const left = labelWidth + 6;
  const right = width - valueWidth - 6;
  const numbers = items.map((it) => it.value).filter(finite);
  if (finite(target)) numbers.push(target);
  const lo = Math.min(0, ...numbers);
  let hi = Math.max(0, ...numbers);
  if (hi === lo) hi = lo + 1;
  const x = (v) => left + ((v - lo) / (hi - lo)) * (right - left);

  items.forEach((it, i) => {
    const yMid = top + i * rowHeight + rowHeight / 2;
    el.append(svg('text', {
      x: labelWidth, y: yMid, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'hbars-label',
    }, it.label));
    if (finite(it.value)) {
      const x0 = x(0);
      const x1 = x(it.value);
      el.append(svg('rect', {
        x: Math.min(x0, x1).toFixed(1), y: (yMid - 9).toFixed(1),
        width: Math.max(1, Math.abs(x1 - x0)).toFixed(1), height: 18, rx: 2,
        fill: STATUS_COLOURS[it.status] || '#1d4ed8',
      }));
    }
    el.append(svg('text', {
      x: right + 6, y: yMid, 'dominant-baseline': 'middle', class: 'hbars-value',
    }, it.text));
  });
  // The zero axis, and the target.
  el.append(svg('line', { x1: x(0), x2: x(0), y1: top - 2, y2: height - 4, stroke: '#374151', 'stroke-width': 1 }));
  if (finite(target)) {
    el.append(svg('line', {
      x1: x(target), x2: x(target), y1: top - 4, y2: height - 4,
      stroke: '#111827', 'stroke-width': 1.5, 'stroke-dasharray': '4 3',
    }));
    el.append(svg('text', {
      x: x(target), y: 10, 'text-anchor': x(target) > width * 0.7 ? 'end' : 'middle', class: 'hbars-target',
    }, targetLabel));
  }
  return el;
}
