// Browser test of jfmon's web dashboard, driven by tests/web_browser.rs.
// Debian's chromium through playwright-core; one browser launch.
//
// env: HUB (plain hub, one integration down), TOKEN_HUB (--token-file and
// --read-only), TOKEN, DOWN (the integration that is down), LAST_ERROR,
// OUT (screenshot directory), CHROMIUM (browser binary).
// Talks to the Rust test on stdout/stdin: prints `KILL` and `START`, and
// waits for a line `done` after each.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} not set`); return v; };
const HUB = env('HUB'), TOKEN_HUB = env('TOKEN_HUB'), TOKEN = env('TOKEN');
const DOWN = env('DOWN'), LAST_ERROR = env('LAST_ERROR'), OUT = env('OUT');
const WAIT = { timeout: 30000 };

const lines = createInterface({ input: process.stdin });
const replies = [];
let waiting = null;
lines.on('line', (l) => { if (waiting) { const w = waiting; waiting = null; w(l); } else replies.push(l); });
function ask(what) {
  console.log(what);
  return new Promise((resolve) => { if (replies.length) resolve(replies.shift()); else waiting = resolve; });
}

function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
  console.log(`ok - ${what}`);
}

// Console errors, by phase; network failures are expected only where the
// test causes them (hub killed, wrong token, foreign origin).
let phase = 'load';
const problems = [];
function watch(page) {
  page.on('console', (m) => { if (m.type() === 'error') problems.push({ phase, text: m.text() }); });
  page.on('pageerror', (e) => problems.push({ phase, text: `page error: ${e.message}`, fatal: true }));
}
const expectedNetworkPhases = new Set(['restart', 'wrong-token', 'foreign']);
const isNetwork = (t) => /Failed to load resource|WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|net::ERR_/.test(t);

const dir = mkdtempSync(join(tmpdir(), 'jfmon-chromium-'));
const context = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Chromium's own Local Network Access block would stop the foreign-origin
    // WebSocket below before it reached the hub; the hub's check is under test.
    '--disable-features=LocalNetworkAccessChecks'],
  viewport: { width: 1280, height: 800 },
});

try {
  // ---- the plain hub: banner, detail, numbers
  const page = context.pages()[0] || await context.newPage();
  watch(page);
  const t0 = Date.now();
  await page.goto(`${HUB}/monitoring/dashboard`);
  await page.waitForSelector('#conn.live', WAIT);
  console.log(`time to first data: ${Date.now() - t0} ms`);
  const banner = page.locator('#banner');
  await banner.waitFor({ state: 'visible', ...WAIT });
  const bannerText = await banner.innerText();
  check(bannerText.includes(DOWN) && bannerText.includes('DOWN'), `banner names ${DOWN}: ${bannerText}`);

  // Numbers equal /monitoring/api/health and /monitoring/api/metrics.
  const api = await page.evaluate(async () => {
    const [h, m] = await Promise.all(['/monitoring/api/health', '/monitoring/api/metrics']
      .map((p) => fetch(p).then((r) => r.json())));
    return { h, m };
  });
  const shown = await page.evaluate(() => {
    const rows = {};
    for (const tr of document.querySelectorAll('#integrations tr[data-integration]')) {
      const r = {};
      for (const td of tr.querySelectorAll('td[data-field]')) r[td.dataset.field] = td.dataset.value;
      rows[tr.dataset.integration] = r;
    }
    const eps = {};
    for (const tr of document.querySelectorAll('#endpoints tr[data-endpoint]')) {
      const r = {};
      for (const td of tr.querySelectorAll('td[data-field]')) r[td.dataset.field] = td.dataset.value;
      eps[tr.dataset.endpoint] = r;
    }
    return { rows, eps };
  });
  const same = (a, b) => (b === null || b === undefined ? a === '' : Number(a) === b);
  check(api.h.integrations.length > 1 && Object.keys(shown.rows).length === api.h.integrations.length,
    `every integration shown (${api.h.integrations.length})`);
  for (const i of api.h.integrations) {
    const r = shown.rows[i.name];
    for (const f of ['success_rate', 'calls', 'p95_ms']) {
      if (!same(r[f], i[f])) throw new Error(`FAILED: ${i.name} ${f}: page ${r[f]} vs api ${i[f]}`);
    }
  }
  check(true, 'integration numbers equal /monitoring/api/health');
  for (const e of api.m.endpoints) {
    const r = shown.eps[`${e.method} ${e.endpoint}`];
    for (const f of ['requests', 'error_rate', 'p50_ms', 'p95_ms', 'p99_ms']) {
      if (!same(r[f], e[f])) throw new Error(`FAILED: ${e.endpoint} ${f}: page ${r[f]} vs api ${e[f]}`);
    }
  }
  check(api.m.endpoints.length > 0, 'endpoint numbers equal /monitoring/api/metrics');
  // The Usage section equals /monitoring/api/usage.
  const usage = await page.evaluate(async () => (await fetch('/monitoring/api/usage')).json());
  const usageRows = await page.$$eval('#usage tr[data-service]', (trs) => trs.map((tr) => {
    const r = { service: tr.dataset.service };
    for (const td of tr.querySelectorAll('td[data-field]')) r[td.dataset.field] = Number(td.dataset.value);
    return r;
  }));
  check(usage.usage.services.length === 2 && usageRows.length === 2
    && usage.usage.services.every((s) => usageRows.some((r) => r.service === s.service
      && ['started', 'completed', 'failed', 'abandoned'].every((f) => r[f] === s[f]))),
  `usage section equals /monitoring/api/usage (${JSON.stringify(usageRows)})`);
  const guidance = usage.usage.services.find((s) => s.service === 'guidance');
  check(guidance && guidance.started === 3 && guidance.completed === 1 && guidance.abandoned === 1,
    `usage counts the seeded sessions (${JSON.stringify(guidance)})`);
  check((await page.locator('#usage-findings').innerText()).length > 0, 'usage findings listed');
  // Long session ids keep their distinguishing end (and the whole id as a tooltip).
  const ids = await page.$$eval('#sessions tbody tr td:first-child', (tds) => tds.map((t) => [t.textContent, t.title]));
  const sims = ids.filter(([, full]) => full.startsWith('sim-'));
  check(sims.length === 2 && new Set(sims.map(([shown]) => shown)).size === 2
    && sims.every(([shown, full]) => full.endsWith(shown.split('…').pop())),
  `sessions with a common prefix read apart (${JSON.stringify(ids)})`);
  const down = api.h.integrations.find((i) => i.name === DOWN);
  check(down && down.status === 'down', `${DOWN} is down in the API`);

  // Sortable columns: click Requests → descending by requests.
  await page.click('#endpoints th[data-key="requests"] button');
  const reqs = await page.$$eval('#endpoints td[data-field="requests"]', (tds) => tds.map((t) => Number(t.dataset.value)));
  check(reqs.every((v, i) => i === 0 || reqs[i - 1] >= v), 'requests column sorts');
  await page.screenshot({ path: join(OUT, 'dashboard-1280x800.png') });

  // Keys: ? opens the help, Esc closes; / focuses the filter.
  await page.keyboard.press('?');
  check(await page.locator('#help').isVisible(), '? opens the help');
  await page.keyboard.press('Escape');
  check(!(await page.locator('#help').isVisible()), 'Esc closes it');
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement.id === 'filter'), '/ focuses the endpoint filter');
  await page.keyboard.press('Escape');

  // The banner opens the failing integration with its last error.
  await banner.click();
  await page.waitForSelector('#detail:not([hidden])', WAIT);
  check((await page.locator('#d-title').innerText()).includes(DOWN), 'a click on the banner opens its detail');
  const errors = await page.locator('#d-errors').innerText();
  check(errors.includes(LAST_ERROR), `the detail lists the last error (${LAST_ERROR})`);
  check(await page.locator('#d-timeline span').count() > 0, 'status timeline drawn');
  // The latency chart is on a log scale: titled so, labelled by decade with
  // the decades equally spaced, and the ~400 ms p50 of the minute before the
  // outage drawn between the 100ms and 1s lines, not on the floor under the
  // 30 s timeouts (where a linear axis would put it).
  const lat = await page.$eval('#d-latency', (el) => {
    const s = el.querySelector('svg');
    return {
      title: el.closest('section').querySelector('h3').textContent,
      label: s.getAttribute('aria-label'),
      ticks: [...s.querySelectorAll('text.tick')].map((t) => ({ text: t.textContent, y: Number(t.getAttribute('y')) })),
      p50: [...s.querySelectorAll('circle.p50')].map((c) => Number(c.getAttribute('cy'))),
      series: ['p50', 'p95', 'p99'].map((k) => s.querySelectorAll(`polyline.${k}`).length),
      height: s.viewBox.baseVal.height,
      legend: el.querySelector('.legend')?.textContent ?? '',
    };
  });
  check(lat.title.includes('log scale') && lat.label.startsWith('latency, log scale'),
    `latency chart titled log scale (${lat.title}; ${lat.label})`);
  const tickText = lat.ticks.map((t) => t.text).join(' ');
  check(tickText === '100ms 1s 10s 100s', `latency axis labelled by decade: ${tickText}`);
  // Each label sits 2 px above its decade's line.
  const gaps = lat.ticks.slice(0, 3).map((t, i) => t.y - lat.ticks[i + 1].y);
  check(gaps.every((g) => g > 0 && Math.abs(g - gaps[0]) < 0.2), `decades equally spaced (${gaps.join(', ')})`);
  const line = (i) => lat.ticks[i].y + 2;
  const median = Math.max(...lat.p50);
  check(lat.p50.length >= 2 && median < line(0) - 10 && median > line(1),
    `the 400 ms p50 sits between the 100ms and 1s lines (y ${median}; lines ${line(0)}, ${line(1)})`);
  check(lat.series.every((n) => n === 1) && /p50.*p95.*p99/.test(lat.legend), `p50, p95 and p99 drawn (${lat.legend})`);
  await page.screenshot({ path: join(OUT, 'detail-1280x800.png') });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#overview:not([hidden])', WAIT);
  await page.keyboard.press('!');
  await page.waitForSelector('#detail:not([hidden])', WAIT);
  check(true, '! opens a failing integration');
  await page.keyboard.press('Escape');

  // ---- hub killed and restarted: stale, then live, without a reload
  phase = 'restart';
  await page.evaluate(() => { window.__notReloaded = true; });
  await ask('KILL');
  await page.waitForSelector('#conn.stale', WAIT);
  const staleText = await page.locator('#conn').innerText();
  check(/STALE/.test(staleText) && /data \d+s old/.test(staleText), `stale with age: ${staleText}`);
  check(await page.locator('#integrations tr[data-integration]').count() > 0, 'last data kept while the hub is away');
  await ask('START');
  await page.waitForSelector('#conn.live', WAIT);
  check(await page.evaluate(() => window.__notReloaded === true), 'live again without a reload');
  phase = 'after-restart';

  // ---- phone width
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const wide = overflow <= 0 ? '' : await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll'))
    .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className}: ${e.textContent.slice(0, 60)}`).join('; '));
  check(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow} ${wide})`);
  await page.screenshot({ path: join(OUT, 'dashboard-390x844.png') });

  // ---- the token hub: prompt, wrong token refused, right one accepted
  phase = 'token';
  const tp = await context.newPage();
  watch(tp);
  await tp.goto(`${TOKEN_HUB}/monitoring/dashboard`);
  await tp.waitForSelector('#login[open]', WAIT);
  check(true, 'no cookie: the token prompt');
  phase = 'wrong-token';
  await tp.fill('#token', 'not-the-token');
  await tp.click('#login button[type=submit]');
  await tp.waitForSelector('#login-error:not([hidden])', WAIT);
  check((await tp.locator('#login-error').innerText()).includes('wrong token'), 'wrong token: refused');
  phase = 'token';
  await tp.fill('#token', TOKEN);
  await tp.click('#login button[type=submit]');
  await tp.waitForSelector('#conn.live', WAIT);
  const cookies = await context.cookies(TOKEN_HUB);
  const c = cookies.find((x) => x.name === 'jfmon_session');
  check(c && c.httpOnly && c.sameSite === 'Strict', 'the hub set an HttpOnly SameSite=Strict cookie');
  check(await tp.evaluate(() => !document.cookie.includes('jfmon_session')), 'the page script cannot read it');

  // Acknowledge under --read-only: a visible refusal.
  const ack = tp.locator('#alerts button', { hasText: 'Acknowledge' }).first();
  await ack.waitFor(WAIT);
  phase = 'wrong-token'; // the 403 is logged by the browser as a failed resource
  await ack.click();
  await tp.waitForSelector('#notice:not([hidden])', WAIT);
  const refusal = await tp.locator('#notice').innerText();
  check(/read-only/.test(refusal), `acknowledging refused visibly: ${refusal}`);

  // ---- a WebSocket from a foreign origin is refused by the hub. The page is
  // served by Playwright as http://foreign.test (no CSP of ours in the way)
  // and connects to the plain hub, which needs no token: only the Origin
  // check can refuse it.
  phase = 'foreign';
  const fp = await context.newPage();
  watch(fp);
  await fp.route('http://foreign.test/**', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>x</title>' }));
  await fp.goto('http://foreign.test/');
  const opened = await fp.evaluate((url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve(true); };
    ws.onerror = () => resolve(false);
  }), `${HUB.replace('http', 'ws')}/monitoring/ws?view=1`);
  check(opened === false, 'a WebSocket from a foreign Origin is refused');
  await fp.waitForTimeout(200);
  check(problems.some((p) => p.phase === 'foreign' && /Unexpected response code: 403/.test(p.text)),
    'refused by the hub (403), not by the browser');
  phase = 'end';

  const bad = problems.filter((p) => p.fatal || !(expectedNetworkPhases.has(p.phase) && isNetwork(p.text)));
  for (const p of problems) console.log(`console (${p.phase}): ${p.text}`);
  check(bad.length === 0, 'no console errors');
  console.log('ALL OK');
} finally {
  await context.close();
  rmSync(dir, { recursive: true, force: true });
  lines.close();
}
