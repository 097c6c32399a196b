// Model: the active model against its baselines, every training run with its metrics and the
// class-prior gate, activation (also the rollback) and a new training run.

import { api } from '../api.js';
import { actionButton, badge, card, confirmDialog, facts, fill, h, table, tone } from '../dom.js';
import { fixed, pct, seconds, when } from '../format.js';
import { app } from '../state.js';

export const title = 'Model';
export const admin = false;
export const every = 15000;

export function create(root, ctx) {
  const active = h('div');
  const runs = h('div');
  const status = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite' });
  const days = h('input', { id: 'train-days', name: 'days', type: 'number', min: 1, max: 1000, value: 30, inputmode: 'numeric' });
  const policy = h('select', { id: 'train-activate', name: 'activate' },
    h('option', { value: 'auto', text: 'auto: only if it beats the class prior' }),
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
    const ok = await confirmDialog({ title: `Activate ${run.version}?`, message: 'Its artifact is verified first; the universe blend uses it from the next refresh. Activating an older version is the rollback.', confirmLabel: 'Activate' });
    if (ok === null) return '';
    const body = await api(`/ai/models/${encodeURIComponent(run.version)}/activate`, { method: 'POST' });
    await ctx.refresh();
    return `Active: ${body.active_version} (was ${body.previous_version || 'none'}), status ${body.status}.`;
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
        ['Training', info.training_in_progress ? 'a run is in progress' : 'idle'],
      ]));
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
        { label: 'Gate: beats prior', cell: (r) => (r.metrics_summary ? badge(r.metrics_summary.beats_class_prior ? 'passed' : 'failed', r.metrics_summary.beats_class_prior ? 'good' : 'bad') : '—') },
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
