// Audit: the newest lines of the admin audit log (every admin mutation and refused attempt).

import { api, query } from '../api.js';
import { badge, card, fill, h, table } from '../dom.js';
import { when } from '../format.js';

export const title = 'Audit';
export const admin = true;
export const every = 10000;
const LIMIT = 50;

function compact(value) {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function changes(entry) {
  const parts = [['before', entry.before], ['after', entry.after], ['detail', entry.detail]].filter(([, v]) => v !== null && v !== undefined);
  if (entry.raw) parts.push(['unreadable line', entry.raw]);
  if (!parts.length) return '—';
  return h('details', {}, h('summary', { text: parts.map(([k]) => k).join(', ') }),
    parts.map(([k, v]) => h('div', {}, h('strong', { text: `${k}: ` }), h('code', { text: compact(v) }))));
}

function outcomeTone(outcome) {
  if (!outcome) return '';
  if (outcome.startsWith('refused')) return 'bad';
  return outcome === 'ok' ? 'good' : 'info';
}

export function create(root, ctx) {
  let offset = 0;
  const action = h('input', { id: 'audit-action', type: 'search', name: 'action', placeholder: 'e.g. kill-switch', autocomplete: 'off', maxlength: 100 });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
    h('label', { for: 'audit-action', text: 'Action contains' }), action,
    h('button', { type: 'submit', class: 'primary', text: 'Filter' }));
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; ctx.refresh(); });
  const list = h('div');
  const older = h('button', { type: 'button', class: 'secondary', text: 'Older', id: 'audit-older' });
  const newer = h('button', { type: 'button', class: 'secondary', text: 'Newer', id: 'audit-newer' });
  older.addEventListener('click', () => { offset += LIMIT; ctx.refresh(); });
  newer.addEventListener('click', () => { offset = Math.max(0, offset - LIMIT); ctx.refresh(); });
  root.append(form, card('Admin actions, newest first', list), h('div', { class: 'actions pager' }, newer, older));

  async function refresh(signal) {
    const body = await api(`/audit${query({ limit: LIMIT, offset, action: action.value.trim() })}`, { signal });
    newer.disabled = offset === 0;
    older.disabled = !body.has_more;
    fill(list, table({
      caption: `Entries ${body.entries.length ? offset + 1 : 0}–${offset + body.entries.length}${body.has_more ? ' (older entries exist)' : ''}`,
      className: 'audit',
      columns: [
        { label: 'Time', cell: (e) => when(e.time) },
        { label: 'Action', cell: (e) => h('code', { text: e.action || '—' }) },
        { label: 'Outcome', cell: (e) => (e.outcome ? badge(e.outcome, outcomeTone(e.outcome)) : '—') },
        { label: 'Client', cell: (e) => e.client || '—' },
        { label: 'Token', cell: (e) => (e.token_fingerprint ? h('code', { text: e.token_fingerprint }) : '—') },
        { label: 'Changes', cell: changes },
      ],
      rows: body.entries,
      empty: 'No admin action recorded yet.',
    }));
  }

  return { refresh };
}
