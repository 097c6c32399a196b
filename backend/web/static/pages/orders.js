// Orders: every order and fill, newest first, filtered by symbol and time (UTC), paginated.

import { api, query } from '../api.js';
import { badge, card, fill, h, table, tone } from '../dom.js';
import { decimal, money, signed, when } from '../format.js';

export const title = 'Orders';
export const admin = true;
export const every = 10000;
const LIMIT = 50;

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
    card('Orders', orders),
    card('Fills', fills),
    h('div', { class: 'actions pager' }, newer, older),
    h('p', { class: 'notice', id: 'runs-waiting', text: 'Cycles with their skipped orders and reasons need GET /execution/runs, which this version of the service does not serve yet.' }));

  async function refresh(signal) {
    const params = { symbol: symbol.value.trim().toUpperCase(), since: utcParam(since.value), until: utcParam(until.value), limit: LIMIT, offset };
    const body = await api(`/trades${query(params)}`, { signal });
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
