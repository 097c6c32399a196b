// Portfolio: equity, cash and exposure over time with the drawdown (GET /portfolio/history, drawn
// with plotly); positions at mark with unrealised PnL, dust marked as dust, and the share of each
// cap they use (per symbol and gross, from the risk guard's limits).

import { api, query } from '../api.js';
import { draw } from '../charts.js';
import { card, fill, h, table } from '../dom.js';
import { decimal, money, pct, seconds, signed, when } from '../format.js';

export const title = 'Portfolio';
export const admin = true;
export const every = 10000;

function used(value, cap) {
  if (cap === null || cap === undefined || Number(cap) <= 0) return h('span', { class: 'hint', text: 'no cap' });
  const share = Math.abs(Number(value)) / Number(cap);
  return h('span', { class: 'used' },
    h('meter', { min: 0, max: 1, low: 0.75, high: 0.9, optimum: 0, value: Math.min(share, 1), 'aria-label': `${pct(share, 1)} of ${money(cap)}` }),
    ` ${pct(share, 1)}`);
}

function stat(label, value, extra) {
  return h('div', { class: 'stat' }, h('span', { class: 'label', text: label }), h('span', { class: 'value', text: value }), extra ? h('span', { class: 'hint' }, extra) : null);
}

function pnlClass(value) {
  const n = Number(value);
  return n > 0 ? 'gain' : n < 0 ? 'loss' : '';
}

const RANGES = [['all', 'everything', 0], ['1d', 'last 24 hours', 86400], ['7d', 'last 7 days', 7 * 86400], ['30d', 'last 30 days', 30 * 86400]];

function series(points, key) {
  return points.map((p) => Number(p[key]));
}

async function drawHistory(chart, body) {
  const x = body.points.map((p) => p.time);
  const q = body.quote_asset;
  const line = (name, key, colour) => ({ x, y: series(body.points, key), name, type: 'scatter', mode: 'lines', line: { color: colour, width: 2 }, hovertemplate: `%{y:,.2f} ${q}<extra>${name}</extra>` });
  await draw(chart, [
    line('Equity', 'equity', '#2f7de1'),
    line('Cash', 'cash', '#8a8f98'),
    line('Gross exposure', 'gross_exposure', '#d18a1f'),
    { x, y: body.points.map((p) => Number(p.drawdown) * 100), name: 'Drawdown', type: 'scatter', mode: 'lines', fill: 'tozeroy', yaxis: 'y2', line: { color: '#d64545', width: 1 }, hovertemplate: '%{y:.2f} %<extra>Drawdown</extra>' },
  ], {
    height: 380,
    yaxis: { domain: [0.34, 1], title: { text: q }, tickformat: ',.0f' },
    yaxis2: { domain: [0, 0.24], title: { text: 'drawdown %' }, rangemode: 'tozero', ticksuffix: ' %' },
    xaxis: { type: 'date', anchor: 'y2' },
  });
}

export function create(root) {
  const stats = h('div', { class: 'stats', role: 'group', 'aria-label': 'Totals' });
  const limits = h('div');
  const positions = h('div');
  const balances = h('div');
  const range = h('select', { id: 'history-range', name: 'range' }, RANGES.map(([value, label]) => h('option', { value, text: label })));
  const summary = h('p', { class: 'hint', id: 'history-summary', role: 'status', 'aria-live': 'polite' });
  const chart = h('div', { class: 'chart', id: 'equity-chart', role: 'img', 'aria-label': 'Equity, cash and gross exposure over time, with the drawdown from the high-water mark' });
  const empty = h('p', { class: 'empty', id: 'history-empty', hidden: true, text: 'No mark yet: one is taken after every rebalance cycle and every hour.' });
  let drawn = '';
  root.append(stats,
    card('Equity, cash and exposure',
      h('div', { class: 'filters' }, h('label', { for: 'history-range', text: 'Show' }), range),
      summary, empty, chart),
    card('Positions', positions),
    h('div', { class: 'grid two' }, card('Limits used', limits), card('Balances', balances)));

  async function history(signal) {
    const [, , span] = RANGES.find(([value]) => value === range.value);
    const since = span ? new Date(Date.now() - span * 1000).toISOString() : '';
    const body = await api(`/portfolio/history${query({ since })}`, { signal });
    const last = body.points[body.points.length - 1];
    const q = body.quote_asset;
    summary.textContent = body.points.length
      ? `${body.points.length.toLocaleString()} points${body.step_seconds ? ` (one per ${seconds(body.step_seconds)})` : ''} of ${body.marks_in_range.toLocaleString()} marks; high-water mark ${money(last.high_water, q)}, drawdown now ${pct(last.drawdown)}, deepest ${pct(body.max_drawdown)}.`
      : '';
    empty.hidden = body.points.length > 0;
    chart.hidden = body.points.length === 0;
    const key = `${range.value}|${body.points.length}|${last ? last.time : ''}`;
    if (body.points.length && key !== drawn) {
      await drawHistory(chart, body);
      chart.dataset.points = String(body.points.length);
      drawn = key;
    }
  }
  range.addEventListener('change', () => history().catch((err) => { summary.textContent = err.message; }));

  async function refresh(signal) {
    const [p, risk] = await Promise.all([api('/portfolio', { signal }), api('/risk', { signal }), history(signal)]);
    const q = p.quote_asset;
    const caps = risk.limits;
    fill(stats,
      stat('Equity', money(p.equity, q), ['marks ', when(p.marks_as_of)]),
      stat('Cash', money(p.cash, q)),
      stat('Gross exposure', money(p.gross_exposure, q), caps.max_gross_exposure ? `cap ${money(caps.max_gross_exposure, q)}` : 'no cap'),
      stat('Realised PnL', signed(p.realised_pnl, q)),
      stat('Unrealised PnL', signed(p.unrealised_pnl, q)),
      stat('Fees paid', money(p.fees_paid, q)));
    const dust = p.positions.filter((r) => r.dust).length;
    fill(positions, table({
      caption: `${p.positions.length} positions on the ${p.exchange} exchange${p.last_run_id ? `, last cycle #${p.last_run_id}` : ''}${dust ? `; ${dust} dust (below the exchange's minimum order: cannot be sold)` : ''}`,
      columns: [
        { label: 'Symbol', cell: (r) => [h('strong', { text: r.symbol }), r.dust ? [' ', h('span', { class: 'badge warn', title: r.dust, text: 'dust' })] : null] },
        { label: 'Quantity', num: true, cell: (r) => decimal(r.quantity) },
        { label: 'Average cost', num: true, cell: (r) => decimal(r.average_cost) },
        { label: 'Mark', num: true, cell: (r) => decimal(r.mark) },
        { label: `Value (${q})`, num: true, cell: (r) => money(r.market_value) },
        { label: 'Unrealised PnL', num: true, cell: (r) => h('span', { class: pnlClass(r.unrealised_pnl), text: signed(r.unrealised_pnl) }) },
        { label: 'Realised PnL', num: true, cell: (r) => h('span', { class: pnlClass(r.realised_pnl), text: signed(r.realised_pnl) }) },
        { label: 'Fees', num: true, cell: (r) => money(r.fees_paid) },
        { label: 'Symbol cap used', cell: (r) => used(r.market_value, caps.max_position_per_symbol) },
      ],
      rows: p.positions.map((r) => ({ ...r, _class: r.dust ? 'dust' : '' })),
      empty: 'No open position.',
    }));
    const m = risk.metrics;
    const largest = Math.max(0, ...p.positions.map((r) => Math.abs(Number(r.market_value))));
    const lossUsed = Number(caps.max_daily_loss) - Number(m.loss_budget_left);
    fill(limits, table({
      caption: 'Limits',
      columns: [
        { label: 'Limit', cell: (r) => r.name },
        { label: 'Now', num: true, cell: (r) => r.now },
        { label: 'Cap', num: true, cell: (r) => r.cap },
        { label: 'Used', cell: (r) => r.used },
      ],
      rows: [
        { name: 'Gross exposure', now: money(p.gross_exposure, q), cap: caps.max_gross_exposure ? money(caps.max_gross_exposure, q) : 'none', used: used(p.gross_exposure, caps.max_gross_exposure) },
        { name: 'Largest position', now: money(largest, q), cap: caps.max_position_per_symbol ? money(caps.max_position_per_symbol, q) : 'none', used: used(largest, caps.max_position_per_symbol) },
        { name: `Daily loss (${m.day})`, now: money(lossUsed, q), cap: money(caps.max_daily_loss, q), used: used(lossUsed, caps.max_daily_loss) },
        { name: 'Per-trade notional', now: `${m.trades_today} trades today`, cap: money(caps.max_notional_per_trade, q), used: '' },
      ],
    }));
    fill(balances, table({
      caption: 'Balances',
      columns: [
        { label: 'Asset', cell: (b) => b.asset },
        { label: 'Free', num: true, cell: (b) => decimal(b.free) },
        { label: 'Locked', num: true, cell: (b) => decimal(b.locked) },
      ],
      rows: p.balances,
      empty: 'No balance.',
    }));
  }

  return { refresh };
}
