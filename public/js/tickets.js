// After the seats: paying (the sandbox provider), the ticket with its code, and "my bookings"
// with cancellation.

import { currentUser, get, imageURL, post } from './api.js';
import { currentHold, forgetHold, onHold, secondsLeft } from './hold.js';
import { openSignIn } from './account.js';
import { h, mount, money, day, time, clock, plural, seatName, notify, announce, showAlert, errorText, confirmAction } from './ui.js';

const STATUS_TEXT = {
  pending: 'Awaiting payment',
  confirmed: 'Confirmed',
  failed: 'Failed',
  payment_failed: 'Payment declined',
  expired: 'Expired',
  cancelled: 'Cancelled',
};

/** Shown instead of a view that needs an account; the app redraws the view after signing in. */
export function signInPrompt(main, what) {
  mount(main, h('section', { class: 'empty' },
    h('h1', { tabindex: '-1' }, what),
    h('p', {}, 'Please sign in to see this.'),
    h('button', { class: 'button button--primary', type: 'button', onclick: () => openSignIn() }, 'Sign in')));
}

// --- Payment ---

export async function showPayment(main, bookingId) {
  if (!currentUser()) return signInPrompt(main, 'Payment');
  const booking = await get(`/bookings/${encodeURIComponent(bookingId)}`);
  if (booking.status !== 'pending') { location.replace(`#/ticket/${booking.id}`); return () => {}; }
  const hold = currentHold();
  const payment = hold && hold.checkout && hold.checkout.booking_id === booking.id ? hold.checkout : null;

  const alertBox = h('div', { id: 'pay-alert', hidden: true });
  const countdown = h('span', { id: 'pay-countdown' }, clock(secondsLeft()));
  const payButton = h('button', { class: 'button button--primary button--block', type: 'button', id: 'pay', onclick: () => pay('succeed') },
    `Pay ${money(booking.amount, booking.currency)}`);
  const declineButton = h('button', { class: 'button button--ghost button--block', type: 'button', id: 'pay-decline', onclick: () => pay('fail') },
    'Simulate a declined payment');

  async function pay(outcome) {
    payButton.disabled = declineButton.disabled = true;
    payButton.setAttribute('aria-busy', 'true');
    showAlert(alertBox, 'Processing your payment…', 'info');
    try {
      const result = await post(`/sandbox/payments/${encodeURIComponent(payment.payment_id)}`, { outcome });
      await settle(result.outcome);
    } catch (error) {
      const text = error.status === 404 && error.code === 'not_found'
        ? 'The payment service is not available right now. Your seats stay held; please try again in a moment.'
        : errorText(error);
      showAlert(alertBox, text);
      payButton.disabled = declineButton.disabled = false;
    } finally {
      payButton.removeAttribute('aria-busy');
    }
  }

  async function settle(outcome) {
    const showtimeLink = h('a', { href: `#/showtime/${booking.showtime_id}` }, 'Choose seats again');
    switch (outcome) {
      case 'confirmed':
        forgetHold('purchased');
        notify('Payment received. Enjoy the film!', 'success');
        location.hash = `#/ticket/${booking.id}`;
        return;
      case 'payment_failed':
        forgetHold('payment_failed');
        return failed('Your payment was declined, so nothing was charged. Your seats have been released.', showtimeLink);
      case 'seats_lost':
        forgetHold('seats_lost');
        return failed('Your payment went through, but your seats were taken after the hold ran out. The booking failed and the full amount will be refunded.', showtimeLink);
      case 'booking_closed':
        forgetHold('booking_closed');
        return failed('This booking had already been closed, so your payment will be refunded.', showtimeLink);
      default: {
        // Settled before (another tab, a retry): the booking says how.
        const now = await get(`/bookings/${encodeURIComponent(booking.id)}`);
        if (now.status === 'confirmed') { forgetHold('purchased'); location.hash = `#/ticket/${booking.id}`; return; }
        if (now.status !== 'pending') forgetHold(now.status);
        return failed(`This booking is ${STATUS_TEXT[now.status]?.toLowerCase() || now.status}.`, showtimeLink);
      }
    }
  }

  function failed(text, link) {
    showAlert(alertBox, text);
    alertBox.append(' ', link);
    announce(text);
    payButton.hidden = declineButton.hidden = true;
    timer.hidden = true;
  }

  const timer = h('p', { class: 'countdown' }, h('span', { class: 'countdown__label' }, 'Your seats are reserved for '), countdown);
  mount(main,
    h('a', { class: 'back-link', href: `#/showtime/${booking.showtime_id}` }, '← Back to the seats'),
    h('h1', { tabindex: '-1' }, 'Payment'),
    h('div', { class: 'pay-layout' },
      h('section', { class: 'card', 'aria-labelledby': 'order-title' },
        h('h2', { id: 'order-title' }, 'Your order'),
        orderSummary(booking)),
      h('section', { class: 'card card--pay', 'aria-labelledby': 'pay-title' },
        h('h2', { id: 'pay-title' }, 'Pay'),
        payment ? timer : null,
        alertBox,
        payment
          ? [h('div', { class: 'sandbox-card', 'aria-hidden': 'true' },
            h('span', { class: 'sandbox-card__chip' }), h('span', { class: 'sandbox-card__number' }, '4242 4242 4242 4242'),
            h('span', { class: 'sandbox-card__name' }, currentUser()?.name || 'Card holder'), h('span', { class: 'sandbox-card__exp' }, '12/34')),
          h('p', { class: 'muted small' }, 'Test mode: this is the sandbox payment provider, no money moves. Choose how the payment ends.'),
          payButton, declineButton]
          : h('p', { class: 'alert alert--info', role: 'status' },
            'This payment was started in another window, so it cannot be finished here. ',
            h('a', { href: '#/bookings' }, 'See your bookings')))));

  return onHold((event) => {
    if (event.type === 'tick' && payment) countdown.textContent = clock(secondsLeft());
  });
}

function orderSummary(booking) {
  return h('div', { class: 'order' },
    h('p', { class: 'order__title' }, booking.movie_title),
    h('p', { class: 'order__when' }, h('time', { datetime: booking.starts_at }, `${day(booking.starts_at)} · ${time(booking.starts_at)}`), ` · ${booking.hall_name}`),
    h('ul', { class: 'seat-list' }, booking.seats.map((seat) => h('li', { class: 'seat-line' },
      h('span', { class: 'seat-line__name' }, seatName(seat)),
      h('span', { class: 'seat-line__price' }, money(seat.price, booking.currency))))),
    h('p', { class: 'total' }, h('span', {}, 'Total'), h('strong', {}, money(booking.amount, booking.currency))));
}

// --- The ticket ---

export async function showTicket(main, bookingId) {
  if (!currentUser()) return signInPrompt(main, 'Your ticket');
  const booking = await get(`/bookings/${encodeURIComponent(bookingId)}`);
  mount(main,
    h('a', { class: 'back-link', href: '#/bookings' }, '← My bookings'),
    h('h1', { tabindex: '-1' }, booking.status === 'confirmed' ? 'Your ticket' : 'Your booking'),
    ticket(booking),
    h('p', { class: 'center' }, h('a', { class: 'button', href: '#/' }, 'Book another film')));
}

function ticket(booking) {
  const confirmed = booking.status === 'confirmed' && booking.ticket_code;
  return h('article', { class: `ticket ticket--${booking.status}`, id: 'ticket', 'aria-labelledby': `ticket-title-${booking.id}` },
    h('div', { class: 'ticket__main' },
      h('p', { class: 'ticket__brand' }, 'BoxOffice · Admit ', plural(booking.seats.length, 'person', 'people')),
      h('h2', { class: 'ticket__title', id: `ticket-title-${booking.id}` }, booking.movie_title),
      h('dl', { class: 'ticket__facts' },
        fact('Date', day(booking.starts_at)),
        fact('Time', time(booking.starts_at)),
        fact('Hall', booking.hall_name),
        fact('Paid', money(booking.amount, booking.currency))),
      h('p', { class: 'ticket__seats-label' }, 'Seats'),
      h('ul', { class: 'ticket__seats' }, booking.seats.map((seat) => h('li', {}, `Row ${seat.row} · Seat ${seat.number}`)))),
    h('div', { class: 'ticket__stub' },
      confirmed
        ? [h('p', { class: 'ticket__code-label' }, 'Ticket code'),
          h('p', { class: 'ticket__code', id: 'ticket-code' }, booking.ticket_code),
          qrCode(booking),
          h('p', { class: 'small' }, 'Show this code at the door: it can be scanned from your screen.')]
        : h('p', { class: 'ticket__status', id: 'ticket-status' }, STATUS_TEXT[booking.status] || booking.status)));
}

const fact = (term, value) => h('div', {}, h('dt', {}, term), h('dd', {}, value));

/** The ticket's QR code, drawn by the server (a scanner at the door reads it). */
function qrCode(booking) {
  const img = h('img', { class: 'ticket__qr', id: 'ticket-qr', alt: `QR code of ticket ${booking.ticket_code}`, width: '176', height: '176' });
  imageURL(`/bookings/${encodeURIComponent(booking.id)}/ticket.svg`)
    .then((url) => { img.src = url; img.addEventListener('load', () => URL.revokeObjectURL(url), { once: true }); })
    .catch(() => { img.alt = 'The QR code could not be loaded; the ticket code above works at the door too.'; });
  return img;
}

// --- My bookings ---

export async function showBookings(main) {
  if (!currentUser()) return signInPrompt(main, 'My bookings');
  return drawBookings(main);
}

async function drawBookings(main) {
  const { items } = await get('/me/bookings');
  const alertBox = h('div', { id: 'bookings-alert', hidden: true });
  const hold = currentHold();
  mount(main,
    h('h1', { tabindex: '-1' }, 'My bookings'),
    alertBox,
    items.length
      ? h('ul', { class: 'bookings' }, items.map((booking) => h('li', {}, bookingCard(booking, hold, alertBox, () => drawBookings(main)))))
      : h('div', { class: 'empty' }, h('p', {}, 'No bookings yet.'), h('p', {}, h('a', { class: 'button button--primary', href: '#/' }, 'See what\'s on'))));
}

function bookingCard(booking, hold, alertBox, redraw) {
  const upcoming = Date.parse(booking.starts_at) > Date.now();
  const resumable = booking.status === 'pending' && hold && hold.checkout && hold.checkout.booking_id === booking.id;
  async function cancel() {
    const yes = await confirmAction({
      title: 'Cancel this booking?',
      text: `${booking.movie_title}, ${day(booking.starts_at)} at ${time(booking.starts_at)}: ${plural(booking.seats.length, 'seat')}. The seats are released and ${money(booking.amount, booking.currency)} is refunded.`,
      yes: 'Cancel booking',
      no: 'Keep booking',
    });
    if (!yes) return;
    try {
      await post(`/bookings/${encodeURIComponent(booking.id)}/cancel`);
      notify('Your booking was cancelled. The refund is on its way.', 'success');
      await redraw();
      announce('Booking cancelled.');
    } catch (error) {
      showAlert(alertBox, errorText(error));
    }
  }
  return h('article', { class: `booking booking--${booking.status}`, dataset: { bookingId: booking.id }, 'aria-labelledby': `booking-${booking.id}` },
    h('div', { class: 'booking__main' },
      h('h2', { class: 'booking__title', id: `booking-${booking.id}` }, booking.movie_title),
      h('p', { class: 'booking__when' }, `${day(booking.starts_at)} · ${time(booking.starts_at)} · ${booking.hall_name}`),
      h('p', { class: 'booking__seats' }, booking.seats.map(seatName).join('; ')),
      booking.ticket_code && booking.status === 'confirmed' ? h('p', { class: 'booking__code' }, 'Ticket code ', h('strong', {}, booking.ticket_code)) : null),
    h('div', { class: 'booking__side' },
      h('span', { class: `badge badge--${booking.status}` }, STATUS_TEXT[booking.status] || booking.status),
      h('span', { class: 'booking__amount' }, money(booking.amount, booking.currency)),
      h('div', { class: 'actions' },
        booking.status === 'confirmed' ? h('a', { class: 'button', href: `#/ticket/${booking.id}` }, 'View ticket') : null,
        resumable ? h('a', { class: 'button button--primary', href: `#/pay/${booking.id}` }, 'Finish payment') : null,
        booking.status === 'confirmed' && upcoming
          ? h('button', { class: 'button button--ghost button--danger-text', type: 'button', onclick: cancel, 'aria-label': `Cancel booking for ${booking.movie_title}` }, 'Cancel')
          : null)));
}
