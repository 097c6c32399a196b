// Building the page from data without innerHTML: every text goes in as text, so nothing the API
// returns can become markup (and no inline style or handler ever reaches the DOM: the CSP forbids them).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name in el && typeof value !== 'string') el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replace a region's content, keeping keyboard focus on the control with the same data-focus key,
// so a refresh every few seconds never throws a keyboard user back to the top of the page.
export function fill(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focus : undefined;
  container.replaceChildren();
  append(container, children);
  if (key) container.querySelector(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

export function table({ caption, columns, rows, empty = 'Nothing yet.', className = '' }) {
  if (!rows.length) return h('p', { class: 'empty', text: empty });
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', { class: className },
      caption ? h('caption', { text: caption }) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : '', text: c.label })))),
      h('tbody', {}, rows.map((row) => h('tr', { class: row._class || '' },
        columns.map((c) => h('td', { class: c.num ? 'num' : '', 'data-label': c.label }, c.cell(row))))))));
}

export function card(title, ...body) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', { text: title }), ...body);
}

export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([term, value]) => [h('dt', { text: term }), h('dd', {}, value)]));
}

export function badge(text, tone = '') {
  return h('span', { class: `badge ${tone}`.trim(), text });
}

export function tone(status) {
  return { ok: 'good', filled: 'good', completed: 'good', degraded: 'warn', running: 'info', partially_filled: 'warn' }[
    String(status || '').toLowerCase()] || (status ? 'bad' : '');
}

// A modal confirmation with an optional reason field; resolves to the reason (or '') or null if cancelled.
export function confirmDialog({ title, message, confirmLabel, reason = false, danger = false }) {
  return new Promise((resolve) => {
    const input = reason ? h('input', { id: 'confirm-reason', name: 'reason', maxlength: 200, autocomplete: 'off' }) : null;
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'confirm-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'confirm-title', text: title }),
        h('p', { text: message }),
        input ? h('p', {}, h('label', { for: 'confirm-reason', text: 'Reason (written to the audit log)' }), input) : null,
        h('div', { class: 'actions' },
          h('button', { value: 'cancel', type: 'submit', class: 'secondary', text: 'Cancel' }),
          h('button', { value: 'confirm', type: 'submit', class: danger ? 'danger' : 'primary', text: confirmLabel }))));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm' ? (input ? input.value.trim() : '') : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    (input || dialog.querySelector('button.secondary')).focus();
  });
}

// A button that runs an async action, disabled meanwhile, reporting the outcome in `status`.
export function actionButton(label, action, { status, className = 'secondary', focus, disabled = false, name } = {}) {
  const button = h('button', { type: 'button', class: className, text: label, dataset: focus ? { focus } : undefined, disabled, 'aria-label': name });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const message = await action();
      if (status && message) status.textContent = message;
    } catch (err) {
      if (status) status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
