// Orders: the recent rebalance cycles (GET /execution/runs) with, for the one opened, every order
// with its fills and fees and every skipped order with its reason (dust shown as dust); then every
// order and fill. One filter (symbol, time in UTC) applies to all of them.

import { api, query } from '../api.js';
import { actionButton, badge, card, facts, fill, h, table, tone } from '../dom.js';
import { decimal, money, seconds, signed, when } from '../format.js';

export const title = 'Orders';
export const admin = true;
export const every = 10000;
const LIMIT = 50;
const CYCLES = 10;
const KINDS = {
  below_minimum: 'below the minimum order (close to target)',
  dust: 'dust (below the exchange minimum)',
  limit: 'position limit',
  risk_refused: 'refused by the risk guard',
  kill_switch: 'kill switch',
  max_orders: 'beyond the order cap',
  cash: 'not enough cash',
  exchange_filter: 'exchange filter',
  market: 'no market data',
  stopped: 'cycle stopped',
  other: 'other',
};
const KIND_TONE = { below_minimum: '', dust: 'warn', kill_switch: 'bad', risk_refused: 'bad', stopped: 'bad' };

function kinds(counts) {
  const parts = Object.entries(counts || {}).map(([kind, n]) => `${n} ${KINDS[kind] || kind}`);
  return parts.length ? parts.join(', ') : '—';
}

function runDetail(run, symbol) {
  const mine = (row) => !symbol || row.symbol === symbol;
  const r = run.run;
  const orders = run.orders.filter(mine);
  const skipped = run.skipped.filter(mine);
  const errors = Object.entries(run.errors);
  const fees = orders.reduce((sum, o) => sum + Number(o.fees_quote), 0);
  return h('div', { id: 'run-detail', dataset: { run: String(r.id) } },
    h('h3', { text: `Cycle #${r.id}${symbol ? ` — ${symbol} only` : ''}` }),
    facts([
      ['Status', badge(r.status, tone(r.status))],
      ['Started', when(r.started_at)],
      ['Took', seconds(r.duration_seconds)],
      r.reason ? ['Reason', r.reason] : null,
      ['Equity after', money(r.equity)],
      ['Orders', `${r.orders_planned} planned, ${r.orders_submitted} sent, ${r.orders_skipped} skipped, ${r.orders_failed} failed`],
      ['Fees', money(fees)],
      run.dust.length ? ['Dust held', run.dust.map((d) => `${d.symbol} ${decimal(d.quantity)} (${d.reason})`).join('; ')] : null,
      run.unresolved_orders.length ? ['Unknown outcome', run.unresolved_orders.join(', ')] : null,
    ]),
    table({
      caption: 'The plan: orders sent (or saved, then refused or skipped)',
      columns: [
        { label: 'Symbol', cell: (o) => o.symbol },
        { label: 'Side', cell: (o) => badge(o.side, o.side === 'BUY' ? 'good' : 'warn') },
        { label: 'Status', cell: (o) => badge(o.status, tone(o.status)) },
        { label: 'Requested', num: true, cell: (o) => decimal(o.requested_quantity) },
        { label: 'Executed', num: true, cell: (o) => decimal(o.executed_quantity) },
        { label: 'Quote', num: true, cell: (o) => money(o.quote_quantity) },
        { label: 'Fills', num: true, cell: (o) => o.fills.length },
        { label: 'Average price', num: true, cell: (o) => (Number(o.executed_quantity) > 0 ? decimal(String(Number(o.quote_quantity) / Number(o.executed_quantity)), { maxDigits: 6 }) : '—') },
        { label: 'Fees (quote)', num: true, cell: (o) => money(o.fees_quote) },
        { label: 'Note or reason', cell: (o) => [o.error_code ? `${o.error_code}: ` : '', o.error_message || o.note || ''].join('') || '—' },
      ],
      rows: orders,
      empty: 'No order in this cycle.',
    }),
    table({
      caption: 'Skipped, with the reason',
      className: 'skipped',
      columns: [
        { label: 'Symbol', cell: (s) => s.symbol },
        { label: 'Side', cell: (s) => s.side },
        { label: 'Would have been', num: true, cell: (s) => money(s.notional) },
        { label: 'Kind', cell: (s) => badge(KINDS[s.kind] || s.kind, KIND_TONE[s.kind] ?? 'info') },
        { label: 'Reason', cell: (s) => s.reason },
      ],
      rows: skipped,
      empty: 'Nothing skipped.',
    }),
    errors.length ? table({
      caption: 'Errors',
      columns: [{ label: 'Where', cell: ([k]) => h('code', { text: k }) }, { label: 'Error', cell: ([, v]) => v }],
      rows: errors,
    }) : null);
}

// <input type="datetime-local"> holds no zone: the form says UTC, so the value is read as UTC.
function utcParam(value) {
  if (!value) return '';
  return value.length === 16 ? `${value}:00Z` : `${value}Z`; // "YYYY-MM-DDTHH:MM" or with seconds
}

export function create(root, ctx) {
  const symbol = h('input', { id: 'orders-symbol', name: 'symbol', placeholder: 'e.g. BTCUSDT', autocomplete: 'off', pattern: '[A-Za-z0-9]{2,20}', size: 12 });
  const since = h('input', { id: 'orders-since', name: 'since', type: 'datetime-local' });
  const until = h('input', { id: 'orders-until', name: 'until', type: 'datetime-local' });
  const summary = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const orders = h('div');
  const fills = h('div');
  const cycles = h('div');
  const detail = h('div', { 'aria-live': 'polite' });
  let opened = null; // the cycle whose detail is shown
  let offset = 0;
  const older = h('button', { type: 'button', class: 'secondary', text: 'Older', id: 'orders-older' });
  const newer = h('button', { type: 'button', class: 'secondary', text: 'Newer', id: 'orders-newer' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter orders' },
    h('label', { for: 'orders-symbol', text: 'Symbol' }), symbol,
    h('label', { for: 'orders-since', text: 'From (UTC)' }), since,
    h('label', { for: 'orders-until', text: 'Before (UTC)' }), until,
    h('button', { type: 'submit', class: 'primary', text: 'Filter' }),
    h('button', { type: 'reset', class: 'secondary', text: 'Clear' }));
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; ctx.refresh(); });
  form.addEventListener('reset', () => { offset = 0; setTimeout(ctx.refresh); });
  older.addEventListener('click', () => { offset += LIMIT; ctx.refresh(); });
  newer.addEventListener('click', () => { offset = Math.max(0, offset - LIMIT); ctx.refresh(); });
  root.append(form, summary,
    card('Cycles', cycles, detail),
    card('Orders', orders),
    card('Fills', fills),
    h('div', { class: 'actions pager' }, newer, older));

  async function showRun(id, filter, signal) {
    opened = id;
    fill(detail, runDetail(await api(`/execution/runs/${id}`, { signal }), filter));
  }

  async function refresh(signal) {
    const params = { symbol: symbol.value.trim().toUpperCase(), since: utcParam(since.value), until: utcParam(until.value), limit: LIMIT, offset };
    const [body, runs] = await Promise.all([
      api(`/trades${query(params)}`, { signal }),
      api(`/execution/runs${query({ kind: 'cycle', symbol: params.symbol, since: params.since, until: params.until, limit: CYCLES })}`, { signal }),
    ]);
    if (opened === null && runs.runs.length) opened = runs.runs[0].id;
    fill(cycles, table({
      caption: `The ${runs.runs.length} latest of ${runs.total} cycles${params.symbol ? ` touching ${params.symbol}` : ''}`,
      className: 'cycles',
      columns: [
        { label: 'Cycle', num: true, cell: (r) => `#${r.id}` },
        { label: 'Started', cell: (r) => when(r.started_at) },
        { label: 'Status', cell: (r) => badge(r.status, tone(r.status)) },
        { label: 'Planned', num: true, cell: (r) => r.orders_planned },
        { label: 'Sent', num: true, cell: (r) => r.orders_submitted },
        { label: 'Failed', num: true, cell: (r) => r.orders_failed },
        { label: 'Skipped', num: true, cell: (r) => r.orders_skipped },
        { label: 'Why skipped', cell: (r) => kinds(r.skipped_by_kind) },
        { label: 'Equity after', num: true, cell: (r) => money(r.equity) },
        { label: 'Took', num: true, cell: (r) => seconds(r.duration_seconds) },
        { label: 'Detail', cell: (r) => actionButton(opened === r.id ? 'Shown' : 'Show', () => showRun(r.id, params.symbol).then(() => ctx.refresh()), { focus: `run-${r.id}`, name: `Show cycle ${r.id}` }) },
      ],
      rows: runs.runs.map((r) => ({ ...r, _class: opened === r.id ? 'selected' : '' })),
      empty: 'No cycle matches.',
    }));
    if (opened !== null) await showRun(opened, params.symbol, signal);
    else fill(detail);
    summary.textContent = `Orders ${Math.min(body.orders_total, offset + 1)}–${Math.min(body.orders_total, offset + body.orders.length)} of ${body.orders_total}; fills ${Math.min(body.fills_total, offset + 1)}–${Math.min(body.fills_total, offset + body.fills.length)} of ${body.fills_total}.`;
    newer.disabled = offset === 0;
    older.disabled = offset + LIMIT >= Math.max(body.orders_total, body.fills_total);
    fill(orders, table({
      caption: 'Orders, newest first',
      columns: [
        { label: 'Created', cell: (o) => when(o.created_at) },
        { label: 'Cycle', num: true, cell: (o) => (o.run_id ?? '—') },
        { label: 'Symbol', cell: (o) => o.symbol },
        { label: 'Side', cell: (o) => badge(o.side, o.side === 'BUY' ? 'good' : 'warn') },
        { label: 'Status', cell: (o) => badge(o.status, tone(o.status)) },
        { label: 'Requested', num: true, cell: (o) => decimal(o.requested_quantity) },
        { label: 'Executed', num: true, cell: (o) => decimal(o.executed_quantity) },
        { label: 'Quote', num: true, cell: (o) => money(o.quote_quantity) },
        { label: 'Reference price', num: true, cell: (o) => decimal(o.reference_price) },
        { label: 'Reason', cell: (o) => [o.error_code ? `${o.error_code}: ` : '', o.error_message || o.note || ''].join('') || '—' },
      ],
      rows: body.orders,
      empty: 'No order matches.',
    }));
    fill(fills, table({
      caption: 'Fills, newest first',
      columns: [
        { label: 'Time', cell: (f) => when(f.time) },
        { label: 'Symbol', cell: (f) => f.symbol },
        { label: 'Side', cell: (f) => badge(f.side, f.side === 'BUY' ? 'good' : 'warn') },
        { label: 'Price', num: true, cell: (f) => decimal(f.price) },
        { label: 'Quantity', num: true, cell: (f) => decimal(f.quantity) },
        { label: 'Fee', num: true, cell: (f) => `${decimal(f.fee)} ${f.fee_asset}` },
        { label: 'Fee (quote)', num: true, cell: (f) => money(f.fee_quote) },
        { label: 'Realised PnL', num: true, cell: (f) => signed(f.realised_pnl) },
        { label: 'Order', cell: (f) => h('code', { text: f.client_order_id }) },
      ],
      rows: body.fills,
      empty: 'No fill matches.',
    }));
  }

  return { refresh };
}
