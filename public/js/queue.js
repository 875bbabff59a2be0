// The waiting room in front of an on-sale: join, watch your place move, and go on to the seat
// map when it is your turn. The ticket and the pass live in sessionStorage, so a reload keeps
// the place; the pass goes with every hold request as `Queue-Pass`.

import { api, currentUser, openStream } from './api.js';
import { openSignIn } from './account.js';
import { h, mount, time, day, announce, errorText, plural } from './ui.js';

// Waiting, the page follows the ticket's event stream (the server pushes each move and the
// turn at once); it polls only when the stream fails, and tries the stream again later.
const POLL_WAITING_MS = 2000;
const STREAM_RETRY_MS = 10000;
// Admitted: poll now and then to keep the turn (the server ends it after two minutes unseen)
// and to renew the pass.
const POLL_ADMITTED_MS = 30000;

const key = (showtimeId) => `boxoffice.queue.${showtimeId}`;

function stored(showtimeId) {
  try { return JSON.parse(sessionStorage.getItem(key(showtimeId)) || 'null'); } catch { return null; }
}

function store(showtimeId, value) {
  try {
    if (value) sessionStorage.setItem(key(showtimeId), JSON.stringify(value));
    else sessionStorage.removeItem(key(showtimeId));
  } catch { /* private mode: this page only */ }
}

/** The pass to send with holds for this showtime, if one is known. */
export function queuePass(showtimeId) {
  const entry = stored(showtimeId);
  return entry && entry.status === 'admitted' ? entry.queue_pass : null;
}

/** Forgets the turn (after `queue_pass_required`): the room shows again. */
export function forgetTurn(showtimeId) { store(showtimeId, null); }

/**
 * The waiting-room card for `showtime` in `root`. Calls `onAdmitted()` once the person may
 * choose seats (at once when they already may). Returns a stop function.
 */
export function waitingRoom(root, showtime, { onAdmitted }) {
  let stopped = false;
  let timer = null;
  let stream = null; // the AbortController of the open stream
  let streamRetryAt = 0;
  let firstAhead = null;
  let admittedTold = false;
  const opensAt = showtime.sale_opens_at ? Date.parse(showtime.sale_opens_at) : null;

  const schedule = (ms) => { clearTimeout(timer); if (!stopped) timer = setTimeout(poll, ms); };

  function show(ticket) {
    root.dataset.status = ticket ? ticket.status : 'none';
    if (!ticket) {
      return mount(root,
        h('h2', { id: 'queue-title', tabindex: '-1' }, 'Waiting room'),
        h('p', {}, opensAt && opensAt > Date.now()
          ? `Tickets go on sale ${day(showtime.sale_opens_at)} at ${time(showtime.sale_opens_at)}. Everyone who joins before then gets a place drawn at random at the opening; after it, places go by arrival.`
          : 'This sale has a waiting room: join it, and the seat map opens for you when it is your turn.'),
        h('button', { class: 'button button--primary', type: 'button', id: 'join-queue', onclick: join }, 'Join the waiting room'));
    }
    if (ticket.status === 'waiting') {
      if (ticket.ahead !== null && firstAhead === null) firstAhead = Math.max(ticket.ahead, 1);
      const done = ticket.ahead === null || firstAhead === null ? 0 : Math.min(1, Math.max(0, (firstAhead - ticket.ahead) / firstAhead));
      return mount(root,
        h('h2', { id: 'queue-title', tabindex: '-1' }, 'You are in the waiting room'),
        ticket.position === null
          ? h('p', { id: 'queue-position' }, `The sale opens at ${time(showtime.sale_opens_at)}; your place is drawn then. ${plural(ticket.waiting ?? 0, 'person', 'people')} waiting.`)
          : h('p', { id: 'queue-position', class: 'queue__position' },
            h('strong', {}, `Number ${ticket.position}`), ` in line · ${plural(ticket.ahead, 'person', 'people')} ahead of you`),
        h('progress', { id: 'queue-progress', max: '100', value: String(Math.round(done * 100)), 'aria-label': 'Your progress in the line' }),
        h('p', { id: 'queue-wait', class: 'muted' }, ticket.estimated_wait_seconds === null ? 'Admission is paused for a moment.'
          : ticket.position === null ? '' : `About ${waitText(ticket.estimated_wait_seconds)} to go. Keep this page open: it moves on by itself.`),
        h('button', { class: 'button button--ghost', type: 'button', id: 'leave-queue', onclick: leave }, 'Leave the line'));
    }
    if (ticket.status === 'sold_out') {
      return mount(root, h('h2', { id: 'queue-title', tabindex: '-1' }, 'Sold out'),
        h('p', { role: 'alert' }, 'Every seat is sold or held. If held seats come free, the line moves again: keep this page open.'));
    }
    if (ticket.status === 'admitted') return mount(root, h('p', { class: 'alert alert--success', role: 'status', id: 'queue-admitted' }, 'It is your turn: choose your seats.'));
    return mount(root, h('h2', { id: 'queue-title', tabindex: '-1' }, 'Your turn has ended'),
      h('p', {}, ticket.status === 'expired' ? 'We did not hear from this page for a while, so your turn went to the next person.' : 'You left the line.'),
      h('button', { class: 'button button--primary', type: 'button', id: 'join-queue', onclick: join }, 'Join again'));
  }

  function admitted(ticket) {
    store(showtime.id, ticket);
    show(ticket);
    if (!admittedTold) {
      admittedTold = true;
      announce('It is your turn: choose your seats.');
      onAdmitted();
    }
    schedule(POLL_ADMITTED_MS);
  }

  function handle(ticket, fromStream = false) {
    if (stopped) return;
    if (ticket.status === 'admitted') return admitted(ticket);
    store(showtime.id, ['waiting', 'sold_out'].includes(ticket.status) ? ticket : null);
    show(ticket);
    if (!['waiting', 'sold_out'].includes(ticket.status) || fromStream) return;
    if (!stream && Date.now() >= streamRetryAt) follow(ticket.ticket);
    else if (!stream) schedule(POLL_WAITING_MS + Math.random() * 500);
  }

  // Reads the ticket's event stream until it ends (after the turn) or fails (then polls).
  async function follow(ticketId) {
    clearTimeout(timer);
    stream = new AbortController();
    root.dataset.transport = 'stream';
    let last = null;
    try {
      const response = await openStream(`/queue/${encodeURIComponent(ticketId)}/events`, { signal: stream.signal });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, '\n');
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          const data = buffer.slice(0, cut).split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
          buffer = buffer.slice(cut + 2);
          if (data) { last = JSON.parse(data); handle(last, true); }
        }
      }
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      streamRetryAt = Date.now() + STREAM_RETRY_MS;
      if (error && error.status === 404) { stream = null; return poll(); }
    } finally {
      stream = null;
    }
    if (stopped || (last && !['waiting', 'sold_out'].includes(last.status))) return;
    // Ended while waiting (a server stopping, a proxy's timeout): poll now, stream again soon.
    root.dataset.transport = 'polling';
    streamRetryAt = Math.max(streamRetryAt, Date.now() + 1000);
    schedule(0);
  }

  async function join() {
    if (!currentUser() && !await openSignIn({ lead: 'Sign in or create an account to join the waiting room.' })) return;
    try {
      handle((await api('POST', `/showtimes/${showtime.id}/queue`)).data);
    } catch (error) {
      mount(root, h('p', { class: 'alert alert--error', role: 'alert' }, errorText(error)));
      if (error.retryAfter) setTimeout(() => show(null), error.retryAfter * 1000);
    }
  }

  async function leave() {
    if (stream) stream.abort();
    const entry = stored(showtime.id);
    store(showtime.id, null);
    if (entry) await api('DELETE', `/queue/${encodeURIComponent(entry.ticket)}`).catch(() => {});
    firstAhead = null;
    show(null);
  }

  async function poll() {
    const entry = stored(showtime.id);
    if (!entry || stopped || stream) return;
    if (entry.status !== 'admitted') root.dataset.transport = 'polling';
    try {
      handle((await api('GET', `/queue/${encodeURIComponent(entry.ticket)}`)).data);
    } catch (error) {
      if (error.status === 404) { store(showtime.id, null); firstAhead = null; show(null); if (currentUser()) join(); return; }
      schedule(POLL_WAITING_MS * 2); // offline for a moment: try again
    }
  }

  const entry = stored(showtime.id);
  if (entry) { show(entry); poll(); } else if (currentUser()) join(); else show(null);
  return () => { stopped = true; clearTimeout(timer); if (stream) stream.abort(); };
}

function waitText(seconds) {
  if (seconds < 60) return plural(Math.max(seconds, 1), 'second');
  const minutes = Math.round(seconds / 60);
  return plural(minutes, 'minute');
}
