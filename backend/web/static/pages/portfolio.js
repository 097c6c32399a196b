// Portfolio: equity, cash and exposure; positions at mark with unrealised PnL and the share of
// each cap they use (per symbol and gross, from the risk guard's limits).

import { api } from '../api.js';
import { card, fill, h, table } from '../dom.js';
import { decimal, money, pct, signed, when } from '../format.js';

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

export function create(root) {
  const stats = h('div', { class: 'stats', role: 'group', 'aria-label': 'Totals' });
  const limits = h('div');
  const positions = h('div');
  const balances = h('div');
  const history = h('div');
  root.append(stats,
    card('Equity, cash and exposure', history),
    card('Positions', positions),
    h('div', { class: 'grid two' }, card('Limits used', limits), card('Balances', balances)));

  fill(history, h('p', { class: 'notice', id: 'history-waiting' },
    'The curves need GET /portfolio/history, which this version of the service does not serve yet.'));

  async function refresh(signal) {
    const [p, risk] = await Promise.all([api('/portfolio', { signal }), api('/risk', { signal })]);
    const q = p.quote_asset;
    const caps = risk.limits;
    fill(stats,
      stat('Equity', money(p.equity, q), ['marks ', when(p.marks_as_of)]),
      stat('Cash', money(p.cash, q)),
      stat('Gross exposure', money(p.gross_exposure, q), caps.max_gross_exposure ? `cap ${money(caps.max_gross_exposure, q)}` : 'no cap'),
      stat('Realised PnL', signed(p.realised_pnl, q)),
      stat('Unrealised PnL', signed(p.unrealised_pnl, q)),
      stat('Fees paid', money(p.fees_paid, q)));
    fill(positions, table({
      caption: `${p.positions.length} positions on the ${p.exchange} exchange${p.last_run_id ? `, last cycle #${p.last_run_id}` : ''}`,
      columns: [
        { label: 'Symbol', cell: (r) => h('strong', { text: r.symbol }) },
        { label: 'Quantity', num: true, cell: (r) => decimal(r.quantity) },
        { label: 'Average cost', num: true, cell: (r) => decimal(r.average_cost) },
        { label: 'Mark', num: true, cell: (r) => decimal(r.mark) },
        { label: `Value (${q})`, num: true, cell: (r) => money(r.market_value) },
        { label: 'Unrealised PnL', num: true, cell: (r) => h('span', { class: pnlClass(r.unrealised_pnl), text: signed(r.unrealised_pnl) }) },
        { label: 'Realised PnL', num: true, cell: (r) => h('span', { class: pnlClass(r.realised_pnl), text: signed(r.realised_pnl) }) },
        { label: 'Fees', num: true, cell: (r) => money(r.fees_paid) },
        { label: 'Symbol cap used', cell: (r) => used(r.market_value, caps.max_position_per_symbol) },
      ],
      rows: p.positions,
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
