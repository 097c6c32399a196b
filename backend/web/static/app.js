// The shell: navigation between pages without reloads, the admin token (sign in / sign out), the
// status pills, and polling — each page's refresh runs on a timer while the tab is visible.

import { api, ApiError, app, onApiError, token } from './api.js';
import { h } from './dom.js';
import { ago, refreshTimes } from './format.js';

const PAGES = ['overview', 'portfolio', 'orders', 'universe', 'model', 'backtests', 'settings', 'audit'];
const HEALTH_EVERY_MS = 5000;
const main = document.getElementById('main');

let current = null; // { name, page (the module), view (what it built), controller, timer, busy }
let lastUpdate = null;

function pageName(path = location.pathname) {
  const name = path.replace(/^\/ui\/?/, '').split('/')[0] || 'overview';
  return PAGES.includes(name) ? name : 'overview';
}

async function open(name, { focus = false } = {}) {
  stop();
  for (const link of document.querySelectorAll('nav.tabs a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const controller = new AbortController();
  current = { name, controller, page: null, view: null, timer: null, busy: false };
  const page = await import(`./pages/${name}.js`);
  if (current?.controller !== controller) return;
  current.page = page;
  document.title = `${page.title} · Quantum Trader`;
  main.replaceChildren(h('h1', { text: page.title }));
  if (page.admin && !app.signedIn) {
    showTokenScreen('missing');
  } else {
    app.authScreen = null;
    current.view = page.create(main, { signal: controller.signal, refresh: () => refresh() });
    await refresh();
    current.timer = setInterval(() => document.visibilityState === 'visible' && refresh(), page.every || 10000);
  }
  if (focus) main.focus();
}

function stop() {
  if (!current) return;
  clearInterval(current.timer);
  current.controller.abort();
  current = null;
}

async function refresh() {
  const state = current;
  if (!state?.view?.refresh || state.busy || app.authScreen) return;
  state.busy = true;
  try {
    await state.view.refresh(state.controller.signal);
    lastUpdate = new Date();
    window.__qtFirstData ??= performance.now(); // the page benchmark's "data shown" time
    setProblem('');
  } catch (err) {
    if (err.name === 'AbortError') return;
    if (!(err instanceof ApiError && err.auth)) setProblem(err instanceof ApiError ? `${err.path}: ${err.message}` : `service unreachable: ${err.message}`);
  } finally {
    state.busy = false;
    showUpdated();
  }
}

function setProblem(text) {
  document.getElementById('problem').textContent = text;
}

function showUpdated() {
  document.getElementById('updated').textContent = lastUpdate ? `Updated ${ago(lastUpdate)}` : '';
}

// --- the admin token -----------------------------------------------------------------------------

function showTokenScreen(reason) {
  app.authScreen = reason;
  const title = current?.page?.title || 'Quantum Trader';
  const message = reason === 'refused'
    ? 'The service refused that token (403). Type the admin token again.'
    : 'This page needs the admin token (QT_ADMIN_TOKEN). It is kept in this tab only and sent as the X-Admin-Token header.';
  const input = h('input', { id: 'token-input', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: false });
  const form = h('form', { class: 'card token-form', 'aria-labelledby': 'token-title' },
    h('h2', { id: 'token-title', text: reason === 'refused' ? 'Token refused' : 'Admin token needed' }),
    h('p', { class: reason === 'refused' ? 'error' : '', text: message, role: reason === 'refused' ? 'alert' : undefined }),
    h('p', {}, h('label', { for: 'token-input', text: 'Admin token' }), input),
    h('button', { type: 'submit', class: 'primary', text: 'Sign in' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    renderAuth();
    open(current?.name || pageName(), { focus: true });
  });
  main.replaceChildren(h('h1', { text: title }), form);
  input.focus();
}

function renderAuth() {
  const box = document.getElementById('auth');
  if (app.adminOpen) {
    box.replaceChildren(h('span', { class: 'pill warn', text: 'admin auth disabled' }));
  } else if (token.get()) {
    box.replaceChildren(h('button', { type: 'button', class: 'secondary', id: 'logout', text: 'Sign out', on: { click: signOut } }));
  } else {
    box.replaceChildren(h('button', { type: 'button', class: 'secondary', id: 'login', text: 'Sign in', on: { click: () => showTokenScreen('missing') } }));
  }
}

function signOut() {
  token.clear();
  renderAuth();
  open(current?.name || pageName(), { focus: true });
}

app.requestSignIn = () => showTokenScreen('missing');

onApiError((err) => {
  if (!err.auth || app.adminOpen) return;
  if (err.status === 403) token.clear();
  renderAuth();
  showTokenScreen(err.status === 403 ? 'refused' : 'missing');
});

// --- status pills --------------------------------------------------------------------------------

async function pollHealth() {
  try {
    app.health = await api('/health');
  } catch (err) {
    app.health = err instanceof ApiError && err.status === 503 ? err.body : null;
  }
  const pill = document.getElementById('health-pill');
  const kill = document.getElementById('kill-pill');
  const status = app.health?.status || 'unreachable';
  pill.textContent = `health: ${status}`;
  pill.className = `pill ${status === 'ok' ? 'good' : status === 'degraded' || status === 'read_only' ? 'warn' : 'bad'}`;
  pill.title = (app.health?.reasons || []).join('\n') || 'no problems reported';
  kill.hidden = app.health?.kill_switch === undefined || app.health?.kill_switch === null;
  kill.textContent = app.health?.kill_switch ? 'kill switch ON' : 'kill switch off';
  kill.className = `pill ${app.health?.kill_switch ? 'bad' : 'good'}`;
  renderAuth();
  refreshTimes();
  showUpdated();
}

// --- navigation ----------------------------------------------------------------------------------

document.querySelector('nav.tabs').addEventListener('click', (event) => {
  const link = event.target.closest('a[data-page]');
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  if (link.dataset.page !== current?.name || app.authScreen) {
    history.pushState({}, '', link.href);
    open(link.dataset.page, { focus: true });
  }
});
window.addEventListener('popstate', () => open(pageName()));
document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && refresh());

await pollHealth();
setInterval(() => document.visibilityState === 'visible' && pollHealth(), HEALTH_EVERY_MS);
open(pageName());
