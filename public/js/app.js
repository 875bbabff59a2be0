// The page's entry point: hash routes (the server serves only index.html at /, so the route
// lives after #), the header, the banner that follows a hold around, and error pages.

import { currentUser, onSessionChange, refreshUser } from './api.js';
import { setUpAccount, renderAccount } from './account.js';
import { currentHold, onHold, secondsLeft, verifyHold } from './hold.js';
import { showProgramme } from './programme.js';
import { showShowtime } from './showtime.js';
import { showPayment, showTicket, showBookings } from './tickets.js';
import { showDoor } from './door.js';
import { showReports } from './reports.js';
import { h, mount, clock, plural, notify, announce, errorText } from './ui.js';

// private: the view depends on who is signed in, so it is redrawn when that changes.
const ROUTES = [
  { pattern: /^\/?$/, nav: 'programme', title: 'What\'s on', view: (main, _, query) => showProgramme(main, query) },
  { pattern: /^\/showtime\/(\d+)$/, nav: 'programme', title: 'Choose seats', view: (main, [id]) => showShowtime(main, Number(id)) },
  { pattern: /^\/pay\/([\w-]+)$/, nav: 'bookings', title: 'Payment', private: true, view: (main, [id]) => showPayment(main, id) },
  { pattern: /^\/ticket\/([\w-]+)$/, nav: 'bookings', title: 'Your ticket', private: true, view: (main, [id]) => showTicket(main, id) },
  { pattern: /^\/bookings$/, nav: 'bookings', title: 'My bookings', private: true, view: (main) => showBookings(main) },
  { pattern: /^\/door$/, nav: 'door', title: 'The door', private: true, view: (main) => showDoor(main) },
  { pattern: /^\/reports$/, nav: 'reports', title: 'Reports', private: true, view: (main, _, query) => showReports(main, query) },
];

const main = document.getElementById('main');
let cleanup = null;
let renderCount = 0;
let current = null;

async function render() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, search = ''] = hash.split('?');
  const query = new URLSearchParams(search);
  const route = ROUTES.find((r) => r.pattern.test(path));
  const mine = ++renderCount;
  if (cleanup) { try { cleanup(); } catch { /* a view's cleanup must not stop the next view */ } cleanup = null; }
  current = route;
  document.querySelectorAll('[data-nav]').forEach((link) => {
    if (route && link.dataset.nav === route.nav && (path === '/bookings' || path === '/' || path === '/reports')) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  });
  main.setAttribute('aria-busy', 'true');

  if (!route) {
    mount(main, h('section', { class: 'empty' }, h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', {}, h('a', { class: 'button button--primary', href: '#/' }, 'See what\'s on'))));
  } else {
    document.title = `${route.title} · BoxOffice`;
    try {
      const result = await route.view(main, path.match(route.pattern).slice(1), query);
      if (mine !== renderCount) { if (typeof result === 'function') result(); return; }
      if (typeof result === 'function') cleanup = result;
    } catch (error) {
      if (mine !== renderCount) return;
      console.error(error);
      mount(main, h('section', { class: 'empty', role: 'alert' },
        h('h1', { tabindex: '-1' }, error.status === 404 ? 'Not found' : 'Something went wrong'),
        h('p', {}, errorText(error)),
        h('p', { class: 'actions center' },
          h('button', { class: 'button', type: 'button', onclick: render }, 'Try again'),
          h('a', { class: 'button button--primary', href: '#/' }, 'See what\'s on'))));
    }
  }
  main.removeAttribute('aria-busy');
  updateBanner();
  // After a navigation (not the first load), start reading and tabbing at the new heading.
  if (mine > 1) {
    const heading = main.querySelector('h1');
    if (heading) heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

// --- The hold banner: a countdown in the header whenever the seats' page is not on screen. ---

const banner = document.getElementById('hold-banner');
function updateBanner() {
  const hold = currentHold();
  const path = location.hash.replace(/^#/, '');
  const onItsPage = hold && (path === `/showtime/${hold.showtime_id}` || (hold.checkout && path === `/pay/${hold.checkout.booking_id}`));
  if (!hold || onItsPage) { banner.hidden = true; return; }
  const target = hold.checkout ? `#/pay/${hold.checkout.booking_id}` : `#/showtime/${hold.showtime_id}`;
  const what = hold.showtime ? ` for ${hold.showtime.title}` : '';
  mount(banner, h('div', { class: 'hold-banner__inner' },
    h('span', {}, `You are holding ${plural(hold.seats.length, 'seat')}${what} — `,
      h('strong', { class: 'hold-banner__time' }, clock(secondsLeft())), ' left.'),
    h('a', { class: 'button button--small button--primary', href: target }, hold.checkout ? 'Finish payment' : 'Back to your seats')));
  banner.hidden = false;
}

onHold((event) => {
  if (event.type === 'tick') {
    const time = banner.querySelector('.hold-banner__time');
    if (time && !banner.hidden) time.textContent = clock(secondsLeft());
    return;
  }
  if (event.reason === 'expired' && !location.hash.startsWith('#/showtime/')) {
    notify('Your seat hold has expired and the seats were released.', 'error');
  }
  updateBanner();
});

// --- Start ---

setUpAccount();
let signedIn = currentUser() ? currentUser().id : null;
onSessionChange((user) => {
  renderAccount();
  const now = user ? user.id : null;
  if (now === signedIn) return;
  signedIn = now;
  if (current && current.private) render();
  if (!user) announce('You are signed out.');
});
window.addEventListener('hashchange', render);

refreshUser().finally(() => {
  if (currentHold()) verifyHold().catch(() => {});
});
render();
