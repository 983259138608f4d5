// Benchmark of the web dashboard (not a test): page weight, time from load
// to first data, and the hub's CPU with 20 tabs open versus 20 naive pages
// polling the JSON API every 2 s, against a running `jfmon serve`.
//
//   node tests/web/bench.mjs http://127.0.0.1:10000 <hub pid> [seconds per phase]
//
// Run with live traffic (`jfmon simulate --rate 50`) so the hub has updates
// to send. See BENCHMARKS.md.
import { chromium } from 'playwright-core';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const [HUB, PID, SECS = '60'] = process.argv.slice(2);
if (!HUB || !PID) { console.error('usage: bench.mjs HUB_URL HUB_PID [SECONDS]'); process.exit(2); }
const PHASE = Number(SECS) * 1000;
const TABS = 20;

function cpuTicks() {
  const f = readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, 1/100 s
}
function rssKiB() {
  return Number(readFileSync(`/proc/${PID}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
}
async function measure(label) {
  const t0 = cpuTicks(), w0 = Date.now();
  await new Promise((r) => setTimeout(r, PHASE));
  const cpu = (cpuTicks() - t0) / 100 / ((Date.now() - w0) / 1000);
  console.log(`${label}: hub CPU ${(cpu * 100).toFixed(2)}% of one core, RSS ${(rssKiB() / 1024).toFixed(1)} MiB`);
  return cpu;
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const dir = mkdtempSync(join(tmpdir(), 'jfmon-bench-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
  viewport: { width: 1280, height: 800 },
});
try {
  // Page weight: every response body the page loads.
  const page = ctx.pages()[0] || await ctx.newPage();
  let bytes = 0, gz = 0; const files = [];
  page.on('response', async (r) => { try { const b = await r.body(); bytes += b.length; gz += gzipSync(b, { level: 9 }).length; files.push(`${new URL(r.url()).pathname} ${b.length}`); } catch { /* redirects */ } });
  await page.goto(`${HUB}/monitoring/dashboard`);
  await page.waitForSelector('#conn.live', { timeout: 30000 });
  await page.waitForTimeout(500);
  // The hub serves the assets uncompressed; gzip -9 shows what a proxy in front would send.
  console.log(`page weight: ${bytes} bytes uncompressed, ${gz} gzip -9 (${files.join(', ')})`);
  let first = 0;
  page.on('websocket', (ws) => ws.on('framereceived', (f) => { if (!first && String(f.payload).includes('"type":"view"')) first = String(f.payload).length; }));
  await page.reload();
  await page.waitForSelector('#conn.live', { timeout: 30000 });
  console.log(`first view message: ${first} bytes`);

  // Load to first data, 10 loads.
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now();
    await page.goto(`${HUB}/monitoring/dashboard`);
    await page.waitForSelector('#conn.live', { timeout: 30000 });
    times.push(Date.now() - t0);
  }
  console.log(`load to first data: median ${median(times)} ms, min ${Math.min(...times)}, max ${Math.max(...times)} (10 loads)`);
  await page.goto('about:blank');

  const idle = await measure('no client');
  const tabs = [];
  for (let i = 0; i < TABS; i++) {
    const p = await ctx.newPage();
    await p.goto(`${HUB}/monitoring/dashboard`);
    tabs.push(p);
  }
  await Promise.all(tabs.map((p) => p.waitForSelector('#conn.live', { timeout: 60000 })));
  const stream = await measure(`${TABS} dashboard tabs (stream, view model)`);
  await Promise.all(tabs.map((p) => p.close()));

  // The naive page: poll the four JSON endpoints every 2 s, per tab.
  let stop = false, polls = 0;
  const poller = async () => {
    while (!stop) {
      await Promise.all(['metrics', 'health', 'sessions', 'alerts']
        .map((e) => fetch(`${HUB}/monitoring/api/${e}`).then((r) => r.arrayBuffer())));
      polls++;
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  const runners = Array.from({ length: TABS }, poller);
  const naive = await measure(`${TABS} naive pages polling /monitoring/api/* every 2 s`);
  stop = true; await Promise.all(runners);
  console.log(`hub CPU above idle: stream ${((stream - idle) * 100).toFixed(2)}%, naive polling ${((naive - idle) * 100).toFixed(2)}%` +
    ` (ratio ${((naive - idle) / Math.max(1e-9, stream - idle)).toFixed(1)}x)`);
} finally {
  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
}
