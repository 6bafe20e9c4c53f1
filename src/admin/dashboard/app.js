// Warden dashboard: fetches /dashboard/data and draws every chart as plain SVG. No libraries,
// no other origin (the page's Content-Security-Policy forbids both). Every text taken from the
// data (model, provider, key names) goes in through textContent, never as markup.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#2457c5', '#e8833a', '#2e9e6b', '#b8428c', '#7a5cc7', '#c9a227', '#1f9bb5', '#d0473b',
                 '#6b7f2a', '#8c6d4f', '#5b8def', '#f2a65a', '#57b894', '#d77fb3', '#a08be0', '#e3c45a'];
const OUTCOME = { ok: '#2e9e6b', refused: '#7a8594', client: '#d97706', server: '#c62828' };
const REFRESH_MS = 15000;

let windowName = '1h';
let latest = null;

function el(tag, attrs, text) {
  const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- number formats -------------------------------------------------------------------------
function fmtCount(v) {
  if (v >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(0) + 'k';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return String(Math.round(v * 100) / 100);
}
function fmtUsd(v) {
  if (v === 0) return '$0';
  if (v >= 100) return '$' + v.toFixed(0);
  if (v >= 1) return '$' + v.toFixed(2);
  if (v >= 0.01) return '$' + v.toFixed(3);
  return '$' + v.toPrecision(2);
}
// Budget figures: cents shown from $1 up, so "left" never rounds up to the limit.
function fmtBudget(v) { return v >= 1 ? '$' + v.toFixed(2) : fmtUsd(v); }
function fmtMs(v) { return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ms'; }
function fmtPct(v) { return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + '%'; }
function fmtTime(unix) {
  const d = new Date(unix * 1000);
  return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
}
function fmtDay(day) { return day.slice(5); }  // MM-DD

// A round axis maximum at or above v: 1, 2 or 5 × 10^k.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// One colour per name (model, provider, entity type, refusal reason, key) across every chart
// of the page: the names of the whole document, sorted, take the palette in turn.
let colours = new Map();
function assignColours(d) {
  const names = new Set();
  const add = (byName) => Object.keys(byName || {}).forEach((n) => names.add(n));
  for (const k of ['cost_by_model', 'cost_by_provider', 'tokens_by_model', 'tokens_by_provider', 'redactions',
                   'refusals_by_reason']) add(d.recent[k]);
  for (const k of ['cost_by_model', 'cost_by_provider', 'tokens_by_model', 'tokens_by_provider']) add(d.daily[k]);
  d.top_keys.forEach((k) => names.add(k.id));
  colours = new Map([...names].sort().map((n, i) => [n, PALETTE[i % PALETTE.length]]));
}
function colourOf(name) { return colours.get(name) || PALETTE[0]; }

// Series of a name → values object, largest total first, each in its name's colour.
function seriesFrom(byName) {
  const list = Object.entries(byName || {}).map(([name, values]) => ({
    name, values, total: values.reduce((a, b) => a + b, 0), color: colourOf(name),
  }));
  list.sort((a, b) => b.total - a.total || a.name.localeCompare(b.name));
  return list;
}

// ---- charts ---------------------------------------------------------------------------------
const H = 190, PAD = { l: 52, r: 8, t: 8, b: 22 };

// The plot is drawn at the figure's own pixel width (no scaling), so text keeps its size.
function frame(figure, labels, max, fmt) {
  for (const old of figure.querySelectorAll('svg, .legend, table')) old.remove();
  const W = Math.max(320, figure.clientWidth - 24);
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img' });
  const plotH = H - PAD.t - PAD.b;
  for (const f of [0, 0.5, 1]) {
    const y = PAD.t + plotH * (1 - f);
    svg.appendChild(el('svg:line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'axis' }));
    svg.appendChild(el('svg:text', { x: PAD.l - 6, y: y + 3, 'text-anchor': 'end' }, fmt(max * f)));
  }
  const n = labels.length;
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(W / 90))));
  const slot = (W - PAD.l - PAD.r) / Math.max(n, 1);
  for (let i = 0; i < n; i += every) {
    svg.appendChild(el('svg:text', { x: PAD.l + slot * (i + 0.5), y: H - 6, 'text-anchor': 'middle' }, labels[i]));
  }
  figure.appendChild(svg);
  return { svg, slot, W, y: (v) => PAD.t + plotH * (1 - v / max) };
}

// The legend names each series and, when `fmt` is given, its total over the chart, so the
// figures read without hovering.
function legend(figure, series, fmt) {
  const box = el('div', { class: 'legend' });
  for (const s of series) {
    const item = el('span', { 'data-series': s.name });
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = s.color;  // CSSOM, allowed by the CSP (no inline style attribute)
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(s.label || s.name));
    if (fmt && s.total !== undefined) item.appendChild(el('b', { class: 'total' }, fmt(s.total)));
    box.appendChild(item);
  }
  figure.appendChild(box);
}

function empty(figure, svg, W, text) {
  svg.appendChild(el('svg:text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, text));
  figure.dataset.points = '0';
}

// Stacked bars, one column per point; fmt formats values (axis and tooltips).
function bars(figure, labels, series, fmt) {
  const totals = labels.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const { svg, slot, W, y } = frame(figure, labels, max, fmt);
  let marks = 0;
  const width = Math.max(1, slot * 0.78);
  labels.forEach((label, i) => {
    let base = 0;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (v <= 0) continue;
      const top = y(base + v), bottom = y(base);
      const rect = el('svg:rect', {
        x: PAD.l + slot * i + (slot - width) / 2, y: top, width, height: Math.max(1, bottom - top), fill: s.color,
        'data-series': s.name,
      });
      rect.appendChild(el('svg:title', {}, `${label} · ${s.label || s.name}: ${fmt(v)}`));
      svg.appendChild(rect);
      base += v;
      marks++;
    }
  });
  figure.dataset.points = String(marks);
  if (!marks) empty(figure, svg, W, 'Nothing in this window');
  for (const s of series) if (s.total === undefined) s.total = s.values.reduce((a, b) => a + (b || 0), 0);
  legend(figure, series.filter((s) => s.total > 0), fmt);
}

// Lines over the points that have a value (null = no value, e.g. no upstream request).
function lines(figure, labels, series, fmt) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const max = niceMax(Math.max(0, ...all));
  const { svg, slot, W, y } = frame(figure, labels, max, fmt);
  let marks = 0;
  for (const s of series) {
    const pts = [];
    s.values.forEach((v, i) => { if (v !== null) pts.push([i, PAD.l + slot * (i + 0.5), y(v), v]); });
    if (pts.length > 1) {
      const path = pts.map(([, cx, cy]) => `${cx.toFixed(1)},${cy.toFixed(1)}`).join(' ');
      svg.appendChild(el('svg:polyline', { points: path, fill: 'none', stroke: s.color, 'stroke-width': 1.5 }));
    }
    for (const [i, cx, cy, v] of pts) {
      const dot = el('svg:circle', { cx, cy, r: 2.5, fill: s.color, 'data-series': s.name });
      dot.appendChild(el('svg:title', {}, `${labels[i]} · ${s.label || s.name}: ${fmt(v)}`));
      svg.appendChild(dot);
      marks++;
    }
  }
  figure.dataset.points = String(marks);
  if (!marks) empty(figure, svg, W, 'Nothing in this window');
  legend(figure, series);
}

// A table figure: `columns` are [heading, class] pairs; fill(table) appends one row per item and
// returns how many; with none, one row says `none`.
function tableFigure(figure, cls, columns, none, fill) {
  for (const old of figure.querySelectorAll('svg, .legend, table')) old.remove();
  const table = el('table', { class: cls });
  const head = el('tr');
  for (const [text, c] of columns) head.appendChild(el('th', c ? { class: c } : {}, text));
  table.appendChild(head);
  const rows = fill(table);
  if (!rows) {
    const row = el('tr');
    row.appendChild(el('td', { colspan: columns.length }, none));
    table.appendChild(row);
  }
  figure.appendChild(table);
  figure.dataset.points = String(rows);
}

function topKeys(figure, keys) {
  tableFigure(figure, 'keys', [['Key', ''], ['Name', ''], ['Requests', 'num'], ['Tokens', 'num'], ['Spend', 'num'], ['', '']],
              'No usage in the last 30 days', (table) => keyRows(table, keys));
}

function keyRows(table, keys) {
  const max = Math.max(0, ...keys.map((k) => k.cost_usd));
  for (const k of keys) {
    const row = el('tr', { 'data-key': k.id });
    const id = el('td');
    id.appendChild(el('code', {}, k.id));
    row.appendChild(id);
    row.appendChild(el('td', {}, k.name || '–'));
    row.appendChild(el('td', { class: 'num' }, fmtCount(k.requests)));
    row.appendChild(el('td', { class: 'num' }, fmtCount(k.tokens)));
    row.appendChild(el('td', { class: 'num' }, fmtUsd(k.cost_usd)));
    const cell = el('td', { class: 'bar' });
    const svg = el('svg:svg', { viewBox: '0 0 100 8', preserveAspectRatio: 'none', width: '100%', height: 8 });
    svg.appendChild(el('svg:rect', { x: 0, y: 0, height: 8, width: max > 0 ? Math.max(0.5, 100 * k.cost_usd / max) : 0.5, fill: colourOf(k.id) }));
    cell.appendChild(svg);
    row.appendChild(cell);
    table.appendChild(row);
  }
  return keys.length;
}

// Budgets: spent against the limit for each key and tag budget and period, the policy's alert
// percentages drawn as ticks on the bar, the figures written out.
function budgets(figure, rows) {
  tableFigure(figure, 'keys budgets',
              [['Budget', ''], ['Policy', ''], ['Period', ''], ['Spent', 'num'], ['Limit', 'num'], ['Left', 'num'], ['', '']],
              'No key or tag has a budget', (table) => budgetRows(table, rows));
}

function budgetRows(table, rows) {
  for (const b of rows) {
    const used = b.limit_usd > 0 ? Math.min(1, b.spent_usd / b.limit_usd) : 0;
    const crossed = b.alert_at.filter((p) => 100 * used >= p);
    const row = el('tr', { 'data-budget': `${b.kind}:${b.id}:${b.period}`, class: used >= 1 ? 'over' : crossed.length ? 'warn' : '' });
    const who = el('td');
    who.appendChild(el('code', {}, b.kind === 'tag' ? b.id : (b.name || b.id)));
    if (b.kind === 'key' && b.name) who.appendChild(el('small', {}, ' ' + b.id));
    row.appendChild(who);
    row.appendChild(el('td', {}, b.policy));
    row.appendChild(el('td', {}, b.period === 'day' ? 'today' : 'this month'));
    row.appendChild(el('td', { class: 'num' }, fmtBudget(b.spent_usd)));
    row.appendChild(el('td', { class: 'num' }, fmtBudget(b.limit_usd)));
    row.appendChild(el('td', { class: 'num' }, fmtBudget(b.remaining_usd)));
    const cell = el('td', { class: 'bar' });
    const svg = el('svg:svg', { viewBox: '0 0 100 10', preserveAspectRatio: 'none', width: '100%', height: 10 });
    svg.appendChild(el('svg:rect', { x: 0, y: 0, width: 100, height: 10, class: 'track' }));
    svg.appendChild(el('svg:rect', { x: 0, y: 0, height: 10, width: Math.max(0.5, 100 * used), class: 'spent' }));
    for (const p of b.alert_at) {
      const tick = el('svg:line', { x1: p, x2: p, y1: 0, y2: 10, class: 'threshold', 'data-percent': p });
      tick.appendChild(el('svg:title', {}, `alert at ${p}%`));
      svg.appendChild(tick);
    }
    cell.appendChild(svg);
    cell.appendChild(el('small', {}, `${fmtPct(100 * used)} · alerts at ${b.alert_at.join(', ')}%`));
    row.appendChild(cell);
    table.appendChild(row);
  }
  return rows.length;
}

// ---- the page -------------------------------------------------------------------------------
function tile(name, value, sub, bad) {
  const t = document.querySelector(`[data-tile="${name}"]`);
  t.querySelector('.value').textContent = value;
  t.querySelector('.sub').textContent = sub || '';
  t.classList.toggle('bad', Boolean(bad));
}

function chart(name) { return document.querySelector(`[data-chart="${name}"]`); }

function render(d) {
  const r = d.recent, tot = d.totals;
  assignColours(d);
  const labels = r.t.map(fmtTime);
  // Refusals (policy, rate limits, budgets) are the gateway doing its job: counted apart, with
  // their reasons, never as errors.
  const errors = tot.client_errors + tot.server_errors;
  const rate = tot.requests ? 100 * errors / tot.requests : 0;
  tile('requests', fmtCount(tot.requests), `${fmtCount(tot.requests / (r.t.length * r.step_seconds / 60))} per minute`);
  tile('error_rate', fmtPct(rate), `${fmtCount(tot.server_errors)} 5xx · ${fmtCount(tot.client_errors)} 4xx · refusals not counted`,
       tot.requests && 100 * tot.server_errors / tot.requests >= 1);
  const reasons = Object.entries(tot.refusals_by_reason || {}).sort((a, b) => b[1] - a[1]);
  tile('refusals', fmtCount(tot.refusals), reasons.map(([code, n]) => `${code} ${fmtCount(n)}`).join(' · ') || 'none');
  tile('spend_today', fmtUsd(tot.cost_usd_today));
  tile('tokens_today', fmtCount(tot.tokens_today));
  tile('overhead', tot.overhead_p99_ms ? `${fmtMs(tot.overhead_p50_ms)} / ${fmtMs(tot.overhead_p99_ms)}` : '–',
       'time not spent upstream');
  tile('failovers', fmtCount(tot.failovers), `${fmtCount(tot.retries)} retries on the same deployment`);
  tile('redactions', fmtCount(tot.redactions), 'values kept from providers');
  for (const small of document.querySelectorAll('.window-label'))
    small.textContent = `last ${windowName}, per ${r.step_seconds / 60} min, since this process started` +
        (d.replica ? ` — replica ${d.replica} only (the 30 days and budgets are the fleet's)` : '');

  const ok = r.requests.map((n, i) => n - r.client_errors[i] - r.server_errors[i] - r.refusals[i]);
  bars(chart('requests'), labels, [
    { name: 'ok', label: 'served', values: ok, color: OUTCOME.ok },
    { name: 'refused', label: 'refused by policy', values: r.refusals, color: OUTCOME.refused },
    { name: 'client', label: '4xx', values: r.client_errors, color: OUTCOME.client },
    { name: 'server', label: '5xx', values: r.server_errors, color: OUTCOME.server },
  ], fmtCount);
  bars(chart('refusals'), labels, seriesFrom(r.refusals_by_reason), fmtCount);
  const pct = (a) => a.map((n, i) => (r.requests[i] ? 100 * n / r.requests[i] : null));
  lines(chart('error_rate'), labels, [
    { name: 'server', label: '5xx %', values: pct(r.server_errors), color: OUTCOME.server },
    { name: 'client', label: '4xx %', values: pct(r.client_errors), color: OUTCOME.client },
  ], fmtPct);
  bars(chart('failovers'), labels, [
    { name: 'failovers', label: 'failovers (next deployment)', values: r.failovers, color: PALETTE[1] },
    { name: 'retries', label: 'retries (same deployment)', values: r.retries, color: PALETTE[4] },
  ], fmtCount);
  const has = r.overhead_p99_ms.map((v) => v > 0);
  lines(chart('overhead'), labels, [
    { name: 'p50', values: r.overhead_p50_ms.map((v, i) => (has[i] ? v : null)), color: PALETTE[0] },
    { name: 'p99', values: r.overhead_p99_ms.map((v, i) => (has[i] ? v : null)), color: PALETTE[7] },
  ], fmtMs);
  bars(chart('redactions'), labels, seriesFrom(r.redactions), fmtCount);
  bars(chart('cost_by_model'), labels, seriesFrom(r.cost_by_model), fmtUsd);
  bars(chart('cost_by_provider'), labels, seriesFrom(r.cost_by_provider), fmtUsd);
  bars(chart('tokens_by_model'), labels, seriesFrom(r.tokens_by_model), fmtCount);
  bars(chart('tokens_by_provider'), labels, seriesFrom(r.tokens_by_provider), fmtCount);

  const days = d.daily.days.map(fmtDay);
  bars(chart('daily_cost_by_model'), days, seriesFrom(d.daily.cost_by_model), fmtUsd);
  bars(chart('daily_cost_by_provider'), days, seriesFrom(d.daily.cost_by_provider), fmtUsd);
  bars(chart('daily_tokens_by_model'), days, seriesFrom(d.daily.tokens_by_model), fmtCount);
  bars(chart('daily_tokens_by_provider'), days, seriesFrom(d.daily.tokens_by_provider), fmtCount);
  topKeys(chart('top_keys'), d.top_keys);
  budgets(chart('budgets'), d.budgets || []);
  document.getElementById('updated').textContent = 'updated ' + new Date(d.now * 1000).toLocaleTimeString();
  document.body.dataset.loaded = String(d.now);
}

async function refresh() {
  try {
    const res = await fetch('/dashboard/data?window=' + encodeURIComponent(windowName), { credentials: 'same-origin' });
    if (res.status === 401) { window.location.reload(); return; }  // the session ended: show the login
    if (!res.ok) throw new Error('HTTP ' + res.status);
    latest = await res.json();
    render(latest);
  } catch (e) {
    document.getElementById('updated').textContent = 'update failed: ' + e.message;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  for (const b of document.querySelectorAll('#window button')) {
    b.addEventListener('click', () => {
      windowName = b.dataset.window;
      for (const o of document.querySelectorAll('#window button')) o.classList.toggle('active', o === b);
      refresh();
    });
  }
  refresh();
  setInterval(refresh, REFRESH_MS);
  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (latest) render(latest); }, 150);
  });
});
