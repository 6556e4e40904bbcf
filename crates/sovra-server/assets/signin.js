// Web sign-in, shared by the chat and the console: who is signed in
// (GET /auth/me), signing in with a local account or single sign-on,
// signing out, and the CSRF token every state-changing fetch echoes. The
// session itself is an HttpOnly cookie this script never sees; so is the
// anonymous person's, whose CSRF token GET /auth/me gives when nobody is
// signed in.

import { el, httpError } from './common.js';

/** The last GET /auth/me (or sign-in) answer. */
export const session = { signedIn: false, user: null, csrf: null, methods: { password: false, oidc: null } };

function take(body) {
  session.signedIn = !!body.signed_in;
  session.user = body.user || null;
  session.csrf = body.csrf_token || null;
  session.methods = body.methods || { password: false, oidc: null };
  return session;
}

/** Headers a state-changing request sends: the session's CSRF token. */
export const csrfHeaders = () => (session.csrf ? { 'x-csrf-token': session.csrf } : {});

export async function whoami() {
  try {
    const res = await fetch('/auth/me', { headers: { Accept: 'application/json' } });
    if (res.ok) return take(await res.json());
  } catch (_) { /* offline: treated as signed out */ }
  return take({});
}

export async function signIn(name, password) {
  const res = await fetch('/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ name, password }),
  });
  if (!res.ok) throw await httpError(res);
  return take(await res.json());
}

export async function signOut() {
  await fetch('/auth/logout', { method: 'POST', headers: csrfHeaders() });
  // Back to the anonymous person of this browser, and their CSRF token.
  return whoami();
}

/**
 * A sign-in form: name, password, an error line, and the single sign-on
 * button when the server offers one. `t(key, vars)` gives the strings;
 * `onDone` runs after a successful sign-in.
 */
export function signInForm(t, onDone) {
  const error = el('p', { class: 'signin-error', id: 'signin-error', role: 'alert' });
  const name = el('input', { id: 'signin-name', name: 'name', autocomplete: 'username', required: true });
  const password = el('input', { id: 'signin-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = el('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, t('sign_in'));
  const form = el('form', { class: 'signin-form', id: 'signin-form', 'aria-describedby': 'signin-error' },
    el('label', { for: 'signin-name' }, t('user_name')), name,
    el('label', { for: 'signin-password' }, t('password')), password,
    submit, error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await signIn(name.value.trim(), password.value);
      password.value = '';
      onDone(session);
    } catch (err) {
      password.value = '';
      error.textContent = err.status === 401 ? t('wrong_password') : t('failed', { error: err.message });
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  const parts = [];
  if (session.methods.password) parts.push(form);
  if (session.methods.oidc) {
    parts.push(el('p', { class: 'signin-sso' },
      el('a', { class: 'button', id: 'signin-sso', href: session.methods.oidc.start }, t('sign_in_with', { name: session.methods.oidc.name }))));
  }
  return parts;
}
