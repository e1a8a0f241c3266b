// The dashboard in a real Chromium, on a real `colony run --serve`.
//
// Started by the Rust test `the_dashboard_works_in_a_browser`
// (crates/colony/tests/cli/serve.rs), which runs colony with a plan for
// its fake agent and passes:
//   COLONY_URL      the server's base URL (http://127.0.0.1:PORT)
//   COLONY_TOKEN    the token from .colony/token
//   COLONY_BIN      the colony binary, COLONY_REPO the repository it runs in
//   COLONY_RELEASE  a file the task `quick` waits for
//   CHROMIUM        the browser executable
//   SCREENSHOTS     where to save screenshots
// The tests run in order and share the run: the last one stops it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run these tests through \`cargo test -p colony --test cli browser\``);
  return value;
};
const BASE = env('COLONY_URL');
const TOKEN = env('COLONY_TOKEN');
const SHOTS = env('SCREENSHOTS');
const HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
const QUESTION = 'Which table holds the users?\n<img src=x onerror=window.__pwned=5> or accounts';
const PATIENCE = { timeout: 60_000 };

let browser;
let reader; // a browser without the token
let operator; // a browser that opened the printed URL

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  reader = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  operator = await browser.newContext({ viewport: { width: 1280, height: 860 } });
});

after(async () => {
  await browser?.close();
});

const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const badge = (page, id) => page.locator(`tr[data-id="${id}"] .badge`);

async function open(context, hash) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !/status of 40[19]/.test(m.text()) && problems.push(m.text()));
  await page.goto(`${BASE}/${hash}`);
  await page.locator('.conn.live').waitFor(PATIENCE);
  page.problems = problems;
  return page;
}

test('tasks appear and change state live, without a reload', async () => {
  const page = await open(reader, '#/tasks');
  await badge(page, 'quick').waitFor(PATIENCE);
  // `quick` blocks until this test writes COLONY_RELEASE, however slow the
  // machine: it cannot have finished yet.
  const first = await badge(page, 'quick').textContent();
  assert.notEqual(first, 'done', 'quick has not finished when the page opens');
  let reloaded = false;
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) reloaded = true; });
  writeFileSync(env('COLONY_RELEASE'), 'go');
  await page.locator('tr[data-id="quick"] .badge', { hasText: 'done' }).waitFor(PATIENCE);
  // A task added while the page is open shows up by itself.
  execFileSync(env('COLONY_BIN'), ['add', 'plans/late.yaml'], { cwd: env('COLONY_REPO') });
  await page.locator('tr[data-id="late"]').waitFor(PATIENCE);
  assert.equal(reloaded, false, 'the page never reloaded');
  await shot(page, 'tasks');

  await page.getByLabel('search').fill('a QUICK');
  await page.locator('tr.row').first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('tr.row').length === 1);
  await page.getByLabel('status').selectOption('done');
  await page.getByLabel('search').fill('');
  await page.waitForFunction(() => [...document.querySelectorAll('tr.row .badge')].every((b) => b.textContent === 'done'));
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('a hostile title and hostile agent output show as text', async () => {
  const page = await open(reader, '#/task/hostile');
  await page.locator('.task-title').waitFor(PATIENCE);
  assert.equal(await page.locator('.task-title').textContent(), HOSTILE);
  await page.locator('.log pre', { hasText: '<script>window.__pwned=3</script>' }).waitFor(PATIENCE);
  await page.getByRole('tab', { name: 'Prompt' }).click();
  assert.equal(await page.locator('pre.prompt').textContent(), '<b>prompt</b>');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script from a task ran');
  assert.equal(await page.locator('main img').count(), 0, 'no element came from task text');
  await page.goto(`${BASE}/#/tasks`);
  await badge(page, 'hostile').waitFor(PATIENCE);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await page.goto(`${BASE}/#/task/hostile`);
  await page.locator('.log pre', { hasText: 'window.__pwned=3' }).waitFor(PATIENCE);
  await shot(page, 'task-hostile');
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('a control without the token is refused and changes nothing', async () => {
  const page = await open(reader, '#/task/doomed');
  await page.locator('.detail-head .badge', { hasText: 'failed' }).waitFor(PATIENCE);
  await page.getByText('Read only').waitFor();
  await page.locator('button[data-action="retry"]').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Retry' }).click();
  await page.locator('.message.error', { hasText: 'Not allowed' }).waitFor(PATIENCE);
  const api = await (await fetch(`${BASE}/api/tasks/doomed`)).json();
  assert.equal(api.status, 'failed');
  assert.equal(api.events.filter((e) => e.type === 'retried').length, 0);
  await shot(page, 'refused');
  await page.close();
});

test('with the token from the printed URL, controls work after confirmation', async () => {
  const page = await operator.newPage();
  await page.goto(`${BASE}/?token=${TOKEN}`);
  assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar');
  const cookies = await operator.cookies();
  const cookie = cookies.find((c) => c.name === 'colony_token');
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict');

  // Cancel: asked first; "Back" changes nothing.
  await page.goto(`${BASE}/#/task/parked`);
  await page.locator('.detail-head .badge', { hasText: 'pending' }).waitFor(PATIENCE);
  await page.locator('button[data-action="cancel"]').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Back' }).click();
  assert.equal((await (await fetch(`${BASE}/api/tasks/parked`)).json()).status, 'pending');
  await page.locator('button[data-action="cancel"]').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel the task' }).click();
  await page.locator('.detail-head .badge', { hasText: 'cancelled' }).waitFor(PATIENCE);

  // Retry the failed task.
  await page.goto(`${BASE}/#/task/doomed`);
  await page.locator('button[data-action="retry"]').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Retry' }).click();
  await page.locator('.message', { hasText: 'Retry: doomed' }).waitFor(PATIENCE);
  const doomed = await (await fetch(`${BASE}/api/tasks/doomed`)).json();
  assert.equal(doomed.events.filter((e) => e.type === 'retried').length, 1);

  // Kill the long attempt: its lease is taken back and it is queued again.
  await page.goto(`${BASE}/#/task/long`);
  await page.locator('.detail-head .badge', { hasText: 'running' }).waitFor(PATIENCE);
  await page.locator('button[data-action="kill"]').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Kill' }).click();
  await page.locator('.message', { hasText: 'Kill: long' }).waitFor(PATIENCE);
  await page.getByRole('tab', { name: /Attempts/ }).click();
  await page.locator('td', { hasText: 'killed by a person' }).first().waitFor(PATIENCE);
  // Events are shown in colony's own words, the API's `text`.
  await page.getByRole('tab', { name: 'Events' }).click();
  await page.locator('td', { hasText: /^attempt 1 of .* killed by a person \(requeued\)$/ }).waitFor(PATIENCE);
  await shot(page, 'task-killed');
  await page.close();
});

test('follow-ups an agent proposed wait with controls to add or drop them', async () => {
  const page = await operator.newPage();
  await page.goto(`${BASE}/#/task/idea`);
  await page.locator('.detail-head .badge', { hasText: 'proposed' }).waitFor(PATIENCE);
  await page.locator('dd', { hasText: 'the agent of after, attempt 1' }).waitFor();
  assert.equal(await page.locator('button[data-action="cancel"]').count(), 0, 'a proposal is added or dropped');
  await page.locator('button[data-action="approve"]', { hasText: 'Add' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Add' }).click();
  await page.locator('.message', { hasText: 'Add: idea' }).waitFor(PATIENCE);
  const idea = await (await fetch(`${BASE}/api/tasks/idea`)).json();
  assert.ok(!['proposed', 'dropped'].includes(idea.status), `added: ${idea.status}`);

  await page.goto(`${BASE}/#/task/idea-more`);
  await page.locator('.detail-head .badge', { hasText: 'proposed' }).waitFor(PATIENCE);
  await page.locator('button[data-action="reject"]', { hasText: 'Drop' }).click();
  await page.getByRole('dialog').getByLabel('feedback').fill('not tonight');
  await page.getByRole('dialog').getByRole('button', { name: 'Drop' }).click();
  await page.locator('.detail-head .badge', { hasText: 'dropped' }).waitFor(PATIENCE);
  await page.getByRole('tab', { name: 'Events' }).click();
  await page.locator('td', { hasText: 'dropped: not tonight' }).waitFor(PATIENCE);
  await shot(page, 'followup-dropped');
  await page.close();
});

test('a question an agent asked shows as text, and an answer sends its task on', async () => {
  const page = await open(operator, '#/');
  const listed = page.locator('.questions .question[data-task="asking"] pre');
  await listed.waitFor(PATIENCE);
  assert.equal(await listed.textContent(), QUESTION, 'the overview lists the question');
  await shot(page, 'overview-question');

  await page.goto(`${BASE}/#/task/asking`);
  await page.locator('.detail-head .badge', { hasText: 'awaiting input' }).waitFor(PATIENCE);
  assert.equal(await page.locator('section.question pre').textContent(), QUESTION);
  await page.locator('section.question', { hasText: 'the task fails with this question' }).waitFor();
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a question is text, never markup');
  assert.equal(await page.locator('main img').count(), 0, 'no element came from the question');
  await shot(page, 'task-question');

  await page.locator('button[data-action="answer"]').click();
  const dialog = page.getByRole('dialog');
  assert.equal(await dialog.locator('pre.quote').textContent(), QUESTION, 'the dialog shows what is answered');
  await dialog.getByLabel('answer').fill('users, not accounts');
  await dialog.getByRole('button', { name: 'Answer' }).click();
  await page.locator('.message', { hasText: 'Answer: asking' }).waitFor(PATIENCE);
  await page.locator('button[data-action="answer"]').waitFor({ state: 'detached', ...PATIENCE });
  const asking = await (await fetch(`${BASE}/api/tasks/asking`)).json();
  assert.notEqual(asking.status, 'awaiting_input');
  assert.deepEqual(asking.events.filter((e) => e.type === 'answered').map((e) => e.answer), ['users, not accounts']);
  // Its agent goes on with the answer, asks nothing more, and its work is merged.
  await page.locator('.detail-head .badge', { hasText: 'done' }).waitFor(PATIENCE);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('the graph, the workers and the overview, also on a phone', async () => {
  const page = await open(operator, '#/graph');
  await page.locator('.node[data-id="after"]').waitFor(PATIENCE);
  const nodes = await page.locator('.node').count();
  assert.ok(nodes >= 7, `${nodes} nodes`);
  assert.ok((await page.locator('.graph svg line').count()) >= 2, 'dependency lines are drawn');
  await shot(page, 'graph');
  await page.locator('.node[data-id="quick"]').click();
  await page.locator('h2', { hasText: 'quick' }).waitFor();

  await page.goto(`${BASE}/#/workers`);
  await page.locator('table.workers td', { hasText: 'hostile' }).first().waitFor(PATIENCE);
  // What an agent reported over colony's MCP server shows as text.
  await page.locator('table.workers .progress', { hasText: '<img src=x onerror="window.__pwned=4"> half way' }).waitFor(PATIENCE);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a report is text, never markup');
  await shot(page, 'workers');

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const small = await open(phone, '');
  await small.locator('.card').first().waitFor();
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the overview fits a phone's width (${overflow}px too wide)`);
  await shot(small, 'overview-phone');
  await phone.close();
  await page.goto(`${BASE}/#/`);
  await page.locator('.card').first().waitFor();
  await shot(page, 'overview');
  await page.close();
});

test('an emergency stop ends the run, and the page says the server is gone', async () => {
  const page = await open(operator, '#/');
  await page.locator('button[data-action="stop-now"]').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Stop now' }).click();
  await page.locator('[data-banner="gone"]').waitFor(PATIENCE);
  await shot(page, 'server-gone');
  await page.close();
});
