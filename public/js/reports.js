// Staff reports: tickets sold, gross, refunds and net over a period, grouped by movie, day,
// slot, hall or genre, with the totals and a CSV of the same report. Staff and managers see
// their own cinema's (the API gives them nothing else); admins the chain's, or one cinema's.

import { currentUser, get, imageURL } from './api.js';
import { signInPrompt } from './tickets.js';
import { h, mount, money, addDays, capitalise, plural, announce, showAlert, errorText, CINEMA_TIME_ZONE } from './ui.js';

const REPORT_ROLES = ['staff', 'manager', 'admin'];

const GROUPINGS = [
  ['movie', 'Movie'],
  ['day_of_week', 'Day of the week'],
  ['time_slot', 'Time slot'],
  ['day', 'Day'],
  ['hall', 'Hall'],
  ['genre', 'Genre'],
];
const CHAIN_GROUPINGS = [['cinema', 'Cinema'], ['city', 'City']];

const COUNTS = [
  ['showtimes', 'Showtimes'],
  ['cancelled_showtimes', 'Cancelled'],
  ['tickets_sold', 'Tickets sold'],
];
const AMOUNTS = [
  ['gross_minor', 'Gross'],
  ['refunds_minor', 'Refunds'],
  ['net_minor', 'Net'],
];

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const periodDay = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

/** Today as YYYY-MM-DD in a time zone (a report's days are its cinema's). */
function todayIn(zone) {
  try {
    return new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: zone }).format(new Date());
  } catch {
    return todayIn(CINEMA_TIME_ZONE); // a zone this browser does not know
  }
}

function dayText(isoDate) {
  const [y, m, d] = isoDate.split('-').map(Number);
  return periodDay.format(new Date(Date.UTC(y, m - 1, d)));
}

let views = 0; // the latest showReports: an older one still loading must not draw over it

export async function showReports(main, query) {
  const view = ++views;
  const user = currentUser();
  if (!user) return signInPrompt(main, 'Reports');
  if (!REPORT_ROLES.includes(user.role)) {
    mount(main, h('section', { class: 'empty' }, h('h1', { tabindex: '-1' }, 'Reports'),
      h('p', {}, 'Sales reports are for staff. Ask an admin to give your account the staff role.')));
    return () => {};
  }

  // Staff and managers: their cinema, named (as at the door). Admins: any cinema, or all.
  const own = user.role !== 'admin';
  let ownCinema = null;
  let cinemas = [];
  if (!own) cinemas = (await get('/cinemas')).items;
  else if (user.cinema_id) ownCinema = await get(`/cinemas/${user.cinema_id}`).catch(() => null);
  if (view !== views) return () => {};
  const zone = ownCinema ? ownCinema.time_zone : CINEMA_TIME_ZONE;

  const groupings = own ? GROUPINGS : [...GROUPINGS, ...CHAIN_GROUPINGS];
  const to = DAY.test(query.get('to') || '') ? query.get('to') : todayIn(zone);
  const from = DAY.test(query.get('from') || '') ? query.get('from') : addDays(to, -6);
  const groupBy = groupings.some(([key]) => key === query.get('group_by')) ? query.get('group_by') : 'movie';
  const cinemaId = !own && cinemas.some((c) => String(c.id) === query.get('cinema')) ? query.get('cinema') : '';

  const fromInput = h('input', { id: 'reports-from', name: 'from', type: 'date', value: from, required: true, onchange: load });
  const toInput = h('input', { id: 'reports-to', name: 'to', type: 'date', value: to, required: true, onchange: load });
  const groupSelect = h('select', { id: 'reports-group', name: 'group_by', onchange: load },
    groupings.map(([key, label]) => h('option', { value: key, selected: key === groupBy }, label)));
  const cinemaSelect = own ? null : h('select', { id: 'reports-cinema', name: 'cinema', onchange: load },
    h('option', { value: '' }, 'All cinemas'),
    cinemas.map((c) => h('option', { value: String(c.id), selected: String(c.id) === cinemaId }, `${c.name}, ${c.city}`)));
  const field = (id, label, control) => h('div', { class: 'field' }, h('label', { for: id }, label), control);

  const alertBox = h('div', { id: 'reports-alert', hidden: true });
  const result = h('div', { id: 'reports-result', class: 'reports__result', 'aria-busy': 'true' });
  const csvButton = h('button', { id: 'reports-csv', class: 'button', type: 'button', onclick: downloadCSV }, 'Download CSV');

  mount(main, h('section', { class: 'reports' },
    h('h1', { tabindex: '-1' }, 'Reports'),
    own ? h('p', { id: 'reports-own-cinema', class: 'reports__cinema' },
      ownCinema ? `${ownCinema.name}, ${ownCinema.city}` : 'Your cinema') : null,
    h('form', { class: 'reports__filters', 'aria-label': 'Report', onsubmit: (event) => { event.preventDefault(); load(); } },
      field('reports-from', 'From', fromInput),
      field('reports-to', 'To (included)', toInput),
      field('reports-group', 'Group by', groupSelect),
      cinemaSelect ? field('reports-cinema', 'Cinema', cinemaSelect) : null),
    alertBox,
    result,
    h('p', { class: 'actions' }, csvButton)));

  let loads = 0;
  let csvURL = null;

  function params(extra = {}) {
    const values = new URLSearchParams({ from: fromInput.value, to: toInput.value, group_by: groupSelect.value, ...extra });
    if (cinemaSelect && cinemaSelect.value) values.set('cinema', cinemaSelect.value);
    return values;
  }

  function cinemaName() {
    if (own) return ownCinema ? ownCinema.name : 'Your cinema';
    const chosen = cinemas.find((c) => String(c.id) === cinemaSelect.value);
    return chosen ? chosen.name : 'All cinemas';
  }

  async function load() {
    const mine = ++loads;
    showAlert(alertBox, null);
    if (!DAY.test(fromInput.value) || !DAY.test(toInput.value)) {
      mount(result);
      result.removeAttribute('aria-busy');
      showAlert(alertBox, 'Please choose the first and the last day of the period.');
      return;
    }
    // The choice stays in the address (a reload or a shared link shows the same report).
    if (location.hash.startsWith('#/reports')) history.replaceState(null, '', `#/reports?${params()}`);
    result.setAttribute('aria-busy', 'true');
    try {
      const report = await get(`/admin/reports/revenue?${params()}`);
      if (mine !== loads) return;
      const label = groupings.find(([key]) => key === groupSelect.value)[1];
      const chain = !own && !cinemaSelect.value;
      mount(result, reportTable(report, label, `${dayText(fromInput.value)} – ${dayText(toInput.value)}`, cinemaName(), chain));
      if (mine > 1) announce(`Report updated: ${plural(report.groups.length, 'row')}.`);
    } catch (error) {
      if (mine !== loads) return;
      mount(result);
      showAlert(alertBox, errorText(error));
    } finally {
      if (mine === loads) result.removeAttribute('aria-busy');
    }
  }

  // The CSV needs the bearer token, so it is fetched here and handed over as a Blob URL.
  async function downloadCSV() {
    showAlert(alertBox, null);
    csvButton.disabled = true;
    csvButton.setAttribute('aria-busy', 'true');
    try {
      // `format=csv` wins over the Accept header imageURL sends.
      const url = await imageURL(`/admin/reports/revenue?${params({ format: 'csv' })}`);
      if (csvURL) URL.revokeObjectURL(csvURL);
      csvURL = url;
      const name = `revenue-by-${groupSelect.value}-${fromInput.value}-${toInput.value}${cinemaSelect && cinemaSelect.value ? `-cinema-${cinemaSelect.value}` : ''}.csv`;
      const link = h('a', { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (error) {
      showAlert(alertBox, errorText(error));
    } finally {
      csvButton.disabled = false;
      csvButton.removeAttribute('aria-busy');
    }
  }

  await load();
  return () => { loads += 1; if (csvURL) URL.revokeObjectURL(csvURL); };
}

/** The groups and, per currency, the totals, as a table with its caption and time zone. */
function reportTable(report, groupLabel, period, where, chain) {
  const name = (row) => {
    if (report.group_by === 'day' && row.key && DAY.test(row.key)) return dayText(row.key);
    if (report.group_by === 'genre' && row.key === null) return 'No genre';
    return capitalise(row.label || row.key || '—');
  };
  const occupancy = (row) => (row.average_occupancy_pct === null || row.average_occupancy_pct === undefined
    ? '—' : percent.format(row.average_occupancy_pct / 100));
  const currencies = new Set(report.totals.map((row) => row.currency));
  const cells = (row) => [
    COUNTS.map(([key]) => h('td', { class: 'num', dataset: { col: key } }, String(row[key]))),
    AMOUNTS.map(([key]) => h('td', { class: 'num', dataset: { col: key } }, money(row[key], row.currency))),
    h('td', { class: 'num', dataset: { col: 'average_occupancy_pct' } }, occupancy(row)),
  ];
  const columns = COUNTS.length + AMOUNTS.length + 2;

  return [
    h('p', { id: 'reports-zone', class: 'reports__zone' }, 'Days and times in ', h('strong', {}, report.time_zone),
      chain ? ' (each showtime grouped by its own cinema\'s clock)' : ''),
    h('div', { class: 'reports__scroll' },
      h('table', { id: 'revenue-table', class: 'report-table' },
        h('caption', {}, `Revenue by ${groupLabel.toLowerCase()}, ${period}, ${where}`),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, groupLabel),
          COUNTS.map(([, label]) => h('th', { scope: 'col', class: 'num' }, label)),
          AMOUNTS.map(([, label]) => h('th', { scope: 'col', class: 'num' }, label)),
          h('th', { scope: 'col', class: 'num' }, 'Average occupancy'))),
        h('tbody', {}, report.groups.length
          ? report.groups.map((row) => h('tr', { dataset: { key: row.key === null ? '' : row.key, currency: row.currency } },
            h('th', { scope: 'row' }, name(row)), cells(row)))
          : h('tr', {}, h('td', { colspan: columns, class: 'report-table__empty' }, 'No showtimes in this period.'))),
        report.totals.length
          ? h('tfoot', {}, report.totals.map((row) => h('tr', { class: 'report-table__total', dataset: { currency: row.currency } },
            h('th', { scope: 'row' }, currencies.size > 1 ? `Total (${row.currency})` : 'Total'), cells(row))))
          : null)),
  ];
}
