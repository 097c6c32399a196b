// Model: the active model against its baselines and its activation gates, every training run
// with its metrics and gates, activation (also the rollback; a run that failed a gate is activated
// only as forced, said so before and after) and a new training run.

import { api, app } from '../api.js';
import { actionButton, badge, card, confirmDialog, facts, fill, h, table, tone } from '../dom.js';
import { fixed, pct, seconds, when } from '../format.js';

export const title = 'Model';
export const admin = false;
export const every = 15000;

function gatesCell(report) {
  if (!report) return '—';
  const failed = report.gates.filter((g) => !g.passed);
  return [
    badge(report.passed ? 'all passed' : `failed: ${report.failed.join(', ')}`, report.passed ? 'good' : 'bad'),
    failed.length ? h('ul', { class: 'gate-reasons' }, failed.map((g) => h('li', { text: `${g.name}: ${g.reason}` }))) : null,
  ];
}

function gatesTable(report) {
  return table({
    caption: 'Activation gates',
    className: 'gates',
    columns: [
      { label: 'Gate', cell: (g) => h('code', { text: g.name }) },
      { label: 'Result', cell: (g) => badge(g.passed ? 'passed' : 'failed', g.passed ? 'good' : 'bad') },
      { label: 'Model', num: true, cell: (g) => fixed(g.model, 4) },
      { label: 'Baseline', num: true, cell: (g) => fixed(g.baseline, 4) },
      { label: 'Why', cell: (g) => g.reason },
    ],
    rows: report.gates,
  });
}

export function create(root, ctx) {
  const active = h('div');
  const runs = h('div');
  const status = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite' });
  const days = h('input', { id: 'train-days', name: 'days', type: 'number', min: 1, max: 1000, value: 30, inputmode: 'numeric' });
  const policy = h('select', { id: 'train-activate', name: 'activate' },
    h('option', { value: 'auto', text: 'auto: only if every gate passes' }),
    h('option', { value: 'never', text: 'never: record only' }),
    h('option', { value: 'force', text: 'force: activate anyway' }));
  const train = h('form', { class: 'filters', 'aria-label': 'Train a model' },
    h('label', { for: 'train-days', text: 'Days of history' }), days,
    h('label', { for: 'train-activate', text: 'Activation' }), policy,
    h('button', { type: 'submit', class: 'primary', text: 'Train' }));
  train.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const body = await api('/ai/train', { method: 'POST', body: { days: Number(days.value), activate: policy.value } });
      status.textContent = `Training run #${body.run_id} (${body.version}) started; this page follows it.`;
      await ctx.refresh();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  const trainCard = card('Train a new model', train);
  root.append(card('Active model', active), status, card('Training runs', runs), trainCard);

  async function activate(run) {
    const failed = run.gates && !run.gates.passed ? run.gates.failed : [];
    const warning = failed.length ? ` It FAILED its gates (${failed.join(', ')}): it would be activated as forced.` : '';
    const ok = await confirmDialog({ title: `Activate ${run.version}?`, message: `Its artifact is verified first; the universe blend uses it from the next refresh. Activating an older version is the rollback.${warning}`, confirmLabel: failed.length ? 'Activate anyway' : 'Activate', danger: failed.length > 0 });
    if (ok === null) return '';
    const body = await api(`/ai/models/${encodeURIComponent(run.version)}/activate`, { method: 'POST' });
    await ctx.refresh();
    const forced = body.forced ? ` — forced: failed ${body.failed_gates.join(', ')}` : '';
    return `Active: ${body.active_version} (was ${body.previous_version || 'none'}), status ${body.status}${forced}.`;
  }

  function renderActive(info) {
    const b = info.baseline_comparison;
    fill(active,
      h('p', { class: `big ${info.status === 'active' ? 'good' : 'warn'}`, text: info.active_version || 'no active model' }),
      facts([
        ['Status', `${info.status}${info.reason ? ` — ${info.reason}` : ''}`],
        info.active_version ? ['Trained', when(info.trained_at)] : null,
        info.active_version ? ['Activated', when(info.activated_at)] : null,
        info.interval ? ['Bars', `${info.interval}, horizon ${info.horizon_bars} bars`] : null,
        info.features?.length ? ['Features', `${info.features.length} (version ${info.feature_version})`] : null,
        b ? ['Log loss', `${fixed(b.model_log_loss, 4)} vs class prior ${fixed(b.class_prior_log_loss, 4)}, always-HOLD ${fixed(b.always_hold_log_loss, 4)}`] : null,
        b ? ['Accuracy', `${pct(b.model_accuracy, 1)} vs always-HOLD ${pct(b.always_hold_accuracy, 1)}`] : null,
        info.active_version ? ['Gates', info.forced ? badge(`forced: failed ${info.failed_gates.join(', ')}`, 'bad') : badge(info.gates ? 'all passed' : 'not recorded', info.gates ? 'good' : '')] : null,
        ['Training', info.training_in_progress ? 'a run is in progress' : 'idle'],
      ]),
      info.gates ? gatesTable(info.gates) : null);
  }

  function renderRuns(body) {
    fill(runs, table({
      caption: `${body.total} runs, newest first`,
      columns: [
        { label: 'Version', cell: (r) => [h('code', { text: r.version }), r.is_active ? [' ', badge('active', 'good')] : null] },
        { label: 'Status', cell: (r) => [badge(r.status, tone(r.status)), r.error ? h('small', { class: 'error', text: ` ${r.error}` }) : null] },
        { label: 'Started', cell: (r) => when(r.started_at) },
        { label: 'Took', num: true, cell: (r) => seconds(r.duration_seconds) },
        { label: 'Log loss', num: true, cell: (r) => fixed(r.metrics_summary?.log_loss, 4) },
        { label: 'Class prior', num: true, cell: (r) => fixed(r.metrics_summary?.class_prior_log_loss, 4) },
        { label: 'Accuracy', num: true, cell: (r) => pct(r.metrics_summary?.accuracy, 1) },
        { label: 'Gates', cell: (r) => gatesCell(r.gates) },
        { label: 'Action', cell: (r) => (r.status === 'completed' && !r.is_active ? actionButton('Activate', () => activate(r), { status, focus: `activate-${r.version}`, name: `Activate ${r.version}` }) : '') },
      ],
      rows: body.items,
      empty: 'No training run yet.',
    }));
  }

  async function refresh(signal) {
    const signed = app.signedIn;
    const [info, list] = await Promise.all([api('/ai/model-info', { signal }), signed ? api('/ai/runs', { signal }) : null]);
    renderActive(info);
    trainCard.hidden = !signed;
    if (list) renderRuns(list);
    else fill(runs, h('p', { class: 'hint' }, 'The run history and activation need the admin token: ',
      h('button', { type: 'button', class: 'link', text: 'sign in', on: { click: () => app.requestSignIn() } }), '.'));
  }

  return { refresh };
}
