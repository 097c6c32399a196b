// Settings: every effective value with its source and, when an override shadows it, the
// environment's value too; a tunable one is changed in place through PUT /settings (the server's
// validation message is shown next to it when it refuses) and an override is cleared through
// DELETE /settings/{name}, returning the setting to its environment value.

import { api, app } from '../api.js';
import { badge, h } from '../dom.js';

export const title = 'Settings';
export const admin = true;
export const every = 30000;

function text(value) {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const SOURCE_TONE = { default: '', env: 'info', override: 'warn' };

export function create(root) {
  const filter = h('input', { id: 'settings-filter', type: 'search', name: 'filter', placeholder: 'name, section or words', autocomplete: 'off' });
  const tunableOnly = h('input', { id: 'settings-tunable', type: 'checkbox', name: 'tunable' });
  const section = h('select', { id: 'settings-section', name: 'section' }, h('option', { value: '', text: 'all' }));
  const body = h('tbody');
  const rows = new Map(); // name -> { tr, value, source, input }
  root.append(
    h('p', { class: 'hint', text: 'Tunable settings apply at once, without a restart, and persist as overrides; the others come from the environment (backend/.env) and need a restart.' }),
    h('div', { class: 'filters', role: 'search' },
      h('label', { for: 'settings-filter', text: 'Find' }), filter,
      h('label', { for: 'settings-section', text: 'Section' }), section,
      h('label', { class: 'check' }, tunableOnly, ' tunable only')),
    h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Settings' },
      h('table', { class: 'settings' },
        h('thead', {}, h('tr', {}, ['Setting', 'Value', 'Source', 'Without override', 'Change'].map((t) => h('th', { scope: 'col', text: t })))),
        body)));

  function applyFilter() {
    const words = filter.value.trim().toLowerCase();
    for (const row of rows.values()) {
      const hay = `${row.item.name} ${row.item.section} ${row.item.description}`.toLowerCase();
      row.tr.hidden = (tunableOnly.checked && !row.item.tunable) || (section.value && row.item.section !== section.value) || Boolean(words && !hay.includes(words));
    }
  }
  filter.addEventListener('input', applyFilter);
  section.addEventListener('change', applyFilter);
  tunableOnly.addEventListener('change', applyFilter);

  async function save(row) {
    row.message.textContent = '';
    row.message.className = 'message';
    row.input.setAttribute('aria-invalid', 'false');
    try {
      const answer = await api('/settings', { method: 'PUT', body: { [row.item.name]: row.input.value } });
      const change = answer.changed[row.item.name];
      update(answer.settings, true);
      row.message.textContent = change ? `Saved: ${text(change.before)} → ${text(change.after)}` : 'Unchanged.';
      row.message.classList.add('good');
    } catch (err) {
      row.message.textContent = err.message;
      row.message.classList.add('error');
      row.input.setAttribute('aria-invalid', 'true');
    }
  }

  async function clear(row) {
    row.message.textContent = '';
    row.message.className = 'message';
    try {
      const answer = await api(`/settings/${encodeURIComponent(row.item.name)}`, { method: 'DELETE' });
      update(answer.settings, true);
      row.message.textContent = `Override cleared: ${text(answer.before)} → ${text(answer.after)} (${row.item.environment_source}).`;
      row.message.classList.add('good');
    } catch (err) {
      row.message.textContent = err.message;
      row.message.classList.add('error');
    }
  }

  function build(item) {
    const id = `setting-${item.name}`;
    const value = h('code', { class: 'value' });
    const source = h('span');
    const environment = h('span');
    const row = { item, value, source, environment };
    let change = h('span', { class: 'hint', text: item.secret ? 'secret' : 'restart' });
    if (item.tunable) {
      row.input = h('input', { id, name: item.name, autocomplete: 'off', spellcheck: false, 'aria-describedby': `${id}-message` });
      row.message = h('span', { class: 'message', id: `${id}-message`, role: 'status', 'aria-live': 'polite' });
      row.clear = h('button', { type: 'button', class: 'secondary', text: 'Clear override', 'aria-label': `Clear the override of ${item.name}`, dataset: { focus: `clear-${item.name}` } });
      row.clear.addEventListener('click', () => clear(row));
      const form = h('form', { class: 'inline', 'aria-label': `Change ${item.name}` },
        h('label', { for: id, class: 'visually-hidden', text: `New value of ${item.name}` }), row.input,
        h('button', { type: 'submit', class: 'secondary', text: 'Save', disabled: !app.signedIn }), row.clear, row.message);
      form.addEventListener('submit', (event) => { event.preventDefault(); save(row); });
      change = form;
    }
    row.tr = h('tr', { dataset: { name: item.name } },
      h('th', { scope: 'row' }, h('code', { text: item.name }), h('br'), h('small', { text: `${item.section} · ${item.description}` })),
      h('td', { 'data-label': 'Value' }, value), h('td', { 'data-label': 'Source' }, source),
      h('td', { 'data-label': 'Without override' }, environment), h('td', {}, change));
    rows.set(item.name, row);
    body.append(row.tr);
    return row;
  }

  // In place: a value being typed is never overwritten by a refresh.
  function update(items, saved = false) {
    for (const item of items) {
      if (![...section.options].some((o) => o.value === item.section)) section.append(h('option', { value: item.section, text: item.section }));
      const row = rows.get(item.name) || build(item);
      row.item = item;
      row.value.textContent = text(item.value);
      row.source.replaceChildren(badge(item.source, SOURCE_TONE[item.source]));
      const shadowed = item.source === 'override';
      row.environment.replaceChildren(shadowed
        ? h('span', {}, h('code', { text: text(item.environment_value) }), ' ', badge(item.environment_source, SOURCE_TONE[item.environment_source]))
        : h('span', { class: 'hint', text: 'same' }));
      if (row.clear) {
        row.clear.hidden = !shadowed;
        row.clear.disabled = !app.signedIn;
      }
      if (row.input && (saved || (document.activeElement !== row.input && row.input.value === row.input.defaultValue))) {
        row.input.value = text(item.value);
        row.input.defaultValue = text(item.value);
      }
    }
    applyFilter();
  }

  async function refresh(signal) {
    update((await api('/settings', { signal })).settings);
  }

  return { refresh };
}
