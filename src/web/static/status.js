// The status page: reads the JSON endpoints and fills the page. Data is only ever set as text
// (textContent), never as HTML. No inline script or style: the CSP forbids both.
'use strict';

const REFRESH_MS = 30_000;
const charts = {};
/** the zone every time is shown in: the daemon's schedule.timezone (its cut-offs and business dates are of it) */
let zone = 'UTC';

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) {
    // the server's own words when it has some (503: the database does not answer), else the status
    const said = await res.json().then((body) => body.error, () => undefined);
    throw new Error(`${path}: ${typeof said === 'string' ? said : `HTTP ${res.status}`}`);
  }
  return res.json();
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

/** Fills a table body with one row per item; each cell is [text, className?] or a Node. */
function fillTable(id, items, cells, empty) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  if (!items.length) {
    const row = el('tr');
    const cell = el('td', empty, 'empty');
    cell.colSpan = document.querySelectorAll(`#${id} thead th`).length;
    row.append(cell);
    body.append(row);
    return;
  }
  for (const item of items) {
    const row = el('tr');
    for (const c of cells(item)) row.append(c instanceof Node ? wrap(c) : el('td', c[1] === 'num' ? count(c[0]) : c[0], c[1]));
    body.append(row);
  }
}

function wrap(node) {
  const td = el('td');
  td.append(node);
  return td;
}

/** A count as people read it (1,000,000 in English), in the browser's language. */
const count = (n) => (typeof n === 'number' ? n.toLocaleString() : n);

/**
 * An instant as `YYYY-MM-DD HH:MM:SS` in `zone`, the one the cut-offs and business dates are shown in
 * (a run's start in UTC beside a cut-off in local time read as an hour early or late).
 */
function time(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const parts = Object.fromEntries(zoneFormat().formatToParts(at).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

function zoneFormat(options = {}) {
  const all = { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', ...options };
  try {
    return new Intl.DateTimeFormat('en-CA', all);
  } catch {
    zone = 'UTC'; // a zone this browser does not know: UTC, and the header says so
    return new Intl.DateTimeFormat('en-CA', { ...all, timeZone: 'UTC' });
  }
}

/** A span as people read it: `0.4 s`, `12 s`, `5 min 3 s`, `3 h 5 min`, `2 d 3 h`. */
function span(ms) {
  if (typeof ms !== 'number' || !(ms >= 0)) return '';
  if (ms < 10_000) return `${Math.round(ms / 100) / 10} s`;
  const [d, h, m, sec] = [Math.floor(ms / 86_400_000), Math.floor(ms / 3_600_000) % 24, Math.floor(ms / 60_000) % 60, Math.floor(ms / 1000) % 60];
  if (d) return `${count(d)} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  return m ? `${m} min ${sec} s` : `${sec} s`;
}

/** `Europe/Berlin (GMT+01:00)` at the instant `iso`. */
function zoneName(iso) {
  const offset = zoneFormat({ timeZoneName: 'longOffset' }).formatToParts(new Date(iso)).find((p) => p.type === 'timeZoneName')?.value;
  return offset ? `${zone} (${offset})` : zone;
}

function runCounts(r) {
  return r.job === 'send' || r.job.startsWith('send:') ? `${count(r.cardsSent)} sent, ${count(r.invalid)} Invalid` : `${count(r.reportsApplied)} applied, ${count(r.reportsQuarantined)} quarantined`;
}

function renderStatus(s) {
  zone = s.schedule.timezone;
  document.getElementById('generated').textContent = `as of ${time(s.generatedAt)} · times in ${zoneName(s.generatedAt)}`;
  // a live region: a screen reader announces what changed, so the list is replaced only when it did
  const alerts = document.getElementById('alerts');
  const items = s.alerts.length ? s.alerts.map((a) => el('li', `${a.kind}: ${a.message}`, a.severity)) : [el('li', 'none', 'none')];
  const shown = [...alerts.children].map((li) => `${li.className}|${li.textContent}`).join('\n');
  if (shown !== items.map((li) => `${li.className}|${li.textContent}`).join('\n')) alerts.replaceChildren(...items);

  document.getElementById('today').textContent = s.schedule.today;
  document.getElementById('today-note').textContent = s.schedule.todayIsBusinessDay ? 'a business day' : `not a business day: ${s.schedule.todayNot}`;
  const next = s.schedule.nextCutOff;
  document.getElementById('next-cutoff').textContent = next ? `${next.businessDate} ${next.time}` : 'none within a month';
  const of = next && s.bureaus.length > 1 ? ` · ${next.bureau}` : '';
  document.getElementById('next-cutoff-note').textContent = next ? `in ${span(Date.parse(next.at) - Date.parse(s.generatedAt))}${of} · receive every ${s.schedule.receiveEveryMinutes} min` : '';
  document.getElementById('active-runner').textContent = s.runners.active ?? 'none';
  const standbys = s.runners.present.filter((r) => r.role !== 'active');
  document.getElementById('standbys').textContent = `${standbys.length} standby: ${standbys.map((r) => r.runner).join(', ') || '—'}`;

  fillTable('bureaus', s.bureaus, (b) => [
    [b.code], [b.name], [b.sendAt.join(' ')], [b.nextCutOff ? `${b.nextCutOff.businessDate} ${b.nextCutOff.time}` : 'none within a month'],
    [time(b.lastSend?.startedAt), 'when'], [b.lastSend?.outcome ?? 'no send yet', b.lastSend ? `outcome-${b.lastSend.outcome}` : ''],
    [b.unsent, 'num'], [b.batches.claimed, 'num'], [b.batches.encrypted, 'num'], [b.batches.uploaded, 'num'],
  ], 'no bureau configured');
  fillTable('batches', s.unfinishedBatches, (b) => [[b.bureau], [b.fileName], [b.businessDate], [b.state], [b.records, 'num'], [b.attempts, 'num'], [b.lastError ?? '']], 'none: every batch reached the bureau');
  fillTable('rejections', s.rejections, (r) => [[r.status], [r.code], [r.cards, 'num'], [r.example ?? '']], 'none');
  fillTable('quarantined', s.quarantined, (q) => [[q.id, 'num id'], [q.remoteName], [q.error ?? ''], [time(q.createdAt)], el('code', q.requeue)], 'none');
  fillTable('stock', s.stock, (x) => [[x.bureauCode ?? ''], [x.productCode], [x.closing, 'num'], [x.minStock, 'num'], [x.low ? 'LOW' : '', x.low ? 'low-yes' : ''], [x.reportDate ?? '']], 'no stock reported yet');
  fillTable('runners', s.runners.present, (r) => [[r.runner], [r.role], [time(r.startedAt)], [time(r.seenAt)]], 'no daemon running');
  fillTable('leases', s.runners.leases, (l) => [[l.name], [l.owner], [time(l.acquiredAt)], [time(l.expiresAt)], [l.live ? 'yes' : 'expired', l.live ? 'live-yes' : '']], 'none');
}

function renderRuns(runs) {
  fillTable('runs', runs, (r) => [
    [r.job], [r.trigger], [time(r.startedAt), 'when'], [time(r.finishedAt), 'when'], [span(r.durationMs), 'when'], [r.outcome, `outcome-${r.outcome}`], [runCounts(r)],
    [r.files.join(' ')], [r.runner], [r.error ?? ''],
  ], 'no runs recorded yet');
}

function drawChart(id, config) {
  if (typeof window.Chart !== 'function') return;
  charts[id]?.destroy();
  config.options = { responsive: true, maintainAspectRatio: false, animation: false, ...config.options };
  charts[id] = new window.Chart(document.getElementById(id), config);
}

function renderCards(c) {
  document.getElementById('waiting').textContent = count(c.waiting);
  fillTable('cards-table', c.days, (d) => [[d.businessDate], [d.claimed, 'num'], [d.sending, 'num'], [d.inProduction, 'num'], [d.shipped, 'num'], [d.rejected, 'num']], 'no batch yet');
  const series = [
    ['being sent', 'sending', '#98a2b3'], ['in production', 'inProduction', '#2e90fa'], ['shipped', 'shipped', '#12b76a'], ['rejected', 'rejected', '#f04438'],
  ];
  drawChart('cards-chart', {
    type: 'bar',
    data: { labels: c.days.map((d) => d.businessDate), datasets: series.map(([label, key, color]) => ({ label, data: c.days.map((d) => d[key]), backgroundColor: color })) },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

function renderStock(s) {
  // one series per bureau and product
  const seriesOf = (p) => `${p.bureauCode} ${p.productCode}`;
  const products = [...new Set(s.history.map(seriesOf))];
  const dates = [...new Set(s.history.map((p) => p.reportDate ?? p.recordedAt.slice(0, 10)))].sort();
  const palette = ['#2e90fa', '#7a5af8', '#ee46bc', '#f79009', '#12b76a', '#667085'];
  const datasets = [];
  products.forEach((product, i) => {
    const points = s.history.filter((p) => seriesOf(p) === product);
    const at = (date, field) => {
      const hit = points.filter((p) => (p.reportDate ?? p.recordedAt.slice(0, 10)) === date).pop();
      return hit ? hit[field] : null;
    };
    const color = palette[i % palette.length];
    datasets.push({ label: `${product} closing`, data: dates.map((d) => at(d, 'closing')), borderColor: color, backgroundColor: color, spanGaps: true });
    datasets.push({ label: `${product} minimum`, data: dates.map((d) => at(d, 'minStock')), borderColor: color, borderDash: [6, 4], pointRadius: 0, spanGaps: true });
  });
  drawChart('stock-chart', { type: 'line', data: { labels: dates, datasets }, options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
}

async function refresh() {
  const error = document.getElementById('error');
  try {
    const [status, runs, cards, stock] = await Promise.all([getJson('/api/status'), getJson('/api/runs?limit=20'), getJson('/api/cards-per-day'), getJson('/api/stock')]);
    renderStatus(status);
    renderRuns(runs);
    renderCards(cards);
    renderStock(stock);
    error.hidden = true;
    document.body.dataset.loaded = 'true';
  } catch (err) {
    error.textContent = `could not load: ${err.message}`;
    error.hidden = false;
  }
}

// the next refresh 30 s after the last one ended: a slow answer (the database busy) never piles requests up
async function refreshForever() {
  await refresh();
  setTimeout(() => void refreshForever(), REFRESH_MS);
}

document.addEventListener('DOMContentLoaded', () => void refreshForever());
