// Small shared pieces: building DOM without innerHTML (API text is never parsed as HTML),
// formatting money and times in the cinema's zone, messages, and human error texts.

/** The cinema's time zone: days, and the times printed on tickets, are the cinema's. */
export const CINEMA_TIME_ZONE = 'Europe/Berlin';

/** h('button', {class: 'x', onclick}, 'text', child) → an element. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'style' && typeof value === 'object') {
      for (const [name, v] of Object.entries(value)) {
        if (name.startsWith('--')) element.style.setProperty(name, v); // custom properties need setProperty
        else element.style[name] = v;
      }
    }
    else if (value === true) element.setAttribute(key, '');
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function mount(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// --- Formatting ---

const moneyFormats = new Map();
/** Minor units → "€15.00". */
export function money(minor, currency = 'EUR') {
  if (!moneyFormats.has(currency)) {
    moneyFormats.set(currency, new Intl.NumberFormat(undefined, { style: 'currency', currency }));
  }
  return moneyFormats.get(currency).format((minor || 0) / 100);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', timeZone: CINEMA_TIME_ZONE });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', timeZone: CINEMA_TIME_ZONE });
const shortDayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' });
const isoDayFormat = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: CINEMA_TIME_ZONE });

export const time = (iso) => timeFormat.format(new Date(iso));
export const day = (iso) => dayFormat.format(new Date(iso));
export const dayAndTime = (iso) => `${day(iso)}, ${time(iso)}`;

/** Today in the cinema's zone, as YYYY-MM-DD. */
export const today = () => isoDayFormat.format(new Date());

/** A YYYY-MM-DD day plus n days (calendar arithmetic in UTC, where days have no DST). */
export function addDays(isoDate, n) {
  const [y, m, d] = isoDate.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** "Today", "Tomorrow" or "Wed 25 Nov" for a YYYY-MM-DD day. */
export function dayLabel(isoDate) {
  const now = today();
  if (isoDate === now) return 'Today';
  if (isoDate === addDays(now, 1)) return 'Tomorrow';
  const [y, m, d] = isoDate.split('-').map(Number);
  return shortDayFormat.format(new Date(Date.UTC(y, m - 1, d)));
}

/** Seconds → "7:05". */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export const seatName = (seat) => `Row ${seat.row}, seat ${seat.number}`;
export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function capitalise(text) { return text ? text[0].toUpperCase() + text.slice(1) : text; }
/** "premium" / "wheelchair_space" → "Premium" / "Wheelchair space". */
export const categoryName = (category) => capitalise(String(category).replace(/_/g, ' '));

// --- Messages ---

/** Tells screen-reader users about a change they cannot see (polite: after what they hear now). */
export function announce(text) {
  const region = document.getElementById('announcer');
  region.textContent = '';
  // A fresh node in a fresh task is read even when the same text comes twice.
  setTimeout(() => { region.textContent = text; }, 50);
}

/** A toast: errors stay until dismissed (or 12 s), other messages 6 s. */
export function notify(text, kind = 'info') {
  const toasts = document.getElementById('toasts');
  const close = () => toast.remove();
  const toast = h('div', { class: `toast toast--${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast__icon', 'aria-hidden': 'true' }, kind === 'error' ? '!' : kind === 'success' ? '✓' : 'i'),
    h('p', { class: 'toast__text' }, text),
    h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Dismiss message', onclick: close }, '×'));
  toasts.append(toast);
  setTimeout(close, kind === 'error' ? 12000 : 6000);
  return toast;
}

/** An inline alert for a panel; `null` text hides it. */
export function showAlert(element, text, kind = 'error') {
  if (!text) { element.hidden = true; element.textContent = ''; return; }
  element.className = `alert alert--${kind}`;
  element.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  element.textContent = text;
  element.hidden = false;
}

/** Asks a yes/no question in a modal dialog; resolves true for yes. */
export function confirmAction({ title, text, yes = 'Yes', no = 'Keep it' }) {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-yes').textContent = yes;
  document.getElementById('confirm-no').textContent = no;
  dialog.returnValue = '';
  dialog.showModal();
  document.getElementById('confirm-no').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

// --- Errors in words ---

/**
 * The message a customer reads for a failed API call. The problem's `detail` is already
 * written for people; a few codes get a sentence that also says what to do next.
 */
export function errorText(error) {
  if (!error) return 'Something went wrong.';
  if (!error.code) return error.message || 'Something went wrong.';
  const wait = error.retryAfter ? ` Please wait ${plural(error.retryAfter, 'second')} and try again.` : ' Please try again in a moment.';
  switch (error.code) {
    case 'hold_expired':
      return 'Your hold has expired and the seats were released. Please choose your seats again.';
    case 'hold_not_found':
      return 'This hold no longer exists — it may have expired or been released. Please choose your seats again.';
    case 'too_many_hold_attempts':
    case 'too_many_attempts':
      return `${error.message}${wait}`;
    case 'showtime_started':
      return 'This showtime has already started, so tickets are no longer on sale.';
    case 'showtime_cancelled':
      return 'This showtime has been cancelled, so tickets are no longer on sale.';
    case 'extension_limit':
      return 'You have used every extension for this hold. Please check out before the time runs out.';
    case 'unauthorized':
    case 'token_expired':
    case 'invalid_token':
    case 'invalid_refresh_token':
    case 'refresh_token_reused':
      return 'Please sign in to continue.';
    case 'network':
      return error.message;
    default:
      if (error.status === 503) return `Ticket sales are briefly unavailable.${wait}`;
      if (error.status === 404 && error.code === 'not_found') return 'We could not find that. It may have been removed.';
      if (error.fieldErrors.length) {
        return `${error.message} ${error.fieldErrors.map((e) => `${capitalise(e.field)}: ${e.message}`).join(' ')}`;
      }
      return error.message;
  }
}

export const needsSignIn = (error) => error && error.status === 401;
