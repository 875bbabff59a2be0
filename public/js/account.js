// Sign up, sign in and sign out: the dialog, and the account corner of the header.

import { currentUser, logIn, logOut, signUp } from './api.js';
import { currentHold, releaseHold, forgetHold } from './hold.js';
import { h, mount, errorText, notify, announce } from './ui.js';

let mode = 'login';
let pending = null; // resolves the promise of openSignIn()

const $ = (id) => document.getElementById(id);

/** Opens the sign-in dialog; resolves true once signed in, false if closed. */
export function openSignIn({ lead = null, startWith = 'login' } = {}) {
  const dialog = $('auth-dialog');
  setMode(startWith);
  clearErrors();
  $('auth-lead').textContent = lead || '';
  $('auth-lead').hidden = !lead;
  if (!dialog.open) dialog.showModal();
  (mode === 'signup' ? $('auth-name') : $('auth-email')).focus();
  if (pending) pending(false);
  return new Promise((resolve) => { pending = resolve; });
}

function setMode(next) {
  mode = next;
  const signup = mode === 'signup';
  $('auth-title').textContent = signup ? 'Create your account' : 'Sign in';
  $('auth-submit').textContent = signup ? 'Create account' : 'Sign in';
  $('tab-login').setAttribute('aria-selected', String(!signup));
  $('tab-signup').setAttribute('aria-selected', String(signup));
  $('tab-login').tabIndex = signup ? -1 : 0;
  $('tab-signup').tabIndex = signup ? 0 : -1;
  for (const element of document.querySelectorAll('#auth-form [data-only="signup"]')) element.hidden = !signup;
  $('auth-password').autocomplete = signup ? 'new-password' : 'current-password';
  $('auth-name').required = signup;
  $('auth-password').minLength = signup ? 10 : 0;
}

function clearErrors() {
  $('auth-error').hidden = true;
  for (const field of ['name', 'email', 'password']) fieldError(field, null);
}

function fieldError(field, message) {
  const element = $(`auth-${field}-error`);
  const input = $(`auth-${field}`);
  if (!element) return false;
  element.textContent = message || '';
  element.hidden = !message;
  if (message) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-errormessage', element.id);
  } else {
    input.removeAttribute('aria-invalid');
  }
  return true;
}

/** Checks what the browser can check before asking the server; returns the first bad input. */
function checkLocally(values) {
  const problems = [];
  if (mode === 'signup' && !values.name) problems.push(['name', 'Please enter your name.']);
  if (!values.email) problems.push(['email', 'Please enter your email address.']);
  else if (!/^[^\s@]+@[^\s@]+$/.test(values.email)) problems.push(['email', 'This does not look like an email address.']);
  if (!values.password) problems.push(['password', 'Please enter your password.']);
  else if (mode === 'signup' && values.password.length < 10) problems.push(['password', 'Use at least 10 characters.']);
  for (const [field, message] of problems) fieldError(field, message);
  return problems.length ? $(`auth-${problems[0][0]}`) : null;
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const values = {
    name: $('auth-name').value.trim(),
    email: $('auth-email').value.trim(),
    password: $('auth-password').value,
  };
  const bad = checkLocally(values);
  if (bad) { bad.focus(); return; }
  const button = $('auth-submit');
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    const user = mode === 'signup' ? await signUp(values) : await logIn(values);
    $('auth-password').value = '';
    $('auth-dialog').close('signed-in');
    notify(mode === 'signup' ? `Welcome, ${user.name}! Your account is ready.` : `Welcome back, ${user.name}.`, 'success');
    if (pending) { pending(true); pending = null; }
  } catch (error) {
    let placed = false;
    for (const { field, message } of error.fieldErrors || []) placed = fieldError(field, message) || placed;
    const box = $('auth-error');
    box.textContent = errorText(error);
    box.hidden = false;
    if (!placed) $('auth-email').focus();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

export function setUpAccount() {
  $('auth-form').addEventListener('submit', submit);
  $('auth-dialog').addEventListener('close', () => {
    if (pending) { pending(false); pending = null; }
  });
  $('auth-dialog').querySelector('[data-close]').addEventListener('click', () => $('auth-dialog').close());
  for (const tab of document.querySelectorAll('#auth-dialog [role="tab"]')) {
    tab.addEventListener('click', () => { setMode(tab.dataset.mode); clearErrors(); });
    tab.addEventListener('keydown', (event) => {
      if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
      event.preventDefault();
      setMode(mode === 'login' ? 'signup' : 'login');
      (mode === 'login' ? $('tab-login') : $('tab-signup')).focus();
    });
  }
  renderAccount();
}

/** The header's account corner. */
export function renderAccount() {
  const user = currentUser();
  // Header links for some roles only (data-roles="staff admin"); the API checks them anyway.
  for (const link of document.querySelectorAll('[data-roles]')) {
    link.hidden = !user || !link.dataset.roles.split(' ').includes(user.role);
  }
  if (!user) {
    mount($('account'), h('button', { class: 'button button--ghost', type: 'button', id: 'sign-in', onclick: () => openSignIn() }, 'Sign in'));
    return;
  }
  mount($('account'),
    h('span', { class: 'account__name', title: user.email }, h('span', { class: 'visually-hidden' }, 'Signed in as '), user.name),
    h('button', { class: 'button button--ghost', type: 'button', id: 'sign-out', onclick: signOut }, 'Log out'));
}

async function signOut() {
  // Seats held by this account are let go rather than left to expire.
  if (currentHold() && !currentHold().checkout) await releaseHold().catch(() => {});
  forgetHold('signed_out');
  await logOut();
  notify('You are signed out.', 'info');
  announce('Signed out.');
  if (location.hash.startsWith('#/bookings') || location.hash.startsWith('#/ticket') || location.hash.startsWith('#/pay')) location.hash = '#/';
}
