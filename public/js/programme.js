// What's on: a week of days, the genres, and each movie showing that day with its poster
// and showtimes.

import { get } from './api.js';
import { h, mount, today, addDays, dayLabel, time, money, plural } from './ui.js';

const DAYS_SHOWN = 7;
const CINEMA_KEY = 'boxoffice.cinema';

function chosenCinema() {
  try { return localStorage.getItem(CINEMA_KEY) || ''; } catch { return ''; }
}

function chooseCinema(id) {
  try { if (id) localStorage.setItem(CINEMA_KEY, id); else localStorage.removeItem(CINEMA_KEY); } catch { /* private mode */ }
}

/** A showtime's start as its cinema's clock shows it ("19:00" in Lisbon, whatever the browser's zone). */
function localTime(showtime) {
  return showtime.local_starts_at ? showtime.local_starts_at.slice(11, 16) : time(showtime.starts_at);
}

export async function showProgramme(main, query) {
  const firstDay = today();
  const days = Array.from({ length: DAYS_SHOWN }, (_, i) => addDays(firstDay, i));
  const genreId = query.get('genre') || '';
  let date = days.includes(query.get('date')) ? query.get('date') : null;

  const [genres, cinemas] = await Promise.all([get('/genres').then((r) => r.items), get('/cinemas').then((r) => r.items)]);
  let cinemaId = chosenCinema();
  if (cinemaId && !cinemas.some((c) => String(c.id) === cinemaId)) { cinemaId = ''; chooseCinema(''); }
  const load = (day, genre) => loadDay(day, genre, cinemaId);
  let programme;
  if (date) {
    programme = await load(date, genreId);
  } else {
    // No day chosen: today, or else the first day of the week that has something on.
    for (const candidate of days) {
      const found = await load(candidate, genreId);
      if (!programme || found.movies.length) { programme = found; date = candidate; }
      if (found.movies.length) break;
    }
    if (!programme.movies.length) date = days[0];
  }

  const link = (changes) => {
    const params = new URLSearchParams({ date, genre: genreId, ...changes });
    for (const [key, value] of [...params]) if (!value) params.delete(key);
    return `#/?${params}`;
  };

  mount(main,
    h('section', { class: 'hero' },
      h('h1', { tabindex: '-1' }, 'What\'s on'),
      h('p', { class: 'hero__lead' }, 'Pick a day, choose a showtime, and choose your seats on the map.')),
    cinemas.length > 1 ? cinemaPicker(cinemas, cinemaId) : null,
    h('nav', { class: 'filters', 'aria-label': 'Filter the programme' },
      h('ul', { class: 'chips', 'aria-label': 'Day' },
        days.map((d) => h('li', {}, h('a', { class: 'chip', href: link({ date: d }), 'aria-current': d === date ? 'date' : null }, dayLabel(d))))),
      h('ul', { class: 'chips chips--small', 'aria-label': 'Genre' },
        h('li', {}, h('a', { class: 'chip', href: link({ genre: '' }), 'aria-current': genreId === '' ? 'true' : null }, 'All genres')),
        genres.map((g) => h('li', {}, h('a', { class: 'chip', href: link({ genre: String(g.id) }), 'aria-current': String(g.id) === genreId ? 'true' : null }, g.name))))),
    h('h2', { class: 'section-title' }, `${dayLabel(date)}${genreId ? ` · ${(genres.find((g) => String(g.id) === genreId) || {}).name || ''}` : ''}`,
      h('span', { class: 'section-title__count' }, plural(programme.movies.length, 'movie'))),
    programme.movies.length
      ? h('ul', { class: 'movies' }, programme.movies.map((movie) => h('li', {}, movieCard(movie, programme.showtimes.get(movie.id) || [], !cinemaId && cinemas.length > 1))))
      : h('div', { class: 'empty' },
        h('p', {}, genreId ? 'Nothing in this genre on this day.' : 'Nothing is showing on this day.'),
        h('p', {}, genreId ? h('a', { href: link({ genre: '' }) }, 'Show every genre') : 'Try another day.')));
}

/** Choose a city's cinema (or all); the choice is remembered on this device. */
function cinemaPicker(cinemas, cinemaId) {
  const cities = [...new Set(cinemas.map((c) => c.city))];
  const select = h('select', { id: 'cinema', name: 'cinema', onchange: () => { chooseCinema(select.value); window.dispatchEvent(new HashChangeEvent('hashchange')); } },
    h('option', { value: '' }, 'All cinemas'),
    cities.map((city) => h('optgroup', { label: city },
      cinemas.filter((c) => c.city === city).map((c) => h('option', { value: String(c.id), selected: String(c.id) === cinemaId }, c.name)))));
  return h('div', { class: 'field cinema-picker' }, h('label', { for: 'cinema' }, 'Cinema'), select);
}

async function loadDay(date, genreId, cinemaId) {
  const params = new URLSearchParams({ date, limit: '200' });
  if (genreId) params.set('genre', genreId);
  if (cinemaId) params.set('cinema', cinemaId);
  const movieParams = new URLSearchParams({ showing_on: date, limit: '100' });
  if (genreId) movieParams.set('genre', genreId);
  const [movies, showtimes] = await Promise.all([get(`/movies?${movieParams}`), get(`/showtimes?${params}`)]);
  const byMovie = new Map();
  for (const showtime of showtimes.items) {
    if (showtime.status === 'cancelled') continue;
    if (!byMovie.has(showtime.movie.id)) byMovie.set(showtime.movie.id, []);
    byMovie.get(showtime.movie.id).push(showtime);
  }
  return { movies: movies.items.filter((m) => byMovie.has(m.id)), showtimes: byMovie };
}

function movieCard(movie, showtimes, nameCinema) {
  const facts = [`${movie.duration_minutes} min`];
  if (movie.age_rating !== null && movie.age_rating !== undefined) facts.push(`Age ${movie.age_rating}+`);
  if (movie.genres && movie.genres.length) facts.push(movie.genres.map((g) => g.name).join(', '));
  const now = Date.now();
  return h('article', { class: 'movie', 'aria-labelledby': `movie-${movie.id}` },
    poster(movie),
    h('div', { class: 'movie__body' },
      h('h3', { class: 'movie__title', id: `movie-${movie.id}` }, movie.title),
      h('p', { class: 'movie__facts' }, facts.join(' · ')),
      movie.description ? h('p', { class: 'movie__description' }, movie.description) : null,
      h('ul', { class: 'showtimes', 'aria-label': `Showtimes of ${movie.title}` },
        showtimes.map((showtime) => {
          const started = Date.parse(showtime.starts_at) <= now;
          const cheapest = Math.min(...Object.values(showtime.prices || { x: 0 }));
          const where = nameCinema && showtime.cinema ? `${showtime.cinema.name}, ${showtime.hall.name}` : showtime.hall.name;
          const content = [h('span', { class: 'showtime__time' }, localTime(showtime)),
            h('span', { class: 'showtime__hall' }, where),
            h('span', { class: 'showtime__price' }, started ? 'Started' : `from ${money(cheapest, showtime.currency)}`)];
          return h('li', {}, started
            ? h('span', { class: 'showtime showtime--past', 'aria-disabled': 'true' }, content)
            : h('a', {
              class: 'showtime', href: `#/showtime/${showtime.id}`, dataset: { showtimeId: showtime.id },
              'aria-label': `${localTime(showtime)} in ${where}, from ${money(cheapest, showtime.currency)}: choose seats`,
            }, content));
        }))));
}

/** The poster, or a drawn stand-in with the title when the movie has none (or it fails to load). */
export function poster(movie, size = '') {
  const standIn = () => h('div', { class: `poster poster--drawn ${size}`, style: { '--hue': String((movie.id * 67) % 360) }, 'aria-hidden': 'true' },
    h('span', {}, movie.title));
  if (!movie.poster_url) return standIn();
  const image = h('img', { class: `poster ${size}`, src: movie.poster_url, alt: `Poster of ${movie.title}`, loading: 'lazy', width: '240', height: '360' });
  image.addEventListener('error', () => image.replaceWith(standIn()), { once: true });
  return image;
}
