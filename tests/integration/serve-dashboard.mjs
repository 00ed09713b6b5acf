// serve-dashboard.mjs: the browser half of t-serve-dashboard.sh. Drives the
// dashboard of `llmem serve` (GET /) in headless Chromium through
// playwright-core, against two daemons the shell script started:
//
//   URL      two models, alpha loaded and beta not: the page shows alpha
//            loaded and beta unloaded, the RAM pool's bar holds alpha's
//            buffers, alpha's keep-alive counts down; a screenshot
//            (SCREENSHOT); alpha's Unload button unloads it (the daemon's
//            /llmem/status says so, then the page), beta's Load button
//            loads it; the page opened as http://localhost:PORT/ too
//            (another Origin the daemon allows) unloads beta
//   KEY_URL  the same models behind --api-key API_KEY: the page asks for
//            the key, says when one is refused, then works with the right
//            one (its Load button loads alpha) and keeps it in the tab
//
// Throughout: no request of the page fails (but the key daemon's 401s
// before the key), no Content-Security-Policy violation, no script error.
// Prints TAP lines numbered from TAP_START + 1 and writes the last number
// to TAP_COUNT_FILE.
//
// Environment: URL, KEY_URL, API_KEY, CHROMIUM (/usr/bin/chromium),
// LLMEM_CLIENTS (the directory whose node_modules holds playwright-core),
// SCREENSHOT (a PNG path), TAP_START, TAP_COUNT_FILE.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const URL_ = env('URL');
const KEY_URL = env('KEY_URL');
const API_KEY = env('API_KEY');
const SHOT = env('SCREENSHOT');
const req_ = createRequire(env('LLMEM_CLIENTS') + '/package.json');
const { chromium } = req_('playwright-core');

let tapN = Number(env('TAP_START', '0'));
const ok = (c, msg) => {
  tapN++;
  console.log(`${c ? 'ok' : 'not ok'} ${tapN} - ${msg}`);
  return c;
};
const note = (s) => console.log(`# ${String(s).split('\n').join('\n# ')}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The daemon's own view of a model (fetched here, not through the page).
async function daemonState(base, model, key) {
  const h = key ? { Authorization: `Bearer ${key}` } : {};
  const r = await fetch(`${base}/llmem/status`, { headers: h });
  if (!r.ok) return `HTTP ${r.status}`;
  const st = await r.json();
  const m = (st.models || []).find((x) => x.name === model);
  return m ? m.state : 'absent';
}

async function until(seconds, fn) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    try {
      if (await fn()) return true;
    } catch (_) { /* try again */ }
    if (Date.now() > end) return false;
    await sleep(100);
  }
}

// A page that records what went wrong on it.
async function watchedPage(context, label, allow401) {
  const page = await context.newPage();
  const bad = [];
  page.on('pageerror', (e) => bad.push(`${label}: script error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // the browser logs a 401 the page expected as a console error too
    if (allow401 && /status of 401/.test(m.text())) return;
    bad.push(`${label}: console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() < 400 || (allow401 && r.status() === 401)) return;
    bad.push(`${label}: ${r.request().method()} ${r.url()}: ${r.status()}`);
  });
  page.on('requestfailed', (r) => {
    // a poll cut short by a navigation or the page closing is no failure
    if (/ERR_ABORTED/.test(r.failure()?.errorText || '')) return;
    bad.push(`${label}: ${r.url()}: ${r.failure()?.errorText}`);
  });
  // CSP violations, as the page sees them (the init script runs outside the CSP)
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return { page, bad };
}

const row = (page, m) => page.locator(`#models tbody tr[data-model="${m}"]`);
const stateText = (page, m) => row(page, m).locator('td.state .badge').textContent();
const shows = (page, m, text) => async () => (await stateText(page, m)).trim() === text;
const segs = (page, pool, m) => page.locator(`.pool[data-pool="${pool}"] .bar .seg[data-model="${m}"]`);

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  args: ['--no-sandbox'],
});
try {
  // ---- the daemon without a key
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 500 }, deviceScaleFactor: 1 });
  const { page, bad } = await watchedPage(ctx, '127.0.0.1', false);
  const resp = await page.goto(`${URL_}/`);
  ok(resp.status() === 200 && /^text\/html/.test(resp.headers()['content-type'] || ''),
    `GET / answers the page (${resp.status()} ${resp.headers()['content-type']})`);
  ok(await until(10, shows(page, 'alpha', 'loaded')), 'the page shows alpha loaded');
  ok(await until(5, shows(page, 'beta', 'unloaded')), 'the page shows beta unloaded');
  ok(await page.locator('.pool[data-pool="RAM"] .bar').count() === 1, 'the RAM pool has a bar');
  const kinds = await segs(page, 'RAM', 'alpha').evaluateAll((es) =>
    es.filter((e) => e.getBoundingClientRect().width > 0).map((e) => e.dataset.kind));
  ok(kinds.includes('weights') && kinds.includes('kv') && kinds.includes('compute'),
    `the RAM bar stacks alpha's buffers (${kinds.join(', ')})`);
  ok(await segs(page, 'RAM', 'beta').count() === 0, 'beta (unloaded) has no part of the bar');
  {
    const st = await (await fetch(`${URL_}/llmem/status`)).json();
    const ram = st.pools[0];
    const frac = await page.locator('.pool[data-pool="RAM"] .bar').evaluate((bar) => {
      let w = 0;
      for (const s of bar.querySelectorAll('.seg')) w += s.getBoundingClientRect().width;
      return w / bar.getBoundingClientRect().width;
    });
    const want = ram.used / ram.budget;
    ok(Math.abs(frac - want) < 0.02,
      `the bar's filled part is what is used of the budget (${(100 * frac).toFixed(1)}%, ${(100 * want).toFixed(1)}%)`);
  }
  const summary = await page.locator('.pool[data-pool="RAM"] .pool-head .nums').textContent();
  ok(/used of .* budget/.test(summary), `the pool's numbers: ${summary}`);
  const plan = (await row(page, 'alpha').locator('td.plan').textContent()).trim();
  ok(/-c 2048/.test(plan), `alpha's plan is shown (${plan})`);
  const k1 = (await row(page, 'alpha').locator('td.keep').textContent()).trim();
  await sleep(2500);
  const k2 = (await row(page, 'alpha').locator('td.keep').textContent()).trim();
  const secs = (t) => (/^(\d+):(\d\d)$/.test(t) ? Number(RegExp.$1) * 60 + Number(RegExp.$2) : NaN);
  ok(secs(k1) > secs(k2) && secs(k1) <= 300, `alpha's keep-alive counts down (${k1}, then ${k2})`);
  ok((await row(page, 'alpha').locator('td.busy').textContent()) === '0' &&
    (await row(page, 'alpha').locator('td.queued').textContent()) === '0', 'nothing in flight or queued');
  if (SHOT) {
    await page.screenshot({ path: SHOT, fullPage: true });
    ok(true, `screenshot with alpha loaded: ${SHOT}`);
  }

  // unload alpha with its button
  const ub = row(page, 'alpha').locator('button');
  ok((await ub.textContent()) === 'Unload', "alpha's button says Unload");
  await ub.click();
  ok(await until(15, async () => (await daemonState(URL_, 'alpha')) === 'unloaded'),
    `the daemon unloads alpha (state ${await daemonState(URL_, 'alpha')})`);
  ok(await until(5, shows(page, 'alpha', 'unloaded')), 'the page shows alpha unloaded');
  ok(await until(5, async () => (await segs(page, 'RAM', 'alpha').count()) === 0), "alpha's part of the bar is gone");

  // load beta with its button
  const lb = row(page, 'beta').locator('button');
  ok((await lb.textContent()) === 'Load', "beta's button says Load");
  await lb.click();
  ok(await until(30, async () => (await daemonState(URL_, 'beta')) === 'ready'),
    `the daemon loads beta (state ${await daemonState(URL_, 'beta')})`);
  ok(await until(5, shows(page, 'beta', 'loaded')), 'the page shows beta loaded');
  ok(await until(5, async () => (await segs(page, 'RAM', 'beta').count()) > 0), 'beta has its part of the bar');
  ok(await until(5, async () => (await row(page, 'beta').locator('button').textContent()) === 'Unload'),
    "beta's button now says Unload");

  // the same page as http://localhost:PORT/: its POST carries Origin http://localhost:PORT
  const local = URL_.replace('//127.0.0.1:', '//localhost:');
  const { page: lp, bad: lbad } = await watchedPage(ctx, 'localhost', false);
  await lp.goto(`${local}/`);
  ok(await until(10, shows(lp, 'beta', 'loaded')), `${local}/ shows beta loaded`);
  await row(lp, 'beta').locator('button').click();
  ok(await until(15, async () => (await daemonState(URL_, 'beta')) === 'unloaded'),
    `its Unload button unloads beta (state ${await daemonState(URL_, 'beta')})`);
  ok(await until(5, shows(lp, 'beta', 'unloaded')), 'and it shows beta unloaded');
  ok(await until(5, shows(page, 'beta', 'unloaded')), 'the first page too');
  ok(await page.locator('#message').isHidden(), 'no error message on the page');
  for (const [p, b, label] of [[page, bad, '127.0.0.1'], [lp, lbad, 'localhost']]) {
    const csp = await p.evaluate(() => window.__csp);
    ok(csp.length === 0, `no CSP violation (${label})${csp.length ? ': ' + csp.join('; ') : ''}`);
    ok(b.length === 0, `no failed request or script error (${label})`);
    b.forEach(note);
  }
  await ctx.close();

  // ---- the daemon with --api-key
  const kctx = await browser.newContext({ viewport: { width: 1100, height: 640 } });
  const { page: kp, bad: kbad } = await watchedPage(kctx, 'api-key', true);
  const kr = await kp.goto(`${KEY_URL}/`);
  ok(kr.status() === 200, `with --api-key, GET / still answers the page (${kr.status()})`);
  ok(await until(10, () => kp.locator('#key-form').isVisible()), 'the page asks for the API key');
  ok(await row(kp, 'alpha').count() === 0, 'no model shown without the key');
  await kp.fill('#key-input', 'wrong-key');
  await kp.click('#key-form button[type="submit"]');
  ok(await until(10, async () => /refused/.test(await kp.locator('#key-why').textContent()) &&
    (await kp.locator('#key-form').isVisible())), 'a wrong key: the page says it was refused');
  await kp.fill('#key-input', API_KEY);
  await kp.click('#key-form button[type="submit"]');
  ok(await until(10, shows(kp, 'alpha', 'unloaded')), 'the right key: the models show');
  ok(await kp.locator('#key-form').isHidden(), 'the key form is gone');
  await row(kp, 'alpha').locator('button').click();
  ok(await until(30, async () => (await daemonState(KEY_URL, 'alpha', API_KEY)) === 'ready'),
    `its Load button loads alpha with the key (state ${await daemonState(KEY_URL, 'alpha', API_KEY)})`);
  ok(await until(5, shows(kp, 'alpha', 'loaded')), 'the page shows alpha loaded');
  await kp.reload();
  ok(await until(10, shows(kp, 'alpha', 'loaded')) && (await kp.locator('#key-form').isHidden()),
    'after a reload the tab still has the key (sessionStorage)');
  const kcsp = await kp.evaluate(() => window.__csp);
  ok(kcsp.length === 0, `no CSP violation (api-key)${kcsp.length ? ': ' + kcsp.join('; ') : ''}`);
  ok(kbad.length === 0, 'no failed request or script error but the 401s before the key (api-key)');
  kbad.forEach(note);
  await kctx.close();
} catch (e) {
  ok(false, `the browser run failed: ${e && e.message ? e.message.split('\n')[0] : e}`);
  note(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
  writeFileSync(env('TAP_COUNT_FILE', '/dev/null'), `${tapN}\n`);
}
