// `colony report --format html` in a real Chromium.
//
// Started by the Rust test `the_report_adds_up_and_renders` (crates/colony/
// tests/cli/report.rs), which passes:
//   REPORT_HTML     the report file
//   REPORT_BARS     how many attempts the run made (one bar each)
//   CHROMIUM        the browser executable
//   SCREENSHOTS     where to save the screenshot
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

test('the report draws one bar per attempt and runs no script', async () => {
  const shots = env('SCREENSHOTS');
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
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
