// serve-load.mjs: the load half of t-serve-load.sh. CLIENTS concurrent
// clients (the real npm clients: openai's chat, streamed and not, and
// ollama's chat, streamed and not), each sending requests one after another
// to a random model for LOAD_SECONDS, while /llmem/status is polled every
// POLL_MS. Prints TAP lines numbered from TAP_START + 1 and writes the last
// number to TAP_COUNT_FILE.
//
// Checks: every request answered (a success or an explicit HTTP error,
// counted by status; no timeout, no dropped connection); no request
// aborted by its backend going away; at every poll at most MAX_HELD models
// loading, ready or unloading, and the sum of their footprints within the
// RAM budget; no model unloading or unloaded while status counts requests
// in flight on it, nor while a client still reads a stream that model had
// started (and that stream then failing); each model's measured footprint
// within 2% of its prediction.
//
// Environment: URL (the daemon), MODELS (comma-separated names), MAX_HELD,
// LOAD_SECONDS (120), CLIENTS (100), MAX_TOKENS (8), POLL_MS (200),
// REQ_TIMEOUT_S (300: a request unanswered by then is a failure),
// DRAIN_S (300: how long the requests open at the end may take),
// LLMEM_CLIENTS (the directory whose node_modules holds openai and
// ollama), TAP_START, TAP_COUNT_FILE, SEED.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const URL_ = env('URL');
const MODELS = env('MODELS', '').split(',').filter(Boolean);
const MAX_HELD = Number(env('MAX_HELD', '2'));
const LOAD_S = Number(env('LOAD_SECONDS', '120'));
const CLIENTS = Number(env('CLIENTS', '100'));
const MAX_TOKENS = Number(env('MAX_TOKENS', '8'));
const POLL_MS = Number(env('POLL_MS', '200'));
const REQ_TIMEOUT_S = Number(env('REQ_TIMEOUT_S', '300'));
const DRAIN_S = Number(env('DRAIN_S', '300'));
const req_ = createRequire(env('LLMEM_CLIENTS') + '/package.json');
const { OpenAI } = req_('openai');
const { Ollama } = req_('ollama');

let tapN = Number(env('TAP_START', '0'));
const ok = (c, msg) => {
  tapN++;
  console.log(`${c ? 'ok' : 'not ok'} ${tapN} - ${msg}`);
};
const note = (msg) => console.log(`# ${msg}`);

// a small deterministic PRNG (mulberry32), so a failing run can be replayed
let seed = Number(env('SEED', String(Date.now() % 1000000)));
note(`seed ${seed} (SEED=${seed} replays the model and API choices)`);
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const openai = new OpenAI({
  baseURL: `${URL_}/v1`,
  apiKey: 'none',
  maxRetries: 0, // a retry would hide an error
  timeout: REQ_TIMEOUT_S * 1000,
});
// ollama-js has no timeout: its fetch gets one
const withTimeout = (sig) => {
  const t = AbortSignal.timeout(REQ_TIMEOUT_S * 1000);
  return sig && AbortSignal.any ? AbortSignal.any([sig, t]) : t;
};
const ollama = new Ollama({
  host: URL_,
  fetch: (u, o = {}) => fetch(u, { ...o, signal: withTimeout(o.signal) }),
});

const KINDS = ['openai-chat', 'openai-chat-stream', 'ollama-chat', 'ollama-chat-stream'];
const open = new Map(); // id -> request record
const done = [];
let nextId = 0;
const t0 = Date.now();
const now = () => Date.now() - t0;

function classify(e) {
  // an explicit HTTP error: openai's APIError (.status), ollama's
  // ResponseError (.status_code); an error event inside a stream has the
  // backend's code in the message or none
  const st = e && (e.status ?? e.status_code);
  if (typeof st === 'number' && st > 0) return { outcome: 'http', status: st, msg: String(e.message).slice(0, 200) };
  const m = String((e && e.message) || e);
  if (e && (e.name === 'APIConnectionTimeoutError' || e.name === 'TimeoutError' || /timed? ?out/i.test(m)))
    return { outcome: 'timeout', msg: m.slice(0, 200) };
  if (e && (e.name === 'APIConnectionError' || e.name === 'TypeError' || /fetch failed|ECONNRESET|socket|terminated|aborted/i.test(m)))
    return { outcome: 'network', msg: m.slice(0, 200) };
  return { outcome: 'stream-error', msg: m.slice(0, 200) };
}

async function one(model, kind) {
  const r = { id: ++nextId, model, kind, start: now(), first: null, end: null, outcome: null, status: 0, msg: '', suspect: false };
  open.set(r.id, r);
  const messages = [{ role: 'user', content: `Say something about the number ${r.id}.` }];
  try {
    if (kind === 'openai-chat') {
      const c = await openai.chat.completions.create({ model, messages, max_tokens: MAX_TOKENS });
      if (!c.choices || !c.choices.length) throw new Error('no choices');
    } else if (kind === 'openai-chat-stream') {
      const s = await openai.chat.completions.create({ model, messages, max_tokens: MAX_TOKENS, stream: true });
      let n = 0;
      for await (const ch of s) {
        if (r.first === null) r.first = now();
        if (ch.choices) n++;
      }
      if (!n) throw new Error('an empty stream');
    } else if (kind === 'ollama-chat') {
      const c = await ollama.chat({ model, messages, stream: false, options: { num_predict: MAX_TOKENS } });
      if (!c.message) throw new Error('no message');
      if (!c.done) throw new Error('not done');
    } else {
      const s = await ollama.chat({ model, messages, stream: true, options: { num_predict: MAX_TOKENS } });
      let last = null;
      for await (const ch of s) {
        if (r.first === null) r.first = now();
        last = ch;
      }
      if (!last || !last.done) throw new Error('the stream ended without done');
    }
    r.outcome = 'ok';
  } catch (e) {
    Object.assign(r, classify(e));
  }
  r.end = now();
  open.delete(r.id);
  done.push(r);
}

async function client(endAt) {
  while (now() < endAt) {
    const model = MODELS[Math.floor(rand() * MODELS.length)];
    const kind = KINDS[Math.floor(rand() * KINDS.length)];
    await one(model, kind);
  }
}

// ---- the status poller ----
const HOLDING = new Set(['loading', 'ready', 'unloading']);
const poll = {
  n: 0, failed: 0, maxMs: 0, maxHeld: 0, maxUsed: 0, budget: 0,
  heldViolations: [], budgetViolations: [], busyViolations: [],
  foot: {}, // model -> { predicted, measured }
  states: {}, // model -> last state
  transitions: 0,
};
let polling = false;
async function pollOnce() {
  if (polling) return;
  polling = true;
  const sent = now();
  try {
    const res = await fetch(`${URL_}/llmem/status`, { signal: AbortSignal.timeout(5000) });
    const st = await res.json();
    const got = now();
    poll.n++;
    poll.maxMs = Math.max(poll.maxMs, got - sent);
    const budget = st.pools && st.pools[0] ? st.pools[0].budget : 0;
    poll.budget = budget;
    let held = 0, used = 0;
    const heldNames = [];
    for (const m of st.models) {
      if (HOLDING.has(m.state)) {
        held++;
        heldNames.push(`${m.name}:${m.state}`);
        used += (m.footprint || []).reduce((a, b) => a + b, 0);
      }
      if ((m.state === 'unloading' || m.state === 'unloaded' || m.state === 'failed') && m.busy > 0)
        poll.busyViolations.push(`${(sent / 1000).toFixed(1)} s: ${m.name} ${m.state} with busy ${m.busy}`);
      // the first load's (later ones may be planned from the footprint
      // the daemon remembered, not from the estimate)
      if (m.predicted_total !== undefined) {
        const f = (poll.foot[m.name] ||= {});
        if (f.measured === undefined) {
          f.predicted = m.predicted_total;
          if (m.measured_total !== undefined) f.measured = m.measured_total;
        }
      }
      if (poll.states[m.name] !== undefined && poll.states[m.name] !== m.state) poll.transitions++;
      poll.states[m.name] = m.state;
      // streams this model had started, still open: it must not be going
      if (m.state === 'unloading' || m.state === 'unloaded') {
        for (const r of open.values())
          if (r.model === m.name && r.first !== null && r.first < sent) r.suspect = true;
      }
    }
    poll.maxHeld = Math.max(poll.maxHeld, held);
    poll.maxUsed = Math.max(poll.maxUsed, used);
    if (held > MAX_HELD) poll.heldViolations.push(`${(sent / 1000).toFixed(1)} s: ${heldNames.join(' ')}`);
    if (budget && used > budget) poll.budgetViolations.push(`${(sent / 1000).toFixed(1)} s: ${used} > ${budget} (${heldNames.join(' ')})`);
  } catch (e) {
    poll.failed++;
  }
  polling = false;
}

// ---- run ----
const endAt = LOAD_S * 1000;
const timer = setInterval(pollOnce, POLL_MS);
const progress = setInterval(() => {
  note(`${(now() / 1000).toFixed(0)} s: ${done.length} answered, ${open.size} open, states ${JSON.stringify(poll.states)}`);
}, 15000);
const clients = [];
for (let i = 0; i < CLIENTS; i++) clients.push(client(endAt));
const all = Promise.all(clients);
const drained = await Promise.race([
  all.then(() => true),
  new Promise((res) => setTimeout(() => res(false), (LOAD_S + DRAIN_S) * 1000)),
]);
clearInterval(progress);
// let the last stops show in status
await pollOnce();
clearInterval(timer);

// ---- report ----
const total = done.length + open.size;
const by = {};
for (const r of done) {
  const k = r.outcome === 'http' ? `http ${r.status}` : r.outcome;
  by[k] = (by[k] || 0) + 1;
}
const lat = done.filter((r) => r.outcome === 'ok').map((r) => r.end - r.start).sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : 0);
note(`${total} requests in ${(now() / 1000).toFixed(1)} s: ${JSON.stringify(by)}, ${open.size} never answered`);
note(`latency of successes: p50 ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms, max ${lat.length ? lat[lat.length - 1] : 0} ms`);
for (const k of KINDS) {
  const rs = done.filter((r) => r.kind === k);
  note(`  ${k}: ${rs.length} requests, ${rs.filter((r) => r.outcome === 'ok').length} ok`);
}
note(`status: ${poll.n} polls (${poll.failed} failed, slowest ${poll.maxMs} ms), ${poll.transitions} state changes seen, at most ${poll.maxHeld} models held, at most ${poll.maxUsed} of ${poll.budget} bytes`);
const bad = done.filter((r) => r.outcome !== 'ok' && r.outcome !== 'http');
for (const r of bad.slice(0, 5)) note(`  unanswered: ${r.kind} ${r.model}: ${r.outcome}: ${r.msg}`);
const errs = done.filter((r) => r.outcome === 'http');
for (const r of errs.slice(0, 5)) note(`  error: ${r.kind} ${r.model}: ${r.status}: ${r.msg}`);

ok(drained && open.size === 0 && bad.length === 0,
  `every request answered: ${total - bad.length - open.size} of ${total} (${done.filter((r) => r.outcome === 'ok').length} ok, ${errs.length} explicit errors)`);
const aborted = errs.filter((r) => r.status !== 503);
ok(aborted.length === 0, `no request failed other than by the queue bound (503): ${aborted.length}`);
for (const m of MODELS) {
  const n = done.filter((r) => r.model === m && r.outcome === 'ok').length;
  ok(n > 0, `${m}: ${n} requests served`);
}
ok(poll.n >= (LOAD_S * 1000) / POLL_MS / 4 && poll.failed === 0,
  `status answered every poll under load (${poll.n} polls, ${poll.failed} failed, slowest ${poll.maxMs} ms)`);
ok(poll.heldViolations.length === 0, `never more than ${MAX_HELD} models loading, ready or unloading (at most ${poll.maxHeld})` +
  (poll.heldViolations.length ? `: ${poll.heldViolations.slice(0, 3).join('; ')}` : ''));
ok(poll.budgetViolations.length === 0, `the footprints held always within the budget (at most ${poll.maxUsed} of ${poll.budget})` +
  (poll.budgetViolations.length ? `: ${poll.budgetViolations.slice(0, 3).join('; ')}` : ''));
const suspects = done.filter((r) => r.suspect);
const killed = suspects.filter((r) => r.outcome !== 'ok');
ok(poll.busyViolations.length === 0 && killed.length === 0,
  `no model unloaded while busy (${poll.busyViolations.length} polls with an unloading model busy, ${killed.length} streams cut)` +
  (poll.busyViolations.length ? `: ${poll.busyViolations.slice(0, 3).join('; ')}` : '') +
  (killed.length ? `: ${killed.slice(0, 3).map((r) => `${r.kind} ${r.model} ${r.outcome} ${r.msg}`).join('; ')}` : ''));
if (suspects.length) note(`${suspects.length} streams were still open at a poll that showed their model unloading, and ended well (the poll raced their end)`);
for (const m of MODELS) {
  const f = poll.foot[m];
  if (!f || f.measured === undefined) {
    ok(false, `${m}: no measured footprint seen (never loaded?)`);
    continue;
  }
  const d = (100 * (f.measured - f.predicted)) / f.predicted;
  ok(Math.abs(d) <= 2, `${m}: measured footprint ${f.measured} within 2% of the predicted ${f.predicted} (${d.toFixed(3)}%)`);
}
writeFileSync(env('TAP_COUNT_FILE', '/dev/null'), `${tapN}\n`);
process.exit(0);
