// Draws a hall's seats where their x/y coordinates put them (so aisles and stepped rows show
// as they are), one real <button> per seat. Keyboard: one seat is in the tab order at a time
// (roving tabindex); arrows move by position, Home/End to a row's ends, Enter/Space select.
// Status is never colour alone: held seats are striped, sold seats crossed, yours ticked,
// and every seat's accessible name says its row, number, category, status and price.

import { h, mount, money, categoryName } from './ui.js';

/** Room for the row letters either side of the seats, in seat widths. */
const LABEL_UNITS = 1.4;

const WELL_KNOWN_COLOURS = { standard: 'var(--cat-standard)', premium: 'var(--cat-premium)', accessible: 'var(--cat-accessible)' };
const OTHER_COLOURS = ['var(--cat-4)', 'var(--cat-5)', 'var(--cat-6)', 'var(--cat-7)'];

const STATUS_WORDS = {
  available: 'available',
  selected: 'selected',
  yours: 'held by you',
  held: 'held by someone else',
  sold: 'sold',
};

/** Colours for the categories of one map, well-known names first, stable for a showtime. */
export function categoryColours(categories) {
  const colours = {};
  let next = 0;
  for (const category of categories) {
    colours[category] = WELL_KNOWN_COLOURS[category] || OTHER_COLOURS[next++ % OTHER_COLOURS.length];
  }
  return colours;
}

export class SeatMap {
  /**
   * displayStatus(seat) → 'available' | 'selected' | 'yours' | 'held' | 'sold'
   * onActivate(seat): a seat was clicked or chosen with Enter/Space.
   */
  constructor(root, { displayStatus, onActivate, currency, hallName }) {
    this.root = root;
    this.displayStatus = displayStatus;
    this.onActivate = onActivate;
    this.currency = currency;
    this.hallName = hallName;
    this.buttons = new Map();
    this.seats = new Map();
    this.rows = [];
    this.focusId = null;
  }

  build(seats, colours) {
    this.seats = new Map(seats.map((seat) => [seat.id, seat]));
    this.colours = colours;
    const xs = seats.map((s) => s.x);
    const ys = seats.map((s) => s.y);
    const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
    const width = maxX - minX + 1 + 2 * LABEL_UNITS;
    const height = maxY - minY + 1;
    const box = (x, y) => ({
      left: `${((x - minX + LABEL_UNITS) / width) * 100}%`,
      top: `${((y - minY) / height) * 100}%`,
      width: `${100 / width}%`,
      height: `${100 / height}%`,
    });

    // Rows in front-to-back order, each row's seats left to right: what the arrow keys walk.
    const byRow = new Map();
    for (const seat of seats) {
      if (!byRow.has(seat.row)) byRow.set(seat.row, []);
      byRow.get(seat.row).push(seat);
    }
    this.rows = [...byRow.entries()]
      .map(([label, rowSeats]) => ({
        label,
        y: rowSeats.reduce((sum, s) => sum + s.y, 0) / rowSeats.length,
        seats: rowSeats.sort((a, b) => a.x - b.x),
      }))
      .sort((a, b) => a.y - b.y);

    const plan = h('div', {
      class: 'seatmap__plan',
      role: 'group',
      'aria-label': `Seats in ${this.hallName}, screen at the front`,
      'aria-describedby': 'seatmap-help',
      style: { aspectRatio: `${width} / ${height}` },
      onkeydown: (event) => this.onKeyDown(event),
    });

    for (const row of this.rows) {
      const top = `${((row.y - minY) / height) * 100}%`;
      const size = { top, height: `${100 / height}%`, width: `${(LABEL_UNITS / width) * 100}%` };
      plan.append(h('span', { class: 'seatmap__row-label', 'aria-hidden': 'true', style: { ...size, left: '0' } }, row.label));
      plan.append(h('span', { class: 'seatmap__row-label', 'aria-hidden': 'true', style: { ...size, right: '0' } }, row.label));
      // Each row is a group, so a screen reader can say "Row F" when entering it.
      const group = h('div', { class: 'seatmap__row', role: 'group', 'aria-label': `Row ${row.label}` });
      for (const seat of row.seats) {
        const button = h('button', {
          type: 'button',
          class: 'seat',
          tabindex: '-1',
          dataset: { seatId: seat.id, row: seat.row, number: seat.number },
          style: { ...box(seat.x, seat.y), '--seat': colours[seat.category] },
          onclick: () => this.activate(seat.id),
          onfocus: () => this.setFocus(seat.id, false),
        }, h('span', { class: 'seat__glyph', 'aria-hidden': 'true' }));
        this.buttons.set(seat.id, button);
        group.append(button);
      }
      plan.append(group);
    }

    // The stage keeps seats between a legible and a sensible size; narrow screens scroll sideways.
    const stage = h('div', { class: 'seatmap__stage' },
      h('div', { class: 'seatmap__screen', 'aria-hidden': 'true' }, h('span', {}, 'Screen')),
      plan);
    stage.style.setProperty('--units', String(width));
    mount(this.root,
      h('div', { class: 'seatmap__scroll' }, stage),
      h('p', { class: 'seatmap__help', id: 'seatmap-help' },
        'Use the arrow keys to move between seats, and Enter or Space to select one.'));

    this.refreshAll();
    // On a narrow screen the map scrolls sideways; start at its middle, where the best seats are.
    const scroller = this.root.querySelector('.seatmap__scroll');
    requestAnimationFrame(() => { scroller.scrollLeft = (scroller.scrollWidth - scroller.clientWidth) / 2; });
    const first = this.rows.flatMap((r) => r.seats).find((s) => this.displayStatus(s) === 'available') || seats[0];
    if (first) this.setFocus(first.id, false);
  }

  /** Redraws the given seats (ids), or all of them. */
  refresh(ids) {
    for (const id of ids) {
      const seat = this.seats.get(id);
      const button = this.buttons.get(id);
      if (!seat || !button) continue;
      const status = this.displayStatus(seat);
      if (button.dataset.status === status) continue;
      button.dataset.status = status;
      button.className = `seat seat--${status}`;
      const label = `Row ${seat.row}, seat ${seat.number}, ${categoryName(seat.category).toLowerCase()}, ${STATUS_WORDS[status]}, ${money(seat.price, this.currency)}`;
      button.setAttribute('aria-label', label);
      button.title = label;
      button.setAttribute('aria-pressed', String(status === 'selected' || status === 'yours'));
      // aria-disabled, not disabled: taken seats stay reachable, so they can be read out.
      if (status === 'held' || status === 'sold') button.setAttribute('aria-disabled', 'true');
      else button.removeAttribute('aria-disabled');
      button.querySelector('.seat__glyph').textContent = { selected: '✓', yours: '✓', sold: '×', held: '' }[status] || '';
    }
  }

  refreshAll() { this.refresh([...this.seats.keys()]); }

  activate(id) {
    this.setFocus(id, false);
    this.onActivate(this.seats.get(id));
  }

  setFocus(id, moveFocus = true) {
    if (this.focusId !== null && this.buttons.has(this.focusId)) this.buttons.get(this.focusId).tabIndex = -1;
    this.focusId = id;
    const button = this.buttons.get(id);
    if (!button) return;
    button.tabIndex = 0;
    if (moveFocus) {
      button.focus();
      button.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
  }

  onKeyDown(event) {
    const seat = this.seats.get(this.focusId);
    if (!seat) return;
    const rowIndex = this.rows.findIndex((r) => r.label === seat.row);
    const row = this.rows[rowIndex];
    const index = row.seats.indexOf(seat);
    let target = null;
    switch (event.key) {
      case 'ArrowLeft': target = row.seats[index - 1]; break;
      case 'ArrowRight': target = row.seats[index + 1]; break;
      case 'ArrowUp': target = nearestIn(this.rows[rowIndex - 1], seat.x); break;
      case 'ArrowDown': target = nearestIn(this.rows[rowIndex + 1], seat.x); break;
      case 'Home': target = event.ctrlKey ? this.rows[0].seats[0] : row.seats[0]; break;
      case 'End': {
        const last = event.ctrlKey ? this.rows[this.rows.length - 1] : row;
        target = last.seats[last.seats.length - 1];
        break;
      }
      default: return; // Enter and Space are the button's own click
    }
    event.preventDefault();
    if (target) this.setFocus(target.id);
  }

  /** The legend: every category with its colour and price, then what each status looks like. */
  static legend(categories, colours, prices, currency) {
    const sample = (status, colour) => h('span', { class: `seat seat--${status} seat--sample`, style: { '--seat': colour }, 'aria-hidden': 'true' },
      h('span', { class: 'seat__glyph' }, { selected: '✓', yours: '✓', sold: '×' }[status] || ''));
    const neutral = 'var(--cat-standard)';
    return h('div', { class: 'legend' },
      h('h3', { class: 'visually-hidden' }, 'Legend'),
      h('ul', { class: 'legend__list', 'aria-label': 'Seat categories' },
        categories.map((category) => h('li', {}, sample('available', colours[category]),
          h('span', {}, categoryName(category), ' ', h('span', { class: 'legend__price' }, money(prices[category], currency)))))),
      h('ul', { class: 'legend__list', 'aria-label': 'Seat status' },
        h('li', {}, sample('selected', neutral), 'Your selection'),
        h('li', {}, sample('yours', neutral), 'Held for you'),
        h('li', {}, sample('held', neutral), 'Held by someone else'),
        h('li', {}, sample('sold', neutral), 'Sold')));
  }
}

function nearestIn(row, x) {
  if (!row) return null;
  return row.seats.reduce((best, s) => (Math.abs(s.x - x) < Math.abs(best.x - x) ? s : best), row.seats[0]);
}
