// Keeps a showtime's seat statuses current. A WebSocket is the fast path; where one cannot be
// opened (a proxy that refuses upgrades) the server-sent event stream of the same URL carries the
// same messages. While neither is up the seat map's statuses are polled with If-None-Match (a
// 304 costs the server one Redis read; a 200 of `?view=statuses` is one letter a seat), and
// polling stops as soon as a stream is back. Every reconnection names the last version seen, so
// the server sends only what was missed.

import { api } from './api.js';

const POLL_EVERY_MS = 2000;
const STATUS_OF_LETTER = { a: 'available', h: 'held', y: 'held_by_you', s: 'sold' };
const REOPEN_AFTER_MS = [1000, 2000, 5000, 10000, 20000];
// A socket that fails this many times in a row before it ever opens: the event stream instead.
const SOCKET_FAILURES_BEFORE_SSE = 2;

export class SeatFeed {
  /**
   * onMap(seatMap): a whole seat map (stream snapshot or polled map).
   * onDelta({version, seats:[{id,status}]}): changes, in order, never older than what was seen.
   * onMode('live' | 'polling' | 'connecting', transport): for the status indicator; transport
   * is 'websocket' or 'sse' (the one live or being tried).
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
    this.socketFailures = 0;
    this.transport = typeof WebSocket === 'function' ? 'websocket' : 'sse';
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
    if (this.socket) this.socket.close(1000);
    clearTimeout(this.pollTimer);
    clearTimeout(this.reopenTimer);
    this.source = null;
  }

  setMode(mode) {
    if (mode === this.mode && this.transport === this.shownTransport) return;
    this.mode = mode;
    this.shownTransport = this.transport;
    this.handlers.onMode(mode, this.transport);
  }

  open() {
    if (this.stopped) return;
    this.setMode(this.mode === 'polling' ? 'polling' : 'connecting');
    if (this.transport === 'websocket') this.openSocket();
    else this.openEventSource();
  }

  /** `since` spares a snapshot the page does not need. */
  path() {
    const since = this.version === null ? '' : `?since=${encodeURIComponent(this.version)}`;
    return `/showtimes/${this.showtimeId}/live${since}`;
  }

  reopenLater() {
    const pause = REOPEN_AFTER_MS[Math.min(this.failures, REOPEN_AFTER_MS.length - 1)];
    this.failures += 1;
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => this.open(), pause);
  }

  openSocket() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let socket;
    try {
      socket = new WebSocket(`${scheme}://${location.host}${this.path()}`);
    } catch {
      this.transport = 'sse';
      this.open();
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.addEventListener('open', () => {
      if (socket !== this.socket) return;
      opened = true;
      this.failures = 0;
      this.socketFailures = 0;
      this.stopPolling();
      this.setMode('live');
    });
    socket.addEventListener('message', (event) => {
      if (socket !== this.socket) return;
      const message = parse(event.data);
      if (!message) return;
      if (message.type === 'snapshot') this.snapshot(message);
      else if (message.type === 'deltas' && Array.isArray(message.deltas)) message.deltas.forEach((delta) => this.delta(delta));
    });
    socket.addEventListener('close', (event) => {
      if (socket !== this.socket || this.stopped) return;
      this.socket = null;
      if (!opened) {
        // Never opened: perhaps nothing between here and the server lets a socket through.
        this.socketFailures += 1;
        if (this.socketFailures >= SOCKET_FAILURES_BEFORE_SSE) {
          this.transport = 'sse';
          this.open();
          return;
        }
      }
      this.startPolling();
      // Too slow (4100) or a resync (4101): at once, with the last version; otherwise after a pause.
      if (event.code === 4100 || event.code === 4101) this.open();
      else this.reopenLater();
    });
  }

  snapshot(map) {
    this.version = map.version ?? null;
    this.handlers.onMap(map);
  }

  delta(delta) {
    if (!delta || !Array.isArray(delta.seats)) return;
    if (this.version !== null && delta.version <= this.version) return; // already applied (poll or replay)
    this.version = delta.version;
    this.handlers.onDelta(delta);
  }

  openEventSource() {
    // EventSource keeps Last-Event-ID itself when it reconnects.
    const source = new EventSource(this.path());
    this.source = source;

    source.addEventListener('open', () => {
      if (source !== this.source) return;
      this.failures = 0;
      this.stopPolling();
      this.setMode('live');
    });
    source.addEventListener('snapshot', (event) => {
      const map = parse(event.data);
      if (map) this.snapshot(map);
    });
    source.addEventListener('delta', (event) => this.delta(parse(event.data)));
    source.addEventListener('error', () => {
      if (source !== this.source || this.stopped) return;
      // The stream dropped: poll until it is back. The browser retries a dropped connection
      // itself (CONNECTING); a refused one (CLOSED) is reopened here with a growing pause.
      this.startPolling();
      if (source.readyState === EventSource.CLOSED) this.reopenLater();
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
