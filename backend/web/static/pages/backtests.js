// Backtests: the recorded runs with the strategy's net return beside its baselines', one run's
// metrics book by book, its equity curves (GET /backtests/{id}/equity, drawn with plotly), its
// report (equity and drawdown, per-symbol contribution, monthly returns), and starting a new one
// (POST /backtests, admin, audited; one at a time) or cancelling one that runs (POST /backtests/{id}/cancel).

import { api, app, query } from '../api.js';
import { draw } from '../charts.js';
import { badge, card, facts, fill, h, table, tone } from '../dom.js';
import { decimal, fixed, money, pct, seconds, utc, when } from '../format.js';

export const title = 'Backtests';
export const admin = false;
export const every = 10000;

const STRATEGY = 'strategy';
const ROWS = [
  ['total_return', 'Net return', (v) => pct(v)],
  ['cagr', 'CAGR', (v) => pct(v)],
  ['volatility', 'Volatility (annual)', (v) => pct(v)],
  ['sharpe', 'Sharpe', (v) => fixed(v, 2)],
  ['sortino', 'Sortino', (v) => fixed(v, 2)],
  ['max_drawdown', 'Max drawdown', (v) => pct(v)],
  ['max_drawdown_days', 'Longest under water (days)', (v) => fixed(v, 1)],
  ['turnover', 'Turnover', (v) => fixed(v, 2)],
  ['fees', 'Fees', (v) => money(v)],
  ['orders', 'Orders', (v) => (v ?? '—')],
  ['exposure_avg', 'Average exposure', (v) => pct(v, 1)],
  ['end_equity', 'End equity', (v) => money(v)],
];

function books(metrics) {
  const names = Object.keys(metrics || {});
  return [...names.filter((n) => n === STRATEGY), ...names.filter((n) => n !== STRATEGY)];
}

// <input type="datetime-local"> holds no zone: the form says UTC.
function utcParam(value) {
  if (!value) return undefined;
  return value.length === 16 ? `${value}:00Z` : `${value}Z`;
}

const COLOURS = ['#8a8f98', '#d18a1f', '#3aa675', '#9b59b6', '#d64545'];

async function drawCurves(chart, body) {
  let other = 0;
  await draw(chart, body.curves.map((c) => {
    const colour = c.book === STRATEGY ? '#2f7de1' : COLOURS[other++ % COLOURS.length];
    return {
      x: c.points.map((p) => p.time),
      y: c.points.map((p) => Number(p.equity)),
      name: c.book,
      type: 'scatter',
      mode: 'lines',
      line: { color: colour, width: c.book === STRATEGY ? 2 : 1.5 },
      hovertemplate: `%{y:,.2f}<extra>${c.book}</extra>`,
    };
  }), { height: 340, yaxis: { title: { text: 'equity' }, tickformat: ',.0f' } });
}

function returns(r) {
  if (!r.net_returns) return '—';
  const names = books(r.net_returns);
  return names.map((n) => `${n} ${pct(r.net_returns[n])}`).join(' · ');
}

export function create(root, ctx) {
  const list = h('div');
  const detail = h('div', { id: 'backtest-detail', 'aria-live': 'polite' });
  const status = h('p', { class: 'status-line', id: 'backtest-status', role: 'status', 'aria-live': 'polite' });
  let opened = null;

  const field = (id, label, attrs) => [h('label', { for: id, text: label }), h('input', { id, name: id, ...attrs })];
  const source = h('select', { id: 'bt-source', name: 'source' }, h('option', { value: 'simulated', text: 'simulated market' }), h('option', { value: 'replay', text: 'replay (QT_REPLAY_DIR)' }));
  const form = h('form', { class: 'filters', 'aria-label': 'Start a backtest', id: 'backtest-form' },
    h('label', { for: 'bt-source', text: 'Data' }), source,
    field('bt-start', 'From (UTC)', { type: 'datetime-local' }),
    field('bt-end', 'To (UTC)', { type: 'datetime-local' }),
    field('bt-rebalance', 'Rebalance every (bars)', { type: 'number', min: 1, max: 10000, value: 4, inputmode: 'numeric' }),
    field('bt-cash', 'Starting cash', { inputmode: 'decimal', placeholder: 'QT_PAPER_STARTING_CASH', size: 10 }),
    field('bt-fee', 'Fee (bps)', { inputmode: 'decimal', placeholder: 'QT_PAPER_FEE_BPS', size: 6 }),
    field('bt-seed', 'Seed', { type: 'number', min: 0, value: 42, inputmode: 'numeric' }),
    field('bt-settings', 'Settings for this run (JSON)', { placeholder: '{"QT_LIQUIDITY_QUOTE_ASSETS": "BTC"}', size: 28, spellcheck: 'false' }),
    h('button', { type: 'submit', class: 'primary', text: 'Start' }));
  const value = (id) => form.querySelector(`#${id}`).value.trim();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { source: source.value, start: utcParam(value('bt-start')), end: utcParam(value('bt-end')), rebalance_bars: Number(value('bt-rebalance')), seed: Number(value('bt-seed')) };
    if (value('bt-cash')) body.cash = value('bt-cash');
    if (value('bt-fee')) body.fee_bps = value('bt-fee');
    status.className = 'status-line';
    try {
      if (value('bt-settings')) {
        try {
          body.settings = JSON.parse(value('bt-settings'));
        } catch (err) {
          throw new Error(`Settings for this run: not JSON (${err.message}); e.g. {"QT_LIQUIDITY_QUOTE_ASSETS": "BTC"}`);
        }
      }
      const run = await api('/backtests', { method: 'POST', body });
      opened = run.id;
      status.textContent = `Backtest #${run.id} ${run.status}; this page follows it.`;
      await ctx.refresh();
    } catch (err) {
      status.textContent = err.message;
      status.classList.add('error');
    }
  });
  const startCard = card('Start a backtest', form, status);
  // outside #backtest-detail, which is refilled on every poll: the chart is drawn once per run
  const curves = h('p', { class: 'hint', id: 'backtest-curves', role: 'status', 'aria-live': 'polite' });
  const chart = h('div', { class: 'chart', id: 'backtest-chart', role: 'img', hidden: true, 'aria-label': "Equity of the strategy and of each baseline over the backtest's range" });
  let drawn = null;
  root.append(card('Backtests', list), card('One run', detail, curves, chart), startCard);

  async function showCurves(run, signal) {
    if (run.status !== 'completed') {
      chart.hidden = true;
      curves.textContent = '';
      delete chart.dataset.run;
      drawn = null;
      return;
    }
    if (drawn === run.id) return;
    const body = await api(`/backtests/${run.id}/equity`, { signal });
    chart.hidden = false;
    await drawCurves(chart, body);
    const first = body.curves[0];
    curves.textContent = first
      ? `${body.curves.length} equity curves, ${first.points.length.toLocaleString()} points each${first.step > 1 ? ` (one per ${first.step} of the run's ${first.points_in_run.toLocaleString()})` : ''}.`
      : 'No equity curve.';
    chart.dataset.run = String(run.id);
    drawn = run.id;
  }

  // POST /backtests/{id}/cancel (admin, audited): its worker is stopped, the run recorded failed
  async function cancel(id) {
    status.className = 'status-line';
    try {
      const run = await api(`/backtests/${id}/cancel`, { method: 'POST' });
      status.textContent = `Backtest #${run.id} cancelled.`;
    } catch (err) {
      status.textContent = err.message;
      status.classList.add('error');
    }
    await ctx.refresh();
  }

  async function show(id, signal) {
    opened = id;
    const run = await api(`/backtests/${id}`, { signal });
    const names = books(run.metrics);
    const d = run.data_range || {};
    fill(detail,
      h('h3', { text: `Backtest #${run.id}` }),
      facts([
        ['Status', [badge(run.status, tone(run.status)), run.error ? h('small', { class: 'error', text: ` ${run.error}` }) : null]],
        ['Created', when(run.created_at)],
        run.duration_seconds !== null ? ['Took', seconds(run.duration_seconds)] : null,
        d.start ? ['Data', `${d.data || ''}, ${d.interval || ''} bars, ${utc(new Date(d.start))} to ${utc(new Date(d.end))} (${decimal(String(d.bars ?? ''))} bars)`] : null,
        app.signedIn && (run.status === 'queued' || run.status === 'running')
          ? ['Stop', h('button', { type: 'button', class: 'secondary', id: 'backtest-cancel', text: 'Cancel this run', 'aria-label': `Cancel backtest ${run.id}`, on: { click: () => cancel(run.id) } })]
          : null,
        run.report_url ? ['Report', h('a', { href: run.report_url, target: '_blank', rel: 'noopener', id: 'backtest-report', text: 'equity and drawdown curves, per-symbol contribution, monthly returns (opens the report)' })] : null,
      ]),
      run.warnings && run.warnings.length
        ? h('ul', { class: 'warnings', id: 'backtest-warnings', 'aria-label': 'Warnings of this run' }, ...run.warnings.map((w) => h('li', { text: w })))
        : null,
      names.length ? table({
        caption: 'The strategy beside its baselines',
        className: 'metrics',
        columns: [{ label: 'Metric', cell: (row) => row[1] },
          ...names.map((n) => ({ label: n, num: true, cell: (row) => row[2](run.metrics[n][row[0]]) }))],
        rows: ROWS.filter(([key]) => names.some((n) => run.metrics[n][key] !== undefined)),
      }) : h('p', { class: 'empty', text: run.status === 'failed' ? 'No metrics: the run failed.' : 'No metrics yet: the run is not finished.' }));
    await showCurves(run, signal);
  }

  async function refresh(signal) {
    const body = await api(`/backtests${query({ limit: 20 })}`, { signal });
    startCard.hidden = !app.signedIn;
    if (opened === null && body.items.length) opened = body.items[0].id;
    fill(list, table({
      caption: `${body.total} backtests, newest first`,
      className: 'backtests',
      columns: [
        { label: 'Run', num: true, cell: (r) => `#${r.id}` },
        { label: 'Status', cell: (r) => badge(r.status, tone(r.status)) },
        { label: 'Created', cell: (r) => when(r.created_at) },
        { label: 'Took', num: true, cell: (r) => seconds(r.duration_seconds) },
        { label: 'Net return', cell: (r) => returns(r) },
        { label: 'Detail', cell: (r) => h('button', { type: 'button', class: 'secondary', text: opened === r.id ? 'Shown' : 'Show', 'aria-label': `Show backtest ${r.id}`, dataset: { focus: `bt-${r.id}` }, on: { click: () => show(r.id).then(() => ctx.refresh()) } }) },
      ],
      rows: body.items.map((r) => ({ ...r, _class: opened === r.id ? 'selected' : '' })),
      empty: 'No backtest yet.',
    }));
    if (opened !== null) await show(opened, signal);
    else {
      fill(detail, h('p', { class: 'empty', text: 'Start one below (admin), or from the command line: make backtest.' }));
      chart.hidden = true;
    }
  }

  return { refresh };
}
