// The built-in dashboard in a real browser: Debian's headless Chromium, driven by playwright-core,
// against the real warden binary after a run of traffic through a fake OpenAI-compatible
// provider (exact usage), the echo provider, a refused deployment (failovers) and a policy that
// redacts. Checks the login flow and the session's limits, that every chart renders with the
// run's data and that the figures match what the fakes reported; saves a screenshot to
// $WARDEN_ARTIFACTS/dashboard.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startWarden } from './warden.mjs';

const TOKEN = 'dashboard-admin-token-7f3a9c1e5b';
const USAGE = { prompt_tokens: 1200, completion_tokens: 300 };  // what the fake reports per call
const ACME_PRICE = { input: 2, output: 8 };                       // USD per million tokens
const PLANTED = 'jane.roe.planted@example.org';

let fake, refused, warden, browser;

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

before(async () => {
  fake = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const request = JSON.parse(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model: request.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' }],
        usage: { ...USAGE, total_tokens: USAGE.prompt_tokens + USAGE.completion_tokens },
      }));
    });
  });
  const fakePort = await listen(fake);
  // A port that refuses connections: bound once, then closed.
  const closed = http.createServer();
  const refusedPort = await listen(closed);
  await new Promise((r) => closed.close(r));
  refused = refusedPort;
  warden = await startWarden(`providers:
  - { name: local-echo, kind: echo, region: local, zero_retention: true, price: { input_per_million: 3, output_per_million: 15 } }
  - { name: acme, kind: openai, base_url: "http://127.0.0.1:${fakePort}/v1", api_key: sk-fake-0123456789, region: local, zero_retention: true, price: { input_per_million: ${ACME_PRICE.input}, output_per_million: ${ACME_PRICE.output} } }
  - { name: down, kind: openai, base_url: "http://127.0.0.1:${refused}/v1", api_key: sk-fake-0123456789, region: local, zero_retention: true }
models:
  - alias: echo
    deployments: [{ provider: local-echo }]
  - alias: smart
    deployments: [{ provider: down, model: m }, { provider: acme, model: m }]
`, {
    adminToken: TOKEN,
    keys: [{ name: 'clinic', policy: 'hipaa' }, { name: 'analyst', policy: 'teams' }],
    // A team budget (per tag value) and a model restriction that refuses.
    policies: { teams: 'models: [smart]\ntags: [team]\nbudgets: { per_tag: { team: { usd_per_day: 0.05 } }, alert_at: [50, 80, 100] }\n' },
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // --no-sandbox: the suite may run as root (CI containers); a small /dev/shm must not crash it.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
});

after(async () => {
  await browser?.close();
  await warden?.stop();
  fake?.close();
});

async function chat(key, model, content, tags) {
  const res = await fetch(`http://127.0.0.1:${warden.port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(tags ? { 'x-warden-tags': tags } : {}) },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
  await res.text();
  return res.status;
}

test('the dashboard shows a run of traffic in a real browser', async () => {
  // The run: 4 echo calls (default key), 3 calls to `smart` that fail over from `down` to `acme`
  // and carry an e-mail address the hipaa policy redacts, and one call for an unknown model.
  for (let i = 0; i < 4; i++) assert.equal(await chat(warden.key, 'echo', `hello number ${i}`), 200);
  for (let i = 0; i < 3; i++) assert.equal(await chat(warden.keys.clinic, 'smart', `write to ${PLANTED}`), 200);
  assert.equal(await chat(warden.key, 'no-such-model', 'hi'), 404);
  // The research team: two calls to `smart` on its $0.05 budget ($0.0048 each), and one refused
  // by its policy (echo is not among its models): a refusal, not an error.
  for (let i = 0; i < 2; i++) assert.equal(await chat(warden.keys.analyst, 'smart', 'summarise', 'team=research'), 200);
  assert.equal(await chat(warden.keys.analyst, 'echo', 'hi', 'team=research'), 403);

  const admin = `http://127.0.0.1:${warden.adminPort}`;
  // The figures, as the page will get them (bearer token here). Metrics are recorded just after
  // each response goes out, so the last request may take a moment to be counted.
  let data;
  for (let i = 0; i < 100; i++) {
    data = await (await fetch(`${admin}/dashboard/data?window=1h`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    if (data.totals.requests >= 11) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(data.totals.requests, 11);
  assert.equal(data.totals.client_errors, 1);  // the unknown model; the refusal is counted apart
  assert.equal(data.totals.server_errors, 0);
  assert.equal(data.totals.refusals, 1);
  assert.deepEqual(data.totals.refusals_by_reason, { model_not_allowed: 1 });
  // Budgets: the clinic key's (hipaa: a day and a month) and the research team's (a day).
  const budget = (id, period) => data.budgets.find((b) => b.id === id && b.period === period);
  const clinicId = warden.keys.clinic.split('_')[2];
  assert.equal(budget(clinicId, 'day').limit_usd, 200);
  assert.equal(budget(clinicId, 'month').limit_usd, 5000);
  const team = budget('team=research', 'day');
  assert.equal(team.kind, 'tag');
  assert.equal(team.limit_usd, 0.05);
  assert.ok(Math.abs(team.spent_usd - 2 * (USAGE.prompt_tokens * ACME_PRICE.input + USAGE.completion_tokens * ACME_PRICE.output) / 1e6) < 1e-12);
  assert.deepEqual(team.alert_at, [50, 80, 100]);
  assert.ok(data.totals.failovers >= 3, `failovers: ${data.totals.failovers}`);
  assert.ok(data.totals.redactions >= 3, `redactions: ${data.totals.redactions}`);
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const acmeCost = 5 * (USAGE.prompt_tokens * ACME_PRICE.input + USAGE.completion_tokens * ACME_PRICE.output) / 1e6;
  assert.ok(Math.abs(sum(data.recent.cost_by_provider.acme) - acmeCost) < 1e-9, JSON.stringify(data.recent.cost_by_provider));
  assert.equal(sum(data.recent.tokens_by_model.smart), 5 * (USAGE.prompt_tokens + USAGE.completion_tokens));
  assert.ok(sum(data.recent.tokens_by_model.echo) > 0);
  assert.ok(Math.abs(sum(data.daily.cost_by_provider.acme) - acmeCost) < 1e-9);
  assert.deepEqual(data.top_keys.map((k) => k.name), ['clinic', 'analyst', 'sdk']);  // by spend: acme costs more
  assert.ok(!JSON.stringify(data).includes(PLANTED), 'no prompt content in the dashboard data');

  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('401')) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));

  // Not signed in: the login form, status 401, and no data.
  const first = await page.goto(`${admin}/dashboard`);
  assert.equal(first.status(), 401);
  assert.equal(await page.locator('form[action="/dashboard/login"] input[name=token]').count(), 1);
  assert.equal((await page.request.get(`${admin}/dashboard/data`)).status(), 401);

  // A wrong token is refused and says so.
  await page.fill('input[name=token]', 'not-the-token-at-all-0000');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  assert.match(await page.locator('.error').innerText(), /not valid/);
  assert.equal((await context.cookies()).length, 0);

  // The right token: a session cookie, then the page with its charts.
  await page.fill('input[name=token]', TOKEN);
  await Promise.all([page.waitForURL(`${admin}/dashboard`), page.click('button[type=submit]')]);
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, 'Strict');
  assert.equal(cookies[0].path, '/dashboard');
  await page.waitForSelector('body[data-loaded]');

  const charts = await page.$$eval('[data-chart]', (figs) => figs.map((f) => ({ name: f.dataset.chart, points: Number(f.dataset.points || 0) })));
  assert.equal(charts.length, 16);
  for (const c of charts) assert.ok(c.points > 0, `chart ${c.name} drew nothing`);
  assert.equal(await page.locator('[data-tile=requests] .value').innerText(), '11');
  assert.equal(await page.locator('[data-tile=refusals] .value').innerText(), '1');
  assert.match(await page.locator('[data-tile=refusals] .sub').innerText(), /model_not_allowed 1/);
  assert.match(await page.locator('[data-tile=error_rate] .sub').innerText(), /refusals not counted/);
  assert.ok(await page.locator('[data-chart=refusals] rect[data-series=model_not_allowed]').count() > 0);
  assert.ok(await page.locator('[data-chart=requests] rect[data-series=refused]').count() > 0);
  // One colour per name in every chart it appears in.
  const fills = await page.$$eval('rect[data-series=acme], rect[data-series=smart], rect[data-series=echo]',
                                  (rects) => rects.map((r) => [r.dataset.series, r.getAttribute('fill')]));
  const byName = {};
  for (const [name, fill] of fills) (byName[name] ||= new Set()).add(fill);
  assert.deepEqual(Object.keys(byName).sort(), ['acme', 'echo', 'smart']);
  for (const [name, set] of Object.entries(byName)) assert.equal(set.size, 1, `${name} has ${[...set]} across charts`);
  // Figures readable without hovering: each legend entry carries its total.
  assert.match(await page.locator('[data-chart=cost_by_provider] .legend [data-series=acme]').innerText(), /acme\s*\$0\.024/);
  assert.match(await page.locator('[data-chart=tokens_by_model] .legend [data-series=smart]').innerText(), /smart\s*7\.5k/);
  // Budgets: a row per budget and period, the alert thresholds drawn on each bar.
  assert.equal(await page.locator('[data-chart=budgets] tr[data-budget="tag:team=research:day"]').count(), 1);
  assert.equal(await page.locator(`[data-chart=budgets] tr[data-budget="key:${clinicId}:month"]`).count(), 1);
  assert.deepEqual(await page.$$eval('[data-chart=budgets] tr[data-budget="tag:team=research:day"] line.threshold',
                                     (ls) => ls.map((l) => l.dataset.percent)), ['50', '80', '100']);
  assert.match(await page.locator('[data-chart=budgets] tr[data-budget="tag:team=research:day"]').innerText(), /\$0\.0096[\s\S]*\$0\.050/);
  assert.equal(await page.locator('[data-tile=redactions] .value').innerText(), String(data.totals.redactions));
  assert.ok(await page.locator('[data-chart=cost_by_provider] rect[data-series=acme]').count() > 0);
  assert.ok(await page.locator('[data-chart=cost_by_model] rect[data-series=echo]').count() > 0);
  assert.ok(await page.locator('[data-chart=redactions] rect[data-series=EMAIL]').count() > 0);
  assert.deepEqual(await page.$$eval('[data-chart=top_keys] tr[data-key] td:nth-child(2)', (tds) => tds.map((t) => t.textContent)),
                   ['clinic', 'analyst', 'sdk']);
  const legend = await page.locator('[data-chart=cost_by_provider] .legend').innerText();
  assert.match(legend, /acme/);
  assert.match(legend, /local-echo/);
  assert.ok(!(await page.content()).includes(PLANTED));

  // The 6-hour window redraws from the server.
  await page.click('button[data-window="6h"]');
  await page.waitForFunction(() => document.querySelector('.window-label').textContent.includes('6h'));
  assert.ok(Number(await page.locator('[data-chart=requests]').getAttribute('data-points')) > 0);
  await page.click('button[data-window="1h"]');
  await page.waitForFunction(() => document.querySelector('.window-label').textContent.includes('1h'));

  const dir = process.env.WARDEN_ARTIFACTS || join(process.cwd(), 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'dashboard.png'), fullPage: true });

  // The session authorises the dashboard only, never the admin API.
  assert.equal((await page.request.get(`${admin}/dashboard/data`)).status(), 200);
  assert.equal((await page.request.get(`${admin}/admin/keys`)).status(), 401);
  assert.equal((await page.request.get(`${admin}/metrics`)).status(), 401);

  // Signing out ends the session on the server: the old cookie value no longer works.
  await Promise.all([page.waitForURL(`${admin}/dashboard`), page.click('header form button[type=submit]')]);
  assert.equal(await page.locator('input[name=token]').count(), 1);
  const replay = await page.request.get(`${admin}/dashboard/data`, { headers: { cookie: `${cookies[0].name}=${cookies[0].value}` } });
  assert.equal(replay.status(), 401);
  assert.deepEqual(problems, []);
  await context.close();
});
