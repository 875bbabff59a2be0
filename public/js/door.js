// The door: staff scan tickets. USB and Bluetooth scanners type the code and press Enter, so
// the page is one input that keeps its focus and checks a ticket on every Enter, then shows the
// answer big and coloured, with a sound (and a buzz on phones) where the browser allows.

import { currentUser, get, post } from './api.js';
import { signInPrompt } from './tickets.js';
import { h, mount, day, time, plural } from './ui.js';

const ANSWERS = {
  valid: { title: 'Valid', tone: 880 },
  ticket_already_used: { title: 'Already used', tone: 220 },
  ticket_cancelled: { title: 'Cancelled', tone: 220 },
  ticket_not_today: { title: 'Wrong day', tone: 220 },
  ticket_unknown: { title: 'Unknown ticket', tone: 160 },
  other_cinema: { title: 'Another cinema', tone: 220 },
};

const DOOR_ROLES = ['staff', 'manager', 'admin'];

export function showDoor(main) {
  const user = currentUser();
  if (!user) return signInPrompt(main, 'The door');
  if (!DOOR_ROLES.includes(user.role)) {
    mount(main, h('section', { class: 'empty' }, h('h1', { tabindex: '-1' }, 'The door'),
      h('p', {}, 'Checking tickets in is for staff. Ask an admin to give your account the staff role.')));
    return () => {};
  }
  // Staff and managers check in their own cinema's tickets only: say which cinema that is.
  const where = h('p', { id: 'door-cinema', class: 'door__cinema' }, user.cinema_id ? 'Your cinema' : 'Every cinema of the chain');
  if (user.cinema_id) {
    get(`/cinemas/${user.cinema_id}`).then((cinema) => {
      where.textContent = `${cinema.name}, ${cinema.city}`;
    }).catch(() => {});
  }
  const input = h('input', {
    id: 'door-code', class: 'door__input', type: 'text', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
    'aria-label': 'Ticket code', placeholder: 'Scan a ticket or type its code',
  });
  const result = h('div', { id: 'door-result', class: 'door__result', role: 'status', 'aria-live': 'assertive' },
    h('p', { class: 'door__title' }, 'Ready'), h('p', { class: 'door__detail' }, 'Scan a ticket.'));
  const history = h('ol', { id: 'door-history', class: 'door__history' });
  const form = h('form', { class: 'door__form', onsubmit: (event) => { event.preventDefault(); check(); } }, input);
  let busy = false;

  async function check() {
    const code = input.value.trim();
    input.value = '';
    if (!code || busy) return;
    busy = true;
    try {
      const scan = await post('/admin/tickets/validate', { code });
      show('valid', `${plural(scan.booking.seats.length, 'person', 'people')} · ${scan.booking.movie_title}`,
        scan.booking.seats.map((seat) => `Row ${seat.row} · Seat ${seat.number}`).join(', '));
    } catch (error) {
      const problem = error.problem || {};
      switch (error.code) {
        case 'ticket_already_used':
          show(error.code, `Checked in at ${time(problem.checked_in_at)} on ${day(problem.checked_in_at)}.`); break;
        case 'ticket_cancelled':
          show(error.code, `This booking is ${problem.status || 'cancelled'}.`); break;
        case 'ticket_not_today':
          show(error.code, `This ticket is for ${day(problem.starts_at)} at ${time(problem.starts_at)}.`); break;
        case 'ticket_unknown':
          show(error.code, 'No ticket has this code.'); break;
        case 'other_cinema':
          show(error.code, 'This ticket is for another cinema of the chain; it was not checked in.'); break;
        default:
          show(null, error.message || 'The ticket could not be checked; try again.');
      }
    } finally {
      busy = false;
      input.focus();
    }
  }

  function show(kind, detail, extra) {
    const answer = ANSWERS[kind] || { title: 'Not checked', tone: 160 };
    result.className = `door__result door__result--${kind ? kind.replace(/^ticket_/, '').replace(/_/g, '-') : 'error'}`;
    result.dataset.result = kind || 'error';
    mount(result, h('p', { class: 'door__title' }, answer.title), h('p', { class: 'door__detail' }, detail),
      extra ? h('p', { class: 'door__extra' }, extra) : null);
    history.prepend(h('li', { class: `door__entry door__entry--${kind === 'valid' ? 'ok' : 'no'}` }, `${answer.title}: ${detail}`));
    while (history.children.length > 10) history.lastChild.remove();
    cue(answer.tone, kind === 'valid');
  }

  // Keep the focus on the input: a scanner types wherever the focus is.
  const refocus = () => setTimeout(() => { if (document.activeElement !== input && main.contains(input)) input.focus(); }, 0);
  input.addEventListener('blur', refocus);
  // Drawn while the sign-in dialog was still open, the input could not take the focus then.
  const dialog = document.getElementById('auth-dialog');
  if (dialog) dialog.addEventListener('close', refocus);
  mount(main, h('section', { class: 'door' }, h('h1', { tabindex: '-1' }, 'The door'), where, form, result,
    h('h2', { class: 'door__history-title' }, 'Last scans'), history));
  input.focus();
  return () => {
    input.removeEventListener('blur', refocus);
    if (dialog) dialog.removeEventListener('close', refocus);
  };
}

let audio = null;
function cue(frequency, ok) {
  try {
    audio = audio || new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.value = 0.1;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + (ok ? 0.12 : 0.4));
  } catch { /* no sound here */ }
  if (navigator.vibrate) navigator.vibrate(ok ? 80 : [200, 100, 200]);
}
