// Keeps a showtime's seat statuses current. The server-sent stream is the fast path; while
// it is down the seat map's statuses are polled with If-None-Match (a 304 costs the server one
// Redis read; a 200 of `?view=statuses` is one letter a seat), and polling stops as soon as
// the stream is back.

import { api } from './api.js';

const POLL_EVERY_MS = 2000;
const STATUS_OF_LETTER = { a: 'available', h: 'held', y: 'held_by_you', s: 'sold' };
const REOPEN_AFTER_MS = [1000, 2000, 5000, 10000, 20000];

export class SeatFeed {
  /**
   * onMap(seatMap): a whole seat map (stream snapshot or polled map).
   * onDelta({version, seats:[{id,status}]}): changes, in order, never older than what was seen.
   * onMode('live' | 'polling' | 'connecting'): for the status indicator.
   * seatIds: the seat ids in the order of the full map's `seats`; polls then read only the
   * statuses (`?view=statuses`, the same order) and hand them on as a map of {id, status}.
   */
  constructor(showtimeId, { onMap, onDelta, onMode, seatIds = null }) {
    this.showtimeId = showtimeId;
    this.seatIds = seatIds;
    this.handlers = { onMap, onDelta, onMode };
    this.version = null;
    this.source = null;
    this.pollTimer = null;
    this.reopenTimer = null;
    this.failures = 0;
    this.stopped = false;
    this.mode = null;
  }

  /** Starts from a map the page already has (its version is what the stream continues from). */
  start(initialVersion = null) {
    this.version = initialVersion;
    this.open();
  }

  stop() {
    this.stopped = true;
    if (this.source) this.source.close();
    clearTimeout(this.pollTimer);
    clearTimeout(this.reopenTimer);
    this.source = null;
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.handlers.onMode(mode);
  }

  open() {
    if (this.stopped) return;
    this.setMode(this.mode === 'polling' ? 'polling' : 'connecting');
    // `since` spares a snapshot the page does not need; EventSource then keeps Last-Event-ID itself.
    const since = this.version === null ? '' : `?since=${encodeURIComponent(this.version)}`;
    const source = new EventSource(`/showtimes/${this.showtimeId}/live${since}`);
    this.source = source;

    source.addEventListener('open', () => {
      if (source !== this.source) return;
      this.failures = 0;
      this.stopPolling();
      this.setMode('live');
    });
    source.addEventListener('snapshot', (event) => {
      const map = parse(event.data);
      if (!map) return;
      this.version = map.version ?? null;
      this.handlers.onMap(map);
    });
    source.addEventListener('delta', (event) => {
      const delta = parse(event.data);
      if (!delta || !Array.isArray(delta.seats)) return;
      if (this.version !== null && delta.version <= this.version) return; // already applied (poll or replay)
      this.version = delta.version;
      this.handlers.onDelta(delta);
    });
    source.addEventListener('error', () => {
      if (source !== this.source || this.stopped) return;
      // The stream dropped: poll until it is back. The browser retries a dropped connection
      // itself (CONNECTING); a refused one (CLOSED) is reopened here with a growing pause.
      this.startPolling();
      if (source.readyState === EventSource.CLOSED) {
        const pause = REOPEN_AFTER_MS[Math.min(this.failures, REOPEN_AFTER_MS.length - 1)];
        this.failures += 1;
        clearTimeout(this.reopenTimer);
        this.reopenTimer = setTimeout(() => this.open(), pause);
      }
    });
  }

  startPolling() {
    this.setMode('polling');
    if (this.pollTimer !== null) return;
    const generation = (this.pollGeneration = (this.pollGeneration || 0) + 1);
    const polling = () => !this.stopped && this.mode === 'polling' && generation === this.pollGeneration;
    const poll = async () => {
      if (!polling()) return;
      try {
        const headers = this.version === null ? {} : { 'If-None-Match': `"${this.version}"` };
        const view = this.seatIds ? '?view=statuses' : '';
        const response = await api('GET', `/showtimes/${this.showtimeId}/seats${view}`, { headers });
        const map = response.status === 200 && response.data ? this.expand(response.data) : null;
        if (map && polling()) {
          this.version = map.version ?? null;
          this.handlers.onMap(map);
        }
      } catch { /* offline: try again at the next tick */ }
      if (polling()) this.pollTimer = setTimeout(poll, POLL_EVERY_MS);
    };
    this.pollTimer = setTimeout(poll, 0);
  }

  /** A statuses-only answer as a map of {id, status}; a full map as it is; null if unreadable. */
  expand(data) {
    if (typeof data.statuses !== 'string') return data;
    if (!this.seatIds || data.statuses.length !== this.seatIds.length) {
      this.seatIds = null; // the layout differs from the page's: poll whole maps from now on
      return null;
    }
    const seats = this.seatIds.map((id, index) => ({ id, status: STATUS_OF_LETTER[data.statuses[index]] ?? 'sold' }));
    return { version: data.version, degraded: data.degraded, seats };
  }

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.pollGeneration = (this.pollGeneration || 0) + 1; // a poll in flight ends its loop
  }

  /** After the page changed seats itself (hold, release), fetch the map now rather than wait. */
  async refreshNow() {
    try {
      const response = await api('GET', `/showtimes/${this.showtimeId}/seats`);
      if (response.data && !this.stopped) {
        const version = response.data.version ?? null;
        if (version === null || this.version === null || version >= this.version) {
          this.version = version;
          this.handlers.onMap(response.data);
        }
      }
    } catch { /* the stream or the next poll brings it */ }
  }
}

function parse(text) {
  try { return JSON.parse(text); } catch { return null; }
}
