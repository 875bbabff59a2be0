// One showtime: the live seat map, choosing seats (or the best N), and the hold with its
// countdown, extension, release and the way on to payment.

import { api, currentUser, get } from './api.js';
import { SeatFeed } from './live.js';
import { SeatMap, categoryColours } from './seatmap.js';
import { createHold, currentHold, extendHold, releaseHold, checkoutHold, holdSeatIds, onHold, secondsLeft, verifyHold } from './hold.js';
import { openSignIn } from './account.js';
import { waitingRoom, queuePass, forgetTurn } from './queue.js';
import {
  h, mount, money, day, time, clock, plural, seatName, categoryName, announce, notify, showAlert, errorText, needsSignIn,
} from './ui.js';

const MAX_SEATS = 10;

export async function showShowtime(main, showtimeId) {
  const [showtime, first] = await Promise.all([
    get(`/showtimes/${showtimeId}`),
    api('GET', `/showtimes/${showtimeId}/seats`),
  ]);
  const map = first.data;
  const seats = new Map(map.seats.map((seat) => [seat.id, { ...seat }]));
  const selected = new Set();
  const categories = Object.keys(map.prices).sort((a, b) => map.prices[a] - map.prices[b]);
  const colours = categoryColours(categories);
  const currency = map.currency;
  const startsAt = Date.parse(showtime.starts_at);
  const onSale = showtime.status !== 'cancelled' && startsAt > Date.now();
  // A waiting room stands before the seats; the map is for those whose turn it is.
  const roomOn = onSale && Boolean(showtime.waiting_room) && showtime.waiting_room !== 'off';
  const opensAt = showtime.sale_opens_at ? Date.parse(showtime.sale_opens_at) : null;
  const saleOpen = () => opensAt === null || opensAt <= Date.now();
  let busy = false;

  const ours = () => { const hold = currentHold(); return hold && hold.showtime_id === showtime.id ? hold : null; };
  const elsewhere = () => { const hold = currentHold(); return hold && hold.showtime_id !== showtime.id ? hold : null; };

  // --- What each seat looks like: the server's status, our hold, our selection. ---
  function displayStatus(seat) {
    const mine = ours() && holdSeatIds().has(seat.id);
    if (seat.status === 'sold') return 'sold';
    if (seat.status === 'held_by_you' || (mine && seat.status === 'held')) return 'yours';
    if (seat.status === 'held') return 'held';
    return selected.has(seat.id) ? 'selected' : 'available';
  }

  const mapRoot = h('div', { class: 'seatmap', id: 'seatmap' });
  const seatMap = new SeatMap(mapRoot, { displayStatus, onActivate, currency, hallName: showtime.hall.name });
  const feedStatus = h('p', { class: 'feed-status', id: 'feed-status', dataset: { mode: 'connecting' } }, 'Connecting…');
  const degradedNote = h('p', { class: 'alert alert--info', role: 'status', hidden: true },
    'Live availability is limited right now: a seat may turn out to be taken when you try to hold it.');
  const panel = h('section', { class: 'panel', id: 'booking-panel', 'aria-labelledby': 'panel-title' });
  const alertBox = h('div', { id: 'panel-alert', hidden: true });
  const queueBox = h('section', { class: 'queue-card', id: 'queue', 'aria-labelledby': 'queue-title' });
  const layout = h('div', { class: 'booking-layout', hidden: roomOn && !queuePass(showtime.id) });

  mount(main,
    h('a', { class: 'back-link', href: '#/' }, '← What\'s on'),
    h('header', { class: 'showtime-head' },
      h('h1', { tabindex: '-1' }, showtime.movie.title),
      h('p', { class: 'showtime-head__when' },
        h('time', { datetime: showtime.starts_at }, `${day(showtime.starts_at)} · ${showtime.local_starts_at ? showtime.local_starts_at.slice(11, 16) : time(showtime.starts_at)}`),
        ` · ${showtime.cinema ? `${showtime.cinema.name}, ` : ''}${showtime.hall.name}`,
        showtime.movie.duration_minutes ? ` · ${showtime.movie.duration_minutes} min` : '')),
    !onSale ? h('p', { class: 'alert alert--error', role: 'alert' },
      showtime.status === 'cancelled' ? 'This showtime has been cancelled, so tickets are no longer on sale.'
        : 'This showtime has already started, so tickets are no longer on sale.') : null,
    roomOn ? queueBox : null,
    mount(layout,
      h('section', { class: 'map-card', 'aria-labelledby': 'map-title' },
        h('div', { class: 'map-card__head' }, h('h2', { id: 'map-title' }, 'Choose your seats'), feedStatus),
        degradedNote,
        mapRoot,
        SeatMap.legend(categories, colours, map.prices, currency)),
      h('div', { class: 'panel-column' }, alertBox, panel)));

  seatMap.build([...seats.values()], colours);
  degradedNote.hidden = !map.degraded;

  // --- Live statuses ---
  function applyStatuses(changes) {
    const changed = [];
    const lost = [];
    for (const { id, status } of changes) {
      const seat = seats.get(id);
      if (!seat || seat.status === status) continue;
      // The anonymous stream says `held` for our own seats too; don't let it undo held_by_you.
      if (status === 'held' && seat.status === 'held_by_you') continue;
      seat.status = status;
      changed.push(id);
      if (status !== 'available' && selected.delete(id)) lost.push(seat);
    }
    seatMap.refresh(changed);
    if (lost.length) {
      const names = lost.map(seatName).join(', ');
      const text = `${names} ${lost.length === 1 ? 'was' : 'were'} just taken by someone else and removed from your selection.`;
      showAlert(alertBox, text, 'warning');
      announce(text);
      renderPanel();
    }
    // Our seats free again without our doing: the hold ran out (or was released elsewhere).
    if (ours() && !busy && changes.some((c) => c.status === 'available' && holdSeatIds().has(c.id))) verifyHold().catch(() => {});
  }

  const feed = new SeatFeed(showtime.id, {
    seatIds: map.seats.map((seat) => seat.id),
    onMap: (fresh) => {
      degradedNote.hidden = !fresh.degraded;
      applyStatuses(fresh.seats);
    },
    onDelta: (delta) => {
      applyStatuses(delta.seats);
      if (delta.showtime_status === 'cancelled') {
        const text = 'This showtime has just been cancelled, so tickets are no longer on sale. Any payment for it is refunded in full.';
        showAlert(alertBox, text, 'error');
        announce(text);
      }
    },
    onMode: (mode, transport) => {
      feedStatus.dataset.mode = mode;
      feedStatus.dataset.transport = transport;
      feedStatus.textContent = { live: 'Live', polling: 'Reconnecting — updating every few seconds', connecting: 'Connecting…' }[mode];
    },
  });
  if (onSale) feed.start(map.version ?? null);

  // --- Choosing seats ---
  function onActivate(seat) {
    const status = displayStatus(seat);
    if (!onSale) return;
    if (status === 'sold' || status === 'held') {
      announce(`${seatName(seat)} is ${status === 'sold' ? 'sold' : 'held by someone else'}.`);
      return;
    }
    if (status === 'yours') { announce(`${seatName(seat)} is held for you.`); return; }
    if (ours()) {
      showAlert(alertBox, 'You are holding seats already. Release them first if you want different seats.', 'info');
      return;
    }
    if (selected.has(seat.id)) selected.delete(seat.id);
    else if (selected.size >= MAX_SEATS) {
      showAlert(alertBox, `You can choose up to ${MAX_SEATS} seats at a time.`, 'info');
      return;
    } else selected.add(seat.id);
    showAlert(alertBox, null);
    seatMap.refresh([seat.id]);
    announce(`${seatName(seat)} ${selected.has(seat.id) ? 'selected' : 'removed'}. ${plural(selected.size, 'seat')} selected.`);
    renderPanel();
  }

  /** Runs an API action with the panel locked, signing in first when needed. */
  async function act(action, { signInLead } = {}) {
    if (busy) return;
    if (!currentUser()) {
      if (!await openSignIn({ lead: signInLead })) return;
    }
    busy = true;
    renderPanel();
    try {
      await action();
    } catch (error) {
      if (needsSignIn(error) && await openSignIn({ lead: 'Your session has ended. Please sign in again.' })) {
        busy = false;
        return act(action);
      }
      handleError(error);
    } finally {
      busy = false;
      renderPanel();
    }
  }

  function handleError(error) {
    let text = errorText(error);
    if (error.code === 'queue_pass_required' && roomOn) {
      // The turn ended (or never began): back to the line.
      forgetTurn(showtime.id);
      layout.hidden = true;
      stopRoom();
      stopRoom = startRoom();
    }
    if (error.code === 'seats_taken') {
      const taken = (error.problem.seat_ids || []).map((id) => seats.get(id)).filter(Boolean);
      applyStatuses(taken.filter((s) => s.status === 'available').map((s) => ({ id: s.id, status: 'held' })));
      text = taken.length
        ? `Sorry, ${taken.map(seatName).join('; ')} ${taken.length === 1 ? 'was' : 'were'} just taken by someone else, so nothing was held. Please choose other seats.`
        : `${error.message} Please choose other seats.`;
      feed.refreshNow();
    }
    if (error.code === 'hold_expired' || error.code === 'hold_not_found' || error.code === 'seats_sold') feed.refreshNow();
    showAlert(alertBox, text);
    announce(text);
  }

  async function holdSelected() {
    const ids = [...selected];
    await act(async () => {
      const hold = await createHold(showtime.id, { seat_ids: ids }, showtime, { queuePass: queuePass(showtime.id) });
      selected.clear();
      heldNow(hold);
    }, { signInLead: 'Sign in or create an account to hold your seats.' });
  }

  async function holdBest(count, category) {
    await act(async () => {
      const body = category ? { count, category } : { count };
      const hold = await createHold(showtime.id, body, showtime, { queuePass: queuePass(showtime.id) });
      selected.clear();
      heldNow(hold);
    }, { signInLead: 'Sign in or create an account to hold your seats.' });
  }

  function heldNow(hold) {
    for (const seat of hold.seats) if (seats.has(seat.id)) seats.get(seat.id).status = 'held_by_you';
    seatMap.refreshAll();
    showAlert(alertBox, null);
    const text = `${plural(hold.seats.length, 'seat')} held for you for ${clock(secondsLeft())} minutes: ${hold.seats.map(seatName).join('; ')}.`;
    announce(text);
    focusPanel = true; // once the panel shows the hold
  }

  async function release() {
    const ids = [...holdSeatIds()];
    await act(async () => {
      await releaseHold();
      for (const id of ids) if (seats.get(id)?.status === 'held_by_you') seats.get(id).status = 'available';
      seatMap.refresh(ids);
      showAlert(alertBox, 'Your seats were released.', 'info');
      announce('Your seats were released.');
    });
  }

  async function extend() {
    await act(async () => {
      const hold = await extendHold();
      const text = `Hold extended: ${clock(secondsLeft())} left.`;
      showAlert(alertBox, text, 'info');
      announce(text);
      return hold;
    });
  }

  async function checkout() {
    await act(async () => {
      const result = await checkoutHold();
      location.hash = `#/pay/${result.booking_id}`;
    });
  }

  // --- The panel beside the map ---
  let countdown = null;
  let focusPanel = false;

  function renderPanel() {
    countdown = null;
    drawPanel();
    if (focusPanel && !busy) { focusPanel = false; document.getElementById('panel-title')?.focus(); }
  }

  function drawPanel() {
    const hold = ours();
    if (hold) return renderHold(hold);
    const other = elsewhere();
    if (other) {
      return mount(panel,
        h('h2', { id: 'panel-title', tabindex: '-1' }, 'You are holding other seats'),
        h('p', {}, `You hold ${plural(other.seats.length, 'seat')} for ${other.showtime ? other.showtime.title : 'another showtime'}. Release them, or finish that booking first.`),
        h('div', { class: 'actions' },
          h('a', { class: 'button button--primary', href: `#/showtime/${other.showtime_id}` }, 'Go to those seats'),
          h('button', { class: 'button', type: 'button', disabled: busy, onclick: () => act(async () => { await releaseHold(); }) }, 'Release them')));
    }
    const chosen = [...selected].map((id) => seats.get(id)).sort((a, b) => a.y - b.y || a.x - b.x);
    const closed = onSale && !saleOpen();
    const total = chosen.reduce((sum, s) => sum + s.price, 0);
    const countSelect = h('select', { id: 'best-count', name: 'count' },
      Array.from({ length: MAX_SEATS }, (_, i) => h('option', { value: String(i + 1), selected: i === 1 }, String(i + 1))));
    const categorySelect = h('select', { id: 'best-category', name: 'category' },
      h('option', { value: '' }, 'Any category'),
      categories.map((c) => h('option', { value: c }, `${categoryName(c)} · ${money(map.prices[c], currency)}`)));
    mount(panel,
      h('h2', { id: 'panel-title', tabindex: '-1' }, 'Your selection'),
      chosen.length
        ? h('ul', { class: 'seat-list', id: 'selection-list' }, chosen.map((seat) => seatLine(seat, () => onActivate(seat))))
        : h('p', { class: 'muted', id: 'selection-list' }, 'No seats chosen yet. Pick seats on the map, or let us find the best ones.'),
      chosen.length ? totalLine(total) : null,
      h('div', { class: 'actions' },
        h('button', {
          class: 'button button--primary button--block', type: 'button', id: 'hold-selected', disabled: !chosen.length || busy || !onSale || closed,
          'aria-busy': busy ? 'true' : null, onclick: holdSelected,
        }, chosen.length ? `Hold ${plural(chosen.length, 'seat')}` : 'Hold seats'),
        chosen.length ? h('button', { class: 'button button--ghost', type: 'button', onclick: () => { selected.clear(); seatMap.refreshAll(); renderPanel(); announce('Selection cleared.'); } }, 'Clear') : null),
      h('form', {
        class: 'best-seats', 'aria-labelledby': 'best-title',
        onsubmit: (event) => { event.preventDefault(); holdBest(Number(countSelect.value), categorySelect.value || null); },
      },
        h('h3', { id: 'best-title' }, 'Or: best available'),
        h('p', { class: 'muted small' }, 'Seats side by side in one row, as close to the best view as we can.'),
        h('div', { class: 'best-seats__fields' },
          h('div', { class: 'field' }, h('label', { for: 'best-count' }, 'Seats'), countSelect),
          h('div', { class: 'field field--grow' }, h('label', { for: 'best-category' }, 'Category'), categorySelect)),
        h('button', { class: 'button button--block', type: 'submit', id: 'hold-best', disabled: busy || !onSale || closed }, 'Find and hold the best seats')),
      closed ? h('p', { class: 'alert alert--info', id: 'sale-opens' }, `Tickets go on sale ${day(showtime.sale_opens_at)} at ${time(showtime.sale_opens_at)}.`) : null);
  }

  function renderHold(hold) {
    const left = secondsLeft();
    countdown = h('span', { class: 'countdown__value', id: 'hold-countdown' }, clock(left));
    const timer = h('p', { class: `countdown${left < 60 ? ' countdown--urgent' : ''}`, role: 'timer', 'aria-live': 'off', 'aria-atomic': 'true' },
      h('span', { class: 'countdown__label' }, 'Held for you for '), countdown,
      h('span', { class: 'countdown__hint' }, left < 60 ? ' Less than a minute left!' : ''));
    const paying = Boolean(hold.checkout);
    mount(panel,
      h('h2', { id: 'panel-title', tabindex: '-1' }, 'Your seats are held'),
      timer,
      h('ul', { class: 'seat-list', id: 'hold-seats' }, hold.seats.map((seat) => seatLine(seat))),
      totalLine(hold.total, hold.currency),
      h('div', { class: 'actions actions--stack' },
        h('button', {
          class: 'button button--primary button--block', type: 'button', id: 'checkout', disabled: busy, 'aria-busy': busy ? 'true' : null,
          onclick: paying ? () => { location.hash = `#/pay/${hold.checkout.booking_id}`; } : checkout,
        }, paying ? 'Continue to payment' : `Check out · ${money(hold.total, hold.currency)}`),
        paying ? null : h('div', { class: 'actions' },
          h('button', {
            class: 'button', type: 'button', id: 'extend-hold', disabled: busy || hold.extensions_left <= 0, onclick: extend,
          }, hold.extensions_left > 0 ? `More time (${hold.extensions_left} left)` : 'No more extensions'),
          h('button', { class: 'button button--ghost', type: 'button', id: 'release-hold', disabled: busy, onclick: release }, 'Release seats'))));
  }

  function seatLine(seat, remove) {
    return h('li', { class: 'seat-line' },
      h('span', { class: 'seat-line__dot', style: { '--seat': colours[seat.category] }, 'aria-hidden': 'true' }),
      h('span', { class: 'seat-line__name' }, seatName(seat), h('small', {}, categoryName(seat.category))),
      h('span', { class: 'seat-line__price' }, money(seat.price, currency)),
      remove ? h('button', { class: 'icon-button', type: 'button', 'aria-label': `Remove ${seatName(seat)}`, onclick: remove }, '×') : null);
  }

  function totalLine(total, cur = currency) {
    return h('p', { class: 'total' }, h('span', {}, 'Total'), h('strong', { id: 'total' }, money(total, cur)));
  }

  // --- Hold events: the clock ticks, the hold changes (here or in another view) ---
  let lastAnnounced = null;
  const unsubscribe = onHold((event) => {
    if (event.type === 'tick') {
      if (!countdown || !ours()) return;
      const left = secondsLeft();
      countdown.textContent = clock(left);
      const urgent = left < 60;
      const timer = countdown.parentElement;
      if (urgent !== timer.classList.contains('countdown--urgent')) {
        timer.classList.toggle('countdown--urgent', urgent);
        timer.querySelector('.countdown__hint').textContent = urgent ? ' Less than a minute left!' : '';
      }
      // A screen reader hears the time at a few moments, not every second.
      const mark = [120, 60, 30].find((m) => left <= m && left > m - 1);
      if (mark && mark !== lastAnnounced) { lastAnnounced = mark; announce(`${clock(mark)} left to check out.`); }
      return;
    }
    if (event.reason === 'expired') {
      const ids = event.hold ? [] : [...seats.values()].filter((s) => s.status === 'held_by_you').map((s) => s.id);
      for (const id of ids) seats.get(id).status = 'available';
      showAlert(alertBox, 'Your hold has expired and the seats were released. Please choose your seats again.');
      feed.refreshNow();
    }
    seatMap.refreshAll();
    renderPanel();
  });

  renderPanel();
  if (ours()) verifyHold().catch(() => {});

  // --- The waiting room ---
  function startRoom() {
    return waitingRoom(queueBox, showtime, {
      onAdmitted: () => {
        layout.hidden = false;
        renderPanel();
        document.getElementById('map-title')?.focus();
      },
    });
  }
  let stopRoom = roomOn ? startRoom() : () => {};
  // Without a room, the hold buttons come alive at the opening.
  const opening = !roomOn && onSale && !saleOpen() ? setTimeout(renderPanel, Math.min(opensAt - Date.now() + 250, 2 ** 31 - 1)) : null;

  return () => {
    feed.stop();
    unsubscribe();
    stopRoom();
    clearTimeout(opening);
  };
}
