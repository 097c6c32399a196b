// Backtests: waits for the backtest endpoints (GET /backtests, /backtests/{id}, POST /backtests).

import { h } from '../dom.js';

export const title = 'Backtests';
export const admin = false;

export function create(root) {
  root.append(h('p', { class: 'notice', id: 'backtests-waiting', text: 'Backtests need GET /backtests, which this version of the service does not serve yet.' }));
  return {};
}
