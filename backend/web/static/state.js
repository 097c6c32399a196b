// What every page may read: the latest /health body and whether admin calls can be made.

import { token } from './api.js';

export const app = {
  health: null,
  authScreen: null, // 'missing' | 'refused' while the token screen is shown
  requestSignIn: () => {}, // set by the shell: shows the token screen
  get adminOpen() {
    return this.health?.admin_auth === 'disabled';
  },
  get signedIn() {
    return this.adminOpen || Boolean(token.get());
  },
};
