// Overview: health and its reasons, the kill switch with its button, the scheduler's jobs with
// pause/resume and run-now. Health and the scheduler are public; the controls need the token.

import { api, app } from '../api.js';
import { actionButton, badge, card, confirmDialog, facts, fill, h, table, tone } from '../dom.js';
import { seconds, when } from '../format.js';

export const title = 'Overview';
export const admin = false;
export const every = 5000;

export function create(root, ctx) {
  const health = h('div');
  const kill = h('div');
  const scheduler = h('div');
  const status = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite', id: 'overview-status' });
  root.append(h('div', { class: 'grid two' }, card('Health', health), card('Kill switch', kill)), card('Scheduler', scheduler), status);

  const controlsHint = () => (app.signedIn ? null : h('p', { class: 'hint' }, 'The controls need the admin token: ',
    h('button', { type: 'button', class: 'link', text: 'sign in', on: { click: () => app.requestSignIn() } }), '.'));

  async function setKill(enabled, reason) {
    const body = await api('/risk/kill-switch', { method: 'POST', body: { enabled, reason: reason || null } });
    await ctx.refresh();
    return `Kill switch is now ${body.kill_switch.enabled ? 'ON: no order will be sent' : 'off'}.`;
  }

  function killControls(state) {
    if (!app.signedIn) return controlsHint();
    const buttons = [];
    if (state.enabled) {
      buttons.push(actionButton('Turn kill switch off', async () => {
        const reason = await confirmDialog({ title: 'Turn the kill switch off?', message: 'Orders will be sent again on the next cycle.', confirmLabel: 'Turn off', reason: true });
        return reason === null ? '' : setKill(false, reason);
      }, { status, className: 'primary', focus: 'kill-off' }));
    } else {
      buttons.push(actionButton('Turn kill switch on', async () => {
        const reason = await confirmDialog({ title: 'Turn the kill switch on?', message: 'No order at all will pass the risk guard until it is turned off.', confirmLabel: 'Turn on', reason: true, danger: true });
        return reason === null ? '' : setKill(true, reason);
      }, { status, className: 'danger', focus: 'kill-on' }));
    }
    if (state.override !== null && state.override !== undefined) {
      buttons.push(actionButton('Back to the default', async () => {
        const reason = await confirmDialog({ title: 'Clear the override?', message: `The kill switch returns to QT_KILL_SWITCH (${state.default ? 'on' : 'off'}).`, confirmLabel: 'Clear override', reason: true });
        return reason === null ? '' : setKill(null, reason);
      }, { status, focus: 'kill-default' }));
    }
    return h('div', { class: 'actions' }, buttons);
  }

  function renderKill(healthBody, risk) {
    const state = risk?.kill_switch || { enabled: healthBody.kill_switch };
    fill(kill,
      h('p', { class: `big ${state.enabled ? 'bad' : 'good'}`, id: 'kill-state', text: state.enabled ? 'ON — no orders' : 'off — trading allowed' }),
      risk ? facts([
        ['Set by', state.override === null ? `default (QT_KILL_SWITCH=${state.default})` : state.actor || '—'],
        ['Reason', state.reason || '—'],
        ['Since', when(state.updated_at)],
      ]) : null,
      killControls(state));
  }

  function renderHealth(body) {
    fill(health,
      h('p', { class: `big ${tone(body.status)}`, text: body.status }),
      facts([
        ['Version', body.version],
        ['Environment', body.environment],
        ['Up for', seconds(body.uptime_seconds)],
        ['Database', body.database.reachable ? 'reachable' : `unreachable: ${body.database.error}`],
        ['Admin auth', body.admin_auth],
        ['Scheduler', `${body.scheduler.running ? 'running' : 'stopped'}${body.scheduler.paused ? ', paused' : ''} (${body.scheduler.role})`],
      ]),
      body.reasons.length ? h('ul', { class: 'reasons', 'aria-label': 'Reasons' }, body.reasons.map((r) => h('li', { text: r }))) : h('p', { class: 'hint', text: 'No problem reported.' }));
  }

  async function runJob(id) {
    status.textContent = `${id}: running…`;
    const body = await api(`/scheduler/jobs/${encodeURIComponent(id)}/run`, { method: 'POST' });
    await ctx.refresh();
    const run = body.run;
    return `${id}: ${run.status} in ${seconds(run.duration_seconds)}${run.error ? ` — ${run.error}` : ''}`;
  }

  function renderScheduler(body) {
    const signed = app.signedIn;
    const pause = body.paused
      ? actionButton('Resume scheduled runs', async () => { await api('/scheduler/resume', { method: 'POST' }); await ctx.refresh(); return 'Scheduler resumed.'; }, { status, focus: 'resume', disabled: !signed })
      : actionButton('Pause scheduled runs', async () => { await api('/scheduler/pause', { method: 'POST' }); await ctx.refresh(); return 'Scheduler paused: manual runs still work.'; }, { status, focus: 'pause', disabled: !signed });
    const jobs = Object.entries(body.jobs).map(([id, job]) => ({ id, ...job }));
    fill(scheduler,
      facts([
        ['State', `${body.running ? 'running' : 'stopped'}${body.paused ? ', paused' : ''}`],
        ['Role', body.role],
        ['Symbols', (body.symbols || []).join(', ')],
      ]),
      h('div', { class: 'actions' }, pause),
      controlsHint(),
      table({
        caption: 'Jobs',
        columns: [
          { label: 'Job', cell: (j) => [h('strong', { text: j.id }), h('br'), h('small', { text: j.description || '' })] },
          { label: 'Trigger', cell: (j) => (j.enabled ? j.trigger : 'not scheduled') },
          { label: 'Last run', cell: (j) => when(j.last_run?.started_at) },
          { label: 'Outcome', cell: (j) => (j.running ? badge('running', 'info') : j.last_run ? [badge(j.last_run.status, tone(j.last_run.status)), j.last_run.error ? h('small', { class: 'error', text: ` ${j.last_run.error}` }) : null] : '—') },
          { label: 'Took', num: true, cell: (j) => seconds(j.last_run?.duration_seconds) },
          { label: 'Next run', cell: (j) => (body.paused ? 'paused' : when(j.next_run_time)) },
          { label: 'Run', cell: (j) => actionButton('Run now', () => runJob(j.id), { status, focus: `run-${j.id}`, disabled: !signed || j.running, name: `Run ${j.id} now` }) },
        ],
        rows: jobs,
        empty: 'No jobs registered.',
      }));
  }

  async function refresh(signal) {
    const [healthBody, schedulerBody, risk] = await Promise.all([
      api('/health', { signal }).catch((err) => { if (err.status === 503 && err.body) return err.body; throw err; }),
      api('/health/scheduler', { signal }),
      app.signedIn ? api('/risk', { signal }) : null,
    ]);
    renderHealth(healthBody);
    renderKill(healthBody, risk);
    renderScheduler(schedulerBody);
  }

  return { refresh };
}
