// The madoguchi console's script. The Content-Security-Policy allows no inline script, so every
// page's behaviour starts here (or in other files under /assets/).
(function () {
  'use strict';

  const madoguchi = {
    /** The session's CSRF token: the sign-out form of every page carries it. */
    csrf() {
      const field = document.querySelector('form.sign-out input[name="csrf"]');
      return field ? field.value : '';
    },

    /**
     * fetch() for the JSON API: the session cookie, the CSRF token on every change, JSON both
     * ways. A 401 (the session ended) goes to the sign-in page and back here afterwards.
     */
    async api(path, { method = 'GET', body } = {}) {
      const headers = { accept: 'application/json' };
      if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = madoguchi.csrf();
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (response.status === 401) {
        location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
        throw new Error('signed out');
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const message = (data.error && data.error.message) || response.statusText;
        throw Object.assign(new Error(message), { status: response.status, data });
      }
      return data;
    },
  };
  window.madoguchi = madoguchi;

  function start() {
    for (const button of document.querySelectorAll('button[data-lang]')) {
      button.addEventListener('click', () => {
        document.cookie = 'lang=' + button.dataset.lang + '; Path=/; Max-Age=31536000; SameSite=Lax';
        location.reload();
      });
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
