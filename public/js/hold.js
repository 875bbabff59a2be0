// The customer's seat hold: one at a time, kept for this tab (sessionStorage) so a reload or
// a detour to another page keeps it, with one ticking clock that every view reads and that
// notices when the hold has run out. After checkout the hold also carries the payment.

import { api, get, post, del, serverNow } from './api.js';

const HOLD_KEY = 'boxoffice.hold';

let hold = readHold();
const listeners = new Set();

function readHold() {
  try { return JSON.parse(sessionStorage.getItem(HOLD_KEY)) || null; } catch { return null; }
}

function save(next, reason) {
  hold = next;
  try {
    if (next) sessionStorage.setItem(HOLD_KEY, JSON.stringify(next));
    else sessionStorage.removeItem(HOLD_KEY);
  } catch { /* storage unavailable: memory only */ }
  for (const listener of listeners) listener({ type: 'change', hold, reason });
}

/** listener({type: 'change' | 'tick', hold, reason?}); returns an unsubscribe function. */
export function onHold(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export const currentHold = () => hold;
export const holdSeatIds = () => new Set(hold ? hold.seats.map((s) => s.id) : []);
export const secondsLeft = () => (hold ? (Date.parse(hold.expires_at) - serverNow()) / 1000 : 0);

/** Merges a Hold from the API with what the page knows about its showtime (title, time, hall). */
function remember(apiHold, extra = {}) {
  save({ ...(hold && hold.id === apiHold.id ? hold : {}), ...extra, ...apiHold });
}

/** Holds seats: body is {seat_ids} or {count, category?}. Rejects with ApiError. */
/** `queuePass`: the waiting room's pass, when the sale has one. */
export async function createHold(showtimeId, body, showtime, { queuePass = null } = {}) {
  const created = await post(`/showtimes/${showtimeId}/holds`, body, queuePass ? { headers: { 'Queue-Pass': queuePass } } : {});
  remember(created, {
    showtime: showtime && { id: showtime.id, title: showtime.movie.title, starts_at: showtime.starts_at, hall: showtime.hall.name },
    checkout_key: newKey(),
    checkout: null,
  });
  return hold;
}

export async function extendHold() {
  try {
    remember(await post(`/holds/${encodeURIComponent(hold.id)}/extend`));
  } catch (error) {
    if (error.code === 'hold_expired' || error.code === 'hold_not_found') forgetHold('expired');
    throw error;
  }
  return hold;
}

export async function releaseHold() {
  if (!hold) return;
  const id = hold.id;
  try {
    await del(`/holds/${encodeURIComponent(id)}`);
  } catch (error) {
    // Gone already: the seats are free either way.
    if (error.status !== 404 && error.status !== 410) throw error;
  }
  if (hold && hold.id === id) forgetHold('released');
}

export function forgetHold(reason) {
  if (hold) save(null, reason);
}

/** Re-reads the hold (expiry, extensions); forgets it when it is gone. Resolves the hold or null. */
export async function verifyHold() {
  if (!hold) return null;
  const id = hold.id;
  try {
    const fresh = await get(`/holds/${encodeURIComponent(id)}`);
    if (hold && hold.id === id) remember(fresh);
  } catch (error) {
    if (hold && hold.id === id && [401, 404, 410].includes(error.status)) forgetHold(error.status === 401 ? 'signed_out' : 'expired');
    else if (error.status !== 0) throw error;
  }
  return hold;
}

/**
 * Opens the payment for the hold: a pending booking. The Idempotency-Key is the hold's own,
 * so pressing the button twice (or retrying after a lost answer) pays for one booking.
 */
export async function checkoutHold() {
  if (hold.checkout) return hold.checkout;
  const id = hold.id;
  let response;
  try {
    response = await api('POST', `/holds/${encodeURIComponent(id)}/checkout`, { headers: { 'Idempotency-Key': hold.checkout_key } });
  } catch (error) {
    if (error.code === 'hold_expired' || error.code === 'hold_not_found') forgetHold('expired');
    else if (error.code === 'seats_sold') forgetHold('seats_sold');
    throw error;
  }
  save({ ...hold, checkout: response.data });
  await verifyHold().catch(() => {}); // checkout extended the hold to cover paying: show the new time
  return response.data;
}

function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// One clock for every countdown on the page. At zero the server is asked, not assumed.
let checking = false;
setInterval(async () => {
  if (!hold) return;
  for (const listener of listeners) listener({ type: 'tick', hold });
  if (secondsLeft() <= 0 && !checking) {
    checking = true;
    try {
      const fresh = await verifyHold();
      // Still alive by the server's word (a clock difference): wait for the next tick. Past
      // its time and not paid for: gone, whatever a lagging expiry worker says.
      if (fresh && secondsLeft() <= -5 && !fresh.checkout) forgetHold('expired');
    } catch { /* offline: ask again on the next tick */ }
    checking = false;
  }
}, 1000);
