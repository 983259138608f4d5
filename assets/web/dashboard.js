// jfmon web dashboard. Reads the hub's stream (/monitoring/ws?view=1, see
// docs/PROTOCOL.md): `hello`, then `view` messages holding the figures the
// hub's own store computed, so every number here equals /monitoring/api/*
// and `jfmon snapshot`. No framework, no build step; plain DOM.
'use strict';

const PROTOCOL = 2;
const $ = (sel) => document.querySelector(sel);

const S = {
  view: null,          // last view from the hub (kept while the hub is away)
  receivedAt: 0,       // client clock when it arrived
  hubSkew: 0,          // hub clock minus client clock, ms
  conn: 'connecting',  // connecting | live | stale | refused
  lostAt: 0,
  retryAt: 0,
  attempt: 0,
  ws: null,
  readOnly: false,
  detail: null,        // integration shown in the detail view
  sort: { key: 'p95_ms', dir: -1 },
  filter: '',
  failingIndex: -1,
};

// ---------------------------------------------------------------- helpers

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// A long id as its start and its end: ids that share a prefix (a run's
// sessions, say) differ at the end, which must stay visible.
function shortId(id) {
  return id.length <= 20 ? id : `${id.slice(0, 8)}…${id.slice(-11)}`;
}

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const kid of kids.flat()) if (kid) el.append(kid);
  return el;
}

function fill(el, ...kids) { el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined)); }

// Durations like the terminal: whole ms below a second, then seconds.
function ms(v) {
  if (v === null || v === undefined) return '–';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(2)} s`;
  return `${(v / 60000).toFixed(1)} min`;
}
function pct(r) { return r === null || r === undefined ? '–' : `${(r * 100).toFixed(1)}%`; }
function int(n) { return Number(n).toLocaleString('en-US'); }
function num(v) { return Number.isInteger(v) ? int(v) : Number(v).toFixed(2); }

function age(secs) {
  secs = Math.max(0, Math.round(secs));
  if (secs < 90) return `${secs}s`;
  if (secs < 5400) return `${Math.round(secs / 60)}m`;
  return `${(secs / 3600).toFixed(1)}h`;
}
function hubNow() { return Date.now() + S.hubSkew; }
function ago(iso) { return iso ? `${age((hubNow() - Date.parse(iso)) / 1000)} ago` : 'never'; }
function clock(iso) {
  if (!iso) return '–';
  return new Date(iso).toISOString().slice(11, 19);
}

const STATUS = {
  down: ['✖', 'DOWN'], degraded: ['▲', 'DEGRADED'], healthy: ['●', 'HEALTHY'], unknown: ['?', 'UNKNOWN'],
};
const RANK = { down: 0, degraded: 1, unknown: 2, healthy: 3 };
function status(s) {
  const [sym, word] = STATUS[s] || STATUS.unknown;
  return h('span', { class: `st ${s}` }, `${sym} ${word}`);
}
const SEV = { critical: '‼ CRITICAL', high: '! HIGH', warning: '▲ WARNING', info: 'i INFO' };

// A polyline per run of minutes with data: a gap stays a gap.
function sparkline(values, cls) {
  const w = 100, hgt = 20;
  const max = Math.max(1, ...values.filter((v) => v !== null && v !== undefined));
  const n = Math.max(1, values.length - 1);
  const runs = [[]];
  values.forEach((v, i) => {
    if (v === null || v === undefined) { if (runs[runs.length - 1].length) runs.push([]); return; }
    runs[runs.length - 1].push(`${(i / n * w).toFixed(1)},${(hgt - v / max * (hgt - 2) - 1).toFixed(1)}`);
  });
  return svg('svg', { class: cls || 'spark', viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `max ${ms(max)}` },
  runs.filter((r) => r.length).map((r) => svg('polyline', { points: (r.length === 1 ? [r[0], r[0].replace(/^[\d.]+/, (x) => String(Number(x) + 1))] : r).join(' ') })));
}

// ---------------------------------------------------------------- rendering

function render() {
  renderHeader();
  const v = S.view;
  if (!v) return;
  renderBanner(v);
  if (S.detail) renderDetail(v, S.detail); else renderOverview(v);
}

function renderOverview(v) {
  renderBusiness(v);
  renderIntegrations(v);
  renderAlerts(v, $('#alerts'), v.alerts);
  renderEndpoints(v);
  renderSessions(v);
  renderUsage(v);
}

function renderHeader() {
  const c = $('#conn');
  const v = S.view;
  document.body.classList.toggle('stale', S.conn !== 'live' || (v && v.stale));
  if (S.conn === 'live') {
    c.className = 'conn live';
    c.textContent = v && v.stale ? 'hub live, its database is away: data stale' : 'live';
  } else if (S.conn === 'refused') {
    c.className = 'conn stale';
    c.textContent = 'not signed in';
  } else if (S.conn === 'connecting' && !v) {
    c.className = 'conn';
    c.textContent = 'connecting…';
  } else {
    c.className = 'conn stale';
    const lost = age((Date.now() - S.lostAt) / 1000);
    const retry = Math.max(0, Math.ceil((S.retryAt - Date.now()) / 1000));
    const dataAge = v ? `, data ${age((Date.now() - S.receivedAt) / 1000)} old` : '';
    c.textContent = `STALE: hub unreachable for ${lost}${dataAge}` +
      (S.conn === 'connecting' ? ' — reconnecting…' : ` — retry in ${retry}s`);
  }
  $('#window').textContent = v ? `window ${age(v.window_secs)}${S.readOnly ? ' · read-only' : ''}` : '';
  if (!v) return;
  fill($('#sources'), v.sources.map((s) => h('span', { class: `source ${s.up ? 'up' : 'down'}`,
    title: s.last_error || s.target },
  `${s.up ? '●' : '✖'} ${s.id} ${s.up ? 'up' : 'DOWN'}`, h('span', { class: 'target' }, ` · ${s.target}`),
  ` · ${ago(s.last_ok)}` +
    (s.poll_ms !== null && s.poll_ms !== undefined ? ` · poll ${ms(s.poll_ms)}` : '') +
    (!s.up && s.last_error ? ` · ${s.last_error}` : ''))));
}

function failing(v) {
  return v.integrations.filter((i) => i.status === 'down' || i.status === 'degraded')
    .sort((a, b) => RANK[a.status] - RANK[b.status] || a.name.localeCompare(b.name));
}

function renderBanner(v) {
  const b = $('#banner');
  const f = failing(v);
  b.hidden = f.length === 0;
  if (!f.length) return;
  const worst = f[0];
  b.className = `banner ${worst.status}`;
  b.dataset.integration = worst.name;
  b.textContent = f.map((i) => `${STATUS[i.status][0]} ${STATUS[i.status][1]}: ${i.name}` +
    (i.last_error ? ` — ${i.last_error}` : i.reason ? ` — ${i.reason}` : '')).join('   ·   ') +
    '   (open: click or !)';
}

function renderBusiness(v) {
  const b = v.business || { window: {}, today: {} };
  const names = [...new Set([...Object.keys(b.window || {}), ...Object.keys(b.today || {})])].sort();
  const kpis = [
    h('div', { class: 'kpi' }, 'Active sessions', h('b', { 'data-value': v.sessions.active }, int(v.sessions.active))),
    h('div', { class: 'kpi' }, 'Requests in window',
      h('b', {}, int(v.endpoints.reduce((n, e) => n + e.requests, 0)))),
  ];
  for (const n of names) {
    kpis.push(h('div', { class: 'kpi' }, n.replaceAll('_', ' '),
      h('b', {}, num((b.window || {})[n] || 0)),
      h('span', { class: 'muted' }, ` today ${num((b.today || {})[n] || 0)}`)));
  }
  fill($('#business'), kpis);
}

function renderIntegrations(v) {
  const rows = [...v.integrations].sort((a, b) => RANK[a.status] - RANK[b.status] || a.name.localeCompare(b.name));
  fill($('#integrations tbody'), rows.length ? rows.map((i) => h('tr', {
    class: 'clickable', tabindex: 0, 'data-integration': i.name,
    onclick: () => openDetail(i.name),
    onkeydown: (e) => { if (e.key === 'Enter') openDetail(i.name); },
  },
  h('td', {}, status(i.status)),
  h('td', {}, i.name),
  h('td', { class: 'num', 'data-field': 'success_rate', 'data-value': i.success_rate ?? '' }, pct(i.success_rate)),
  h('td', { class: 'num', 'data-field': 'calls', 'data-value': i.calls }, int(i.calls)),
  h('td', { class: 'num', 'data-field': 'p95_ms', 'data-value': i.p95_ms ?? '' }, ms(i.p95_ms)),
  h('td', { class: 'wide muted' }, i.last_error ? `${i.last_error} (${ago(i.last_error_at)})` : '')))
    : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'no integration calls in the window')));
}

function sortedEndpoints(v) {
  const { key, dir } = S.sort;
  const f = S.filter.toLowerCase();
  return v.endpoints.filter((e) => !f || `${e.method} ${e.endpoint}`.toLowerCase().includes(f))
    .sort((a, b) => {
      const x = a[key], y = b[key];
      if (x === y) return a.endpoint.localeCompare(b.endpoint);
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (typeof x === 'string' ? x.localeCompare(y) : x - y) * dir;
    });
}

function renderEndpoints(v) {
  const rows = sortedEndpoints(v);
  fill($('#endpoints tbody'), rows.length ? rows.map((e) => h('tr', { 'data-endpoint': `${e.method} ${e.endpoint}` },
    h('td', { class: 'wide' }, e.endpoint),
    h('td', {}, e.method),
    h('td', { class: 'num', 'data-field': 'requests', 'data-value': e.requests }, int(e.requests)),
    h('td', { class: 'num' }, e.rps.toFixed(2)),
    h('td', { class: 'num', 'data-field': 'error_rate', 'data-value': e.error_rate },
      e.errors ? `${pct(e.error_rate)} (${int(e.errors)})` : '0'),
    h('td', { class: 'num', 'data-field': 'p50_ms', 'data-value': e.p50_ms ?? '' }, ms(e.p50_ms)),
    h('td', { class: 'num', 'data-field': 'p95_ms', 'data-value': e.p95_ms ?? '' }, ms(e.p95_ms)),
    h('td', { class: 'num', 'data-field': 'p99_ms', 'data-value': e.p99_ms ?? '' }, ms(e.p99_ms)),
    h('td', { class: 'spark-cell' }, sparkline(e.series.map((p) => p.p95_ms)))))
    : h('tr', {}, h('td', { colspan: 9, class: 'muted' }, S.filter ? `no endpoint matches “${S.filter}”` : 'no API calls in the window')));
  for (const th of document.querySelectorAll('#endpoints th[data-key]')) {
    th.setAttribute('aria-sort', th.dataset.key === S.sort.key ? (S.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

function renderSessions(v) {
  const s = v.sessions;
  $('#sessions-active').textContent = `${int(s.active)} active`;
  fill($('#sessions-spark'), s.started_per_minute.length
    ? sparkline(s.started_per_minute.map(([, n]) => n), 'spark') : null);
  const items = [...s.items].sort((a, b) => Date.parse(b.last_activity_at) - Date.parse(a.last_activity_at)).slice(0, 12);
  fill($('#sessions tbody'), items.length ? items.map((x) => h('tr', {},
    h('td', { title: x.session_id }, shortId(x.session_id)), h('td', {}, x.service),
    h('td', {}, x.status === 'failed' ? `✖ ${x.status}` : x.status),
    h('td', { class: 'num' }, int(x.credits_used)), h('td', {}, ago(x.last_activity_at))))
    : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'no sessions')));
}

function secs(s) { return s === null || s === undefined ? '–' : ms(s * 1000); }

// A past window next to now: started change and completion change, or "no history".
function versus(u, p) {
  if (!p) return 'no history';
  const started = p.started ? `${u.started >= p.started ? '+' : ''}${((u.started / p.started - 1) * 100).toFixed(0)}%` : 'new';
  const done = u.completion_rate !== null && p.completion_rate !== null
    ? ` ${u.completion_rate >= p.completion_rate ? '+' : ''}${((u.completion_rate - p.completion_rate) * 100).toFixed(0)}pt` : '';
  return started + done;
}

function renderUsage(v) {
  const u = v.usage;
  if (!u) return;
  const t = u.total;
  $('#usage-total').textContent = `${int(t.started)} started, ${pct(t.completion_rate)} completed`;
  $('#usage-funnel').textContent = u.funnel.length
    ? 'Funnel: ' + u.funnel.map((s, i) => (i ? `→ ${pct(s.rate)} → ` : '') + `${s.name} ${num(s.count)}`).join(' ')
    : 'Funnel: the business metrics hold no sign-ups / first sessions / purchases';
  fill($('#usage tbody'), u.services.length ? u.services.map((s) => h('tr', { 'data-service': s.service },
    h('td', {}, s.service),
    ...['started', 'completed', 'failed', 'abandoned'].map((f) =>
      h('td', { class: 'num', 'data-field': f, 'data-value': s[f] }, int(s[f]))),
    h('td', { class: 'num' }, pct(s.completion_rate)), h('td', { class: 'num' }, secs(s.median_secs)),
    h('td', { class: 'num' }, secs(s.p95_secs)),
    h('td', { class: 'num' }, s.credits_per_session === null ? '–' : s.credits_per_session.toFixed(1)),
    h('td', { class: 'num' }, pct(s.share)), h('td', {}, versus(s, s.day_ago)), h('td', {}, versus(s, s.week_ago)),
    h('td', {}, sparkline(s.starts_per_minute, 'spark'))))
    : h('tr', {}, h('td', { colspan: 13, class: 'muted' }, 'no sessions started or ended in the window')));
  fill($('#usage-findings'), u.findings.length
    ? u.findings.map((f) => h('li', { class: 'warning' }, h('b', {}, f.kind.replace(/_/g, ' ')), ' ', f.text))
    : h('li', { class: 'muted' }, 'nothing unusual in the window'));
}

function renderAlerts(v, list, alerts) {
  const open = v.open_alerts_by_severity || {};
  $('#alert-counts').textContent = Object.entries(open).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(' · ') || 'none open';
  const sorted = [...alerts].sort((a, b) => a.acknowledged - b.acknowledged || Date.parse(b.created_at) - Date.parse(a.created_at)).slice(0, 20);
  fill(list, sorted.length ? sorted.map((a) => h('li', { class: a.acknowledged ? 'acked' : '', 'data-alert': a.id },
    h('span', { class: `sev ${a.severity}` }, SEV[a.severity] || a.severity),
    h('span', { class: 'title' }, a.title, a.integration ? h('span', { class: 'muted' }, ` · ${a.integration}`) : null),
    h('span', { class: 'muted' }, ago(a.created_at)),
    a.acknowledged ? h('span', { class: 'muted' }, '✓ acknowledged')
      : h('button', { type: 'button', title: S.readOnly ? 'the hub is read-only' : 'mark acknowledged',
        onclick: () => acknowledge(a.id) }, 'Acknowledge')))
    : h('li', { class: 'muted' }, 'no alerts'));
}

function renderDetail(v, name) {
  const i = v.integrations.find((x) => x.name === name);
  const d = (v.details || {})[name] || { errors: [], rises: [] };
  fill($('#d-title'), i ? [status(i.status), ' ', name] : [name, h('span', { class: 'muted' }, ' (no data in the window)')]);
  if (!i) return;
  $('#d-reason').textContent = `${i.reason}${i.status_since ? ` · since ${clock(i.status_since)}` : ''}`;
  fill($('#d-facts'), [
    ['Success', pct(i.success_rate)], ['Calls', int(i.calls)], ['Failures', int(i.failures)],
    ['p50', ms(i.p50_ms)], ['p95', ms(i.p95_ms)], ['p99', ms(i.p99_ms)],
    ['Failures in a row', i.consecutive_failures], ['Last success', ago(i.last_success_at)],
    ['Platform reports', i.reported ? `${i.reported.status} ${ago(i.reported.checked_at)}` : '–'],
  ].map(([k, val]) => h('div', { class: 'kpi' }, k, h('b', {}, val))));
  fill($('#d-timeline'), i.series.map((p) => h('span', { class: p.status,
    title: `${clock(new Date(p.minute * 60000).toISOString())} ${STATUS[p.status][1]} · ${p.calls} calls, ${p.failures} failed` },
  p.status === 'down' ? '✖' : p.status === 'degraded' ? '▲' : '')));
  fill($('#d-latency'), lineChart(i.series), h('div', { class: 'legend' }, '— p50  — p95  - - p99'));
  fill($('#d-failures'), barChart(i.series.map((p) => (p.calls ? p.failures / p.calls : 0))));
  fill($('#d-errors tbody'), d.errors.length ? d.errors.map((e) => h('tr', {},
    h('td', {}, clock(e.at)), h('td', {}, e.operation || '–'),
    h('td', { class: 'num' }, e.status_code ?? '–'), h('td', { class: 'num' }, ms(e.duration_ms)),
    h('td', { class: 'wide' }, e.error || '(no message)')))
    : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'no recent errors')));
  const related = v.alerts.filter((a) => a.integration === name);
  renderAlerts(v, $('#d-alerts'), related);
  fill($('#d-rises tbody'), d.rises.length ? d.rises.map((r) => h('tr', {},
    h('td', {}, `${r.method} ${r.endpoint}`),
    h('td', { class: 'num' }, `${pct(r.during_requests ? r.during_errors / r.during_requests : 0)} (${r.during_errors}/${r.during_requests})`),
    h('td', { class: 'num' }, `${pct(r.other_requests ? r.other_errors / r.other_requests : 0)} (${r.other_errors}/${r.other_requests})`)))
    : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'none rose with it')));
}

// A decade on a latency axis: 1ms, 100ms, 1s, 10s.
function msTick(v) {
  return v < 1000 ? `${Math.round(v)}ms` : `${Math.round(v / 1000)}s`;
}

// p50/p95/p99 on a log scale (as in the terminal), labelled by decade, so a
// 30 s timeout does not flatten a 300 ms median onto the axis.
function lineChart(series) {
  const w = 300, hgt = 120, top = 14;
  const all = series.flatMap((p) => [p.p50_ms, p.p95_ms, p.p99_ms])
    .filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, all.length ? Math.min(...all) : 1)));
  let hi = 10 ** Math.ceil(Math.log10(Math.max(1, ...all)));
  if (hi <= lo) hi = lo * 10;
  const pos = (y) => (Math.log10(Math.max(lo, y)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  const yOf = (y) => hgt - pos(y) * (hgt - top);
  const n = Math.max(1, series.length - 1);
  const xy = (key) => series.map((p, i) => [i, p[key]]).filter(([, y]) => y !== null && y !== undefined)
    .map(([i, y]) => [(i / n * w).toFixed(1), yOf(y).toFixed(1)]);
  const line = (key, cls) => [svg('polyline', { class: cls, points: xy(key).map((p) => p.join(',')).join(' ') }),
    ...xy(key).map(([x, y]) => svg('circle', { class: cls, cx: x, cy: y, r: 2.5 }))];
  const decades = [];
  for (let e = Math.round(Math.log10(lo)); e <= Math.round(Math.log10(hi)); e++) decades.push(10 ** e);
  const ticks = decades.map((v) => svg('text', { x: 2, y: Math.max(10, yOf(v) - 2).toFixed(1), class: 'tick' },
    document.createTextNode(msTick(v))));
  return svg('svg', { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `latency, log scale, ${msTick(lo)} to ${msTick(hi)}` },
  line('p50_ms', 'p50'), line('p95_ms', 'p95'), line('p99_ms', 'p99'), ...ticks);
}

function barChart(ratios) {
  const w = 300, hgt = 120, n = Math.max(1, ratios.length);
  const bw = w / n;
  return svg('svg', { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `failure rate, max ${pct(Math.max(0, ...ratios))}` },
  ratios.map((r, i) => svg('rect', { x: (i * bw + 1).toFixed(1), width: Math.max(1, bw - 2).toFixed(1),
    y: (hgt - r * (hgt - 14)).toFixed(1), height: (r * (hgt - 14)).toFixed(1) })),
  svg('text', { x: 2, y: 10 }, document.createTextNode('100%')));
}

// ---------------------------------------------------------------- navigation

function openDetail(name) {
  location.hash = `#integration/${encodeURIComponent(name)}`;
}

function route() {
  const m = location.hash.match(/^#integration\/(.+)$/);
  S.detail = m ? decodeURIComponent(m[1]) : null;
  $('#overview').hidden = !!S.detail;
  $('#detail').hidden = !S.detail;
  render();
  if (S.detail) $('#back').focus();
}

function back() {
  if (S.detail) { history.pushState(null, '', location.pathname); route(); }
}

function nextFailing() {
  if (!S.view) return;
  const f = failing(S.view);
  if (!f.length) { notice('nothing is failing'); return; }
  S.failingIndex = (S.failingIndex + 1) % f.length;
  openDetail(f[S.failingIndex].name);
}

function notice(text) {
  const n = $('#notice');
  n.textContent = text;
  n.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { n.hidden = true; }, 8000);
}

function onKey(e) {
  const typing = e.target instanceof HTMLInputElement;
  if (e.key === 'Escape') {
    if ($('#help').open) $('#help').close();
    else if (typing) { e.target.value = ''; S.filter = ''; e.target.blur(); render(); }
    else back();
    return;
  }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === '?') { e.preventDefault(); const d = $('#help'); if (d.open) d.close(); else d.showModal(); }
  else if (e.key === '!') { e.preventDefault(); nextFailing(); }
  else if (e.key === '/') { e.preventDefault(); back(); $('#filter').focus(); }
}

// ---------------------------------------------------------------- the hub

async function acknowledge(id) {
  try {
    const r = await fetch(`/monitoring/api/alerts/${id}/acknowledge`, { method: 'POST', credentials: 'same-origin' });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) notice(`Cannot acknowledge alert ${id}: ${body.error || r.statusText}`);
    else notice(`Alert ${id} acknowledged.`);
  } catch (err) {
    notice(`Cannot acknowledge alert ${id}: the hub is unreachable`);
  }
}

async function session() {
  const r = await fetch('/monitoring/api/session', { credentials: 'same-origin', cache: 'no-store' });
  if (!r.ok) throw new Error(`session: ${r.status}`);
  return r.json();
}

function askToken() {
  const d = $('#login');
  const err = $('#login-error');
  S.conn = 'refused';
  renderHeader();
  return new Promise((resolve) => {
    $('#login-form').onsubmit = async (e) => {
      e.preventDefault();
      const token = $('#token').value;
      const r = await fetch('/monitoring/api/login', { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) }).catch(() => null);
      if (r && r.ok) { $('#token').value = ''; err.hidden = true; d.close(); resolve(); return; }
      const body = r ? await r.json().catch(() => ({})) : {};
      err.textContent = r ? `Refused: ${body.error || r.status}` : 'The hub is unreachable.';
      err.hidden = false;
    };
    if (!d.open) d.showModal();
  });
}

function scheduleReconnect() {
  S.attempt += 1;
  const base = Math.min(30000, 1000 * 2 ** Math.min(S.attempt - 1, 5));
  const delay = base * (1 - Math.random() * 0.2);
  S.retryAt = Date.now() + delay;
  setTimeout(connect, delay);
}

async function connect() {
  S.conn = 'connecting';
  renderHeader();
  let s;
  try { s = await session(); } catch (err) {
    if (!S.lostAt) S.lostAt = Date.now();
    S.conn = 'stale';
    scheduleReconnect();
    return;
  }
  S.readOnly = s.read_only;
  if (s.token_required && !s.authenticated) await askToken();
  S.conn = 'connecting';
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const ws = new WebSocket(`${scheme}${location.host}/monitoring/ws?view=1`);
  S.ws = ws;
  let greeted = false;
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (err) { return; }
    if (msg.type === 'hello') {
      if (msg.v !== PROTOCOL) {
        S.conn = 'refused';
        notice(`The hub speaks jfmon hub protocol v${msg.v}; this page understands v${PROTOCOL}. Reload the page.`);
        ws.close();
        return;
      }
      greeted = true;
      return;
    }
    if (msg.type !== 'view' || !greeted) return;
    S.view = msg.view;
    S.receivedAt = Date.now();
    S.hubSkew = Date.parse(msg.view.hub_time) - S.receivedAt;
    S.conn = 'live';
    S.attempt = 0;
    S.lostAt = 0;
    render();
  };
  ws.onclose = () => {
    if (S.ws !== ws || S.conn === 'refused') return;
    if (!S.lostAt) S.lostAt = Date.now();
    S.conn = 'stale';
    renderHeader();
    scheduleReconnect();
  };
}

function init() {
  $('#banner').addEventListener('click', () => openDetail($('#banner').dataset.integration));
  $('#back').addEventListener('click', back);
  $('#help-button').addEventListener('click', () => $('#help').showModal());
  $('#help-close').addEventListener('click', () => $('#help').close());
  $('#filter').addEventListener('input', (e) => { S.filter = e.target.value; render(); });
  for (const th of document.querySelectorAll('#endpoints th[data-key]')) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.dataset.key;
      S.sort = { key, dir: S.sort.key === key ? -S.sort.dir : (key === 'endpoint' || key === 'method' ? 1 : -1) };
      render();
    });
  }
  document.addEventListener('keydown', onKey);
  window.addEventListener('hashchange', route);
  setInterval(renderHeader, 1000);
  route();
  connect();
}

init();
