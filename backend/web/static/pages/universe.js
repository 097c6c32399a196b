// Universe: the selection in force with weights and scores, the filters' funnel, and every
// excluded symbol with the filter that removed it and why.

import { api } from '../api.js';
import { actionButton, badge, card, facts, fill, h, table, tone } from '../dom.js';
import { fixed, pct, seconds, when } from '../format.js';

export const title = 'Universe';
export const admin = true;
export const every = 15000;

export function create(root, ctx) {
  const meta = h('div');
  const selection = h('div');
  const funnel = h('div');
  const exclusions = h('div');
  const status = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite' });
  const refreshNow = actionButton('Refresh the universe now', async () => {
    const body = await api('/liquidity/refresh', { method: 'POST' });
    await ctx.refresh();
    return `Refresh ${body.job.status} in ${seconds(body.job.duration_seconds)}${body.run ? `: run #${body.run.run_id}, ${body.run.selection.length} symbols` : ''}.`;
  }, { status, focus: 'liquidity-refresh' });
  root.append(h('div', { class: 'actions' }, refreshNow), status,
    card('Selection in force', meta, selection),
    h('div', { class: 'grid two' }, card('Filters', funnel), card('Excluded symbols', exclusions)));

  async function refresh(signal) {
    const [body, excluded] = await Promise.all([api('/liquidity', { signal }), api('/liquidity/exclusions', { signal })]);
    const run = body.selection;
    if (!run) {
      fill(meta, h('p', { class: 'empty', text: 'No selection yet: the liquidity job has not produced one.' }));
      fill(selection);
    } else {
      fill(meta, facts([
        ['Run', `#${run.run_id}`],
        ['Made', when(run.created_at)],
        ['Status', badge(run.status, tone(run.status))],
        ['Blend', run.blend_mode],
        ['Model', run.model_version || 'none (liquidity only)'],
        ['Market', run.market_source],
        body.last_run && body.last_run.run_id !== run.run_id ? ['Newest run', `#${body.last_run.run_id} (${body.last_run.status}) is not in force`] : null,
        Object.keys(run.problems || {}).length ? ['Problems', Object.entries(run.problems).map(([k, v]) => `${k}: ${v}`).join('; ')] : null,
      ]));
      fill(selection, table({
        caption: `${run.selection.length} symbols`,
        columns: [
          { label: 'Rank', num: true, cell: (s) => s.rank },
          { label: 'Symbol', cell: (s) => h('strong', { text: s.symbol }) },
          { label: 'Weight', num: true, cell: (s) => pct(s.weight) },
          { label: 'Liquidity score', num: true, cell: (s) => fixed(s.liquidity_score) },
          { label: 'Model score', num: true, cell: (s) => (s.model_score === null ? '—' : fixed(s.model_score)) },
          { label: 'Blended', num: true, cell: (s) => fixed(s.blended_score) },
          { label: 'Model view', cell: (s) => (s.model_action ? `${s.model_action} (${pct(s.model_confidence, 0)})${s.strong_sell ? ', strong sell' : ''}` : '—') },
        ],
        rows: run.selection,
      }));
    }
    const filters = (body.last_run || run)?.analytics?.filters || [];
    fill(funnel, table({
      caption: 'Filter chain (newest run)',
      columns: [
        { label: 'Filter', cell: (f) => [h('strong', { text: f.filter }), h('br'), h('small', { text: f.description })] },
        { label: 'In', num: true, cell: (f) => f.input },
        { label: 'Removed', num: true, cell: (f) => f.removed },
      ],
      rows: filters,
      empty: 'No run yet.',
    }));
    const rows = Object.entries(excluded.exclusions).map(([symbol, e]) => ({ symbol, ...e }));
    fill(exclusions, table({
      caption: excluded.run_id ? `Run #${excluded.run_id}` : 'No run yet',
      columns: [
        { label: 'Symbol', cell: (e) => e.symbol },
        { label: 'Filter', cell: (e) => e.filter },
        { label: 'Reason', cell: (e) => e.reason },
      ],
      rows,
      empty: 'Nothing excluded.',
    }));
  }

  return { refresh };
}
