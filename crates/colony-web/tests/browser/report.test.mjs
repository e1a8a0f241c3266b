// `colony report --format html`, and the dashboard's Report view, in a
// real Chromium.
//
// Started by the Rust test `the_report_adds_up_and_renders` (crates/colony/
// tests/cli/report.rs), which passes:
//   REPORT_HTML     the report file
//   REPORT_BARS     how many attempts the run made (one bar each)
//   COLONY_URL      `colony serve` on the same store (http://127.0.0.1:PORT)
//   CHROMIUM        the browser executable
//   SCREENSHOTS     where to save the screenshots
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run this through \`cargo test -p colony --test cli report\``);
  return value;
};

const launch = () => chromium.launch({
  executablePath: env('CHROMIUM'),
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const PATIENCE = { timeout: 60_000 };
// As the Report view and render.rs write a time.
const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;

test('the report draws one bar per attempt and runs no script', async () => {
  const shots = env('SCREENSHOTS');
  mkdirSync(shots, { recursive: true });
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => problems.push(m.text()));
    await page.goto(pathToFileURL(env('REPORT_HTML')).href);
    assert.equal(await page.locator('svg').count(), 1, 'one timeline');
    assert.equal(await page.locator('svg g.attempt rect').count(), Number(env('REPORT_BARS')), 'a bar per attempt');
    const box = await page.locator('svg').boundingBox();
    assert.ok(box && box.width > 100 && box.height > 20, 'the timeline is drawn');
    assert.equal(await page.locator('script').count(), 0, 'no script element');
    assert.deepEqual(problems, [], 'nothing ran or failed');
    await page.screenshot({ path: join(shots, 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test("the dashboard's Report view, opened from a task, shows the report's timeline and numbers", async () => {
  const base = env('COLONY_URL');
  const shots = env('SCREENSHOTS');
  mkdirSync(shots, { recursive: true });
  const answer = await fetch(`${base}/api/plans/rep/report`);
  assert.equal(answer.status, 200);
  const report = await answer.json();
  const standalone = await fetch(`${base}/api/plans/rep/report?format=html`);
  assert.match(standalone.headers.get('content-type'), /^text\/html/);
  assert.match(await standalone.text(), /<svg/);
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(`${base}/#/task/retry`);
    await page.locator('.conn.live').waitFor(PATIENCE);
    await page.locator('a[data-link="report"]').click();
    await page.locator('svg.timeline').waitFor(PATIENCE);
    assert.equal(new URL(page.url()).hash, '#/report/rep');

    assert.equal(await page.locator('svg.timeline g.attempt rect').count(), report.attempts.length, 'a bar per attempt');
    const box = await page.locator('svg.timeline').boundingBox();
    assert.ok(box && box.width > 100 && box.height > 20, 'the timeline is drawn');
    assert.match(await page.locator('[data-figure="wall"] .big').textContent(), new RegExp(`^${secs(report.wall_ms)}$`));
    assert.match(await page.locator('[data-figure="attempts"] .big').textContent(), new RegExp(`^${secs(report.attempts_wall_ms)}$`));
    for (const bucket of ['setup_ms', 'agent_ms', 'gates_ms', 'review_ms', 'merge_queue_ms', 'rate_limit_ms']) {
      const row = await page.locator(`tr[data-bucket="${bucket}"]`).textContent();
      assert.ok(row.includes(secs(report.totals[bucket])), `${bucket}: ${row}`);
    }
    assert.ok((await page.locator('tr[data-bucket="total"]').textContent()).includes(secs(report.attempts_wall_ms)));
    assert.deepEqual(await page.locator('.path a').allTextContents(), report.critical_path, 'the critical path');
    assert.equal(await page.locator('table.agents tbody tr').count(), report.agents.length);
    assert.equal(await page.locator('table.slowest tr').count(), Math.min(5, report.tasks.filter((t) => t.attempts > 0).length));
    assert.equal(await page.locator('table.failures tbody tr').count(), report.failures.length);
    assert.ok(report.failures.length > 0);
    await page.locator(`table.failures tr[data-task="${report.failures[0].task}"]`).waitFor();
    await page.screenshot({ path: join(shots, 'report-view.png'), fullPage: true });

    // The overview links each plan's report too.
    await page.goto(`${base}/#/`);
    await page.locator('a[data-link="report"]').click();
    await page.locator('svg.timeline').waitFor(PATIENCE);
    assert.deepEqual(problems, [], 'nothing failed');
  } finally {
    await browser.close();
  }
});
