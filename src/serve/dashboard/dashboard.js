// The dashboard of `llmem serve` (see index.html): polls GET /llmem/status
// every second and draws the pools as stacked bars (each model's buffers
// from the backend's log: weights, KV cache, compute, output; the rest of
// its footprint as "other") and the models as a table with load and unload
// buttons (POST /models/load, /models/unload). Same-origin fetches only;
// with --api-key the key typed in the form is kept in sessionStorage and
// sent as Authorization: Bearer. The DOM is built with textContent only
// (model names and reasons come from files and backends).
'use strict';

(function () {
  const POLL_MS = 1000;
  const KEY = 'llmem-api-key';
  const KINDS = [
    ['weights', 'weights'], ['kv', 'KV cache'], ['compute', 'compute'],
    ['output', 'output'], ['other', 'other'],
  ];
  const STATE_LABEL = {
    ready: 'loaded', loading: 'loading', unloading: 'unloading',
    unloaded: 'unloaded', failed: 'failed',
  };

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  let last = null;        // the last /llmem/status
  let skewMs = 0;         // server clock - this clock, when far apart
  let inFlight = false;   // a status fetch is running
  let again = false;      // poll again as soon as it ends
  let timer = 0;
  const pending = new Map(); // model -> 'load' | 'unload' (our request open)
  const rows = new Map();    // model -> { tr, cells }

  // ---- formatting

  function bytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '—';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + u[i];
  }

  function duration(ms) {
    let s = Math.max(0, Math.round(ms / 1000));
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const ss = String(s).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }

  // "2026-01-02T03:04:05.123456789Z" -> ms (Date.parse wants at most ms)
  function parseTime(t) {
    if (typeof t !== 'string') return NaN;
    return Date.parse(t.replace(/(\.\d{3})\d+/, '$1'));
  }

  // The pool a buffer's device is in: as backend_device_pool() in
  // backend.c (0 = RAM, 1 + i = GPU i), -1 when unknown.
  function devicePool(d) {
    if (typeof d !== 'string') return -1;
    if (d.startsWith('CPU') || d === 'AMX' || d.endsWith('_Host')) return 0;
    if (d === 'OpenCL') return 1;
    const m = /^(CUDA|ROCm|MUSA|Vulkan|SYCL|MTL|Metal|CANN)(\d+)(_.*)?$/.exec(d);
    return m ? Number(m[2]) + 1 : -1;
  }

  function kindOf(k) {
    switch (k) {
      case 'model': return 'weights';
      case 'KV': case 'RS': return 'kv';
      case 'compute': return 'compute';
      case 'output': return 'output';
      default: return 'other';
    }
  }

  // ---- requests

  function headers(json, key) {
    const h = {};
    const k = key === undefined ? sessionStorage.getItem(KEY) : key;
    if (k) h.Authorization = 'Bearer ' + k;
    if (json) h['Content-Type'] = 'application/json';
    return h;
  }

  function showMessage(text) {
    const m = $('message');
    m.textContent = text || '';
    m.hidden = !text;
  }

  function showKeyForm(show, why) {
    $('key-form').hidden = !show;
    if (why) $('key-why').textContent = why;
    if (show) $('key-input').focus();
  }

  function setConn(text, live) {
    const c = $('conn');
    c.textContent = text;
    c.classList.toggle('live', !!live);
    c.classList.toggle('down', !live);
  }

  async function errorText(r) {
    try {
      const j = await r.json();
      const e = j && j.error;
      if (typeof e === 'string') return e;
      if (e && typeof e.message === 'string') return e.message;
    } catch (_) { /* not JSON */ }
    return 'HTTP ' + r.status;
  }

  async function poll() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    clearTimeout(timer);
    try {
      const used = sessionStorage.getItem(KEY);
      const r = await fetch('/llmem/status', { headers: headers(false, used), cache: 'no-store' });
      if (r.status === 401) {
        // a key typed while this request was out: ask again with it
        if (sessionStorage.getItem(KEY) !== used) { again = true; return; }
        const had = !!used;
        setConn('needs the API key', false);
        if ($('key-form').hidden || had)
          showKeyForm(true, had ? 'That API key was refused; type the one llmem serve was started with.'
            : 'This llmem serve needs its API key (--api-key).');
        if (had) sessionStorage.removeItem(KEY);
        return;
      }
      if (!r.ok) throw new Error(await errorText(r));
      const d = Date.parse(r.headers.get('Date') || '');
      const off = isNaN(d) ? 0 : d - Date.now();
      skewMs = Math.abs(off) > 2000 ? off : 0;
      last = await r.json();
      render();
      setConn('live · ' + new Date().toLocaleTimeString(), true);
    } catch (e) {
      setConn('no answer from llmem serve: ' + (e && e.message ? e.message : e), false);
    } finally {
      inFlight = false;
      timer = setTimeout(poll, again ? 0 : POLL_MS);
      again = false;
    }
  }

  async function act(name, what) {
    if (pending.has(name)) return;
    pending.set(name, what);
    showMessage('');
    if (last) render();
    try {
      const r = await fetch(what === 'load' ? '/models/load' : '/models/unload', {
        method: 'POST',
        headers: headers(true),
        body: JSON.stringify({ model: name }),
        cache: 'no-store',
      });
      if (r.status === 401) showKeyForm(true, 'This llmem serve needs its API key (--api-key).');
      else if (!r.ok) showMessage(`${what} ${name}: ${await errorText(r)}`);
    } catch (e) {
      showMessage(`${what} ${name}: ${e && e.message ? e.message : e}`);
    } finally {
      pending.delete(name);
      poll();
    }
  }

  // ---- drawing

  // The states in which a model holds memory (an unloaded model's
  // footprint is the last one it had).
  const holds = (m) => m.state === 'loading' || m.state === 'ready' || m.state === 'unloading';

  // Per pool: [{ model, total, parts: { weights, kv, compute, output, other } }]
  function poolShares(st, p) {
    const out = [];
    for (const m of st.models || []) {
      if (!holds(m)) continue;
      const fp = Array.isArray(m.footprint) ? m.footprint[p] || 0 : 0;
      const parts = { weights: 0, kv: 0, compute: 0, output: 0, other: 0 };
      let sum = 0;
      for (const b of m.buffers || []) {
        if (devicePool(b.device) !== p || typeof b.bytes !== 'number') continue;
        parts[kindOf(b.kind)] += b.bytes;
        sum += b.bytes;
      }
      if (!fp && !sum) continue;
      parts.other += Math.max(0, fp - sum);
      out.push({ model: m.name, total: Math.max(fp, sum), parts });
    }
    return out;
  }

  function renderPools(st) {
    const box = $('pools');
    box.replaceChildren();
    (st.pools || []).forEach((pool, p) => {
      const shares = poolShares(st, p);
      const held = shares.reduce((a, s) => a + s.total, 0);
      const scale = Math.max(pool.budget || 0, pool.used || 0, held, 1);
      const div = el('div', 'pool');
      div.dataset.pool = pool.name;
      const head = el('div', 'pool-head');
      head.append(el('span', 'name', pool.name));
      const pct = pool.budget ? ` (${Math.round((100 * (pool.used || 0)) / pool.budget)}%)` : '';
      head.append(el('span', 'nums', `${bytes(pool.used || 0)} used of ${bytes(pool.budget || 0)} budget${pct}`));
      div.append(head);
      const bar = el('div', 'bar');
      bar.setAttribute('role', 'img');
      bar.setAttribute('aria-label', `${pool.name}: ${bytes(pool.used || 0)} of ${bytes(pool.budget || 0)}`);
      const list = el('ul', 'pool-models');
      for (const s of shares) {
        let first = true;
        const words = [];
        for (const [k, label] of KINDS) {
          const v = s.parts[k];
          if (!v) continue;
          const seg = el('div', `seg k-${k}${first ? ' first' : ''}`);
          seg.dataset.model = s.model;
          seg.dataset.kind = k;
          seg.style.width = `${(100 * v) / scale}%`;
          seg.title = `${s.model}: ${label} ${bytes(v)}`;
          bar.append(seg);
          words.push(`${label} ${bytes(v)}`);
          first = false;
        }
        const li = el('li');
        li.append(el('b', '', s.model), ` ${bytes(s.total)}: ${words.join(', ')}`);
        list.append(li);
      }
      div.append(bar);
      if (shares.length) div.append(list);
      box.append(div);
    });
  }

  function renderPressure(st) {
    const pr = st.pressure || {};
    const cg = st.cgroup || {};
    const bits = [];
    if (typeof pr.available === 'number') bits.push(`available ${bytes(pr.available)}`);
    if (typeof pr.headroom === 'number') bits.push(`headroom ${bytes(pr.headroom)}`);
    if (pr.psi && typeof pr.psi.some_avg10 === 'number')
      bits.push(`PSI some ${pr.psi.some_avg10.toFixed(2)}% full ${(pr.psi.full_avg10 || 0).toFixed(2)}% (10 s)`);
    bits.push(pr.under_pressure ? 'under pressure' + (pr.reason ? `: ${pr.reason}` : '') : 'no pressure');
    if (cg.delegated) bits.push(`models in memory cgroups (v${cg.version})`);
    const e = $('pressure');
    e.textContent = bits.join(' · ');
    e.classList.toggle('hot', !!pr.under_pressure);
  }

  function keepAlive(m) {
    if (m.state !== 'ready') return '—';
    if (m.busy || m.queued) return 'busy';
    if (m.expires_at === null || m.expires_at === undefined) return 'forever';
    const t = parseTime(m.expires_at);
    return isNaN(t) ? '—' : duration(t - (Date.now() + skewMs));
  }

  function makeRow(name) {
    const tr = el('tr');
    tr.dataset.model = name;
    const c = {};
    for (const k of ['name', 'state', 'size', 'plan', 'keep', 'busy', 'queued', 'served', 'act']) {
      c[k] = el('td', k);
      tr.append(c[k]);
    }
    for (const k of ['size', 'busy', 'queued', 'served']) c[k].classList.add('num');
    c.name.textContent = name;
    c.badge = el('span', 'badge');
    c.why = el('div', 'why');
    c.state.append(c.badge, c.why);
    c.button = el('button');
    c.button.type = 'button';
    c.button.addEventListener('click', () => {
      const what = c.button.dataset.action;
      if (what) act(name, what);
    });
    c.act.append(c.button);
    return { tr, c };
  }

  function renderModels(st) {
    const body = document.querySelector('#models tbody');
    const models = st.models || [];
    const seen = new Set();
    models.forEach((m, i) => {
      let r = rows.get(m.name);
      if (!r) {
        r = makeRow(m.name);
        rows.set(m.name, r);
      }
      seen.add(m.name);
      if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
      const c = r.c;
      r.tr.dataset.state = m.state;
      c.badge.textContent = STATE_LABEL[m.state] || m.state;
      c.badge.className = 'badge s-' + m.state;
      c.badge.title = m.state;
      c.why.textContent = m.reason || '';
      const size = holds(m) && Array.isArray(m.footprint) ? m.footprint.reduce((a, v) => a + (v || 0), 0) : 0;
      c.size.textContent = size ? bytes(size) : '—';
      c.plan.textContent = m.plan || '';
      c.keep.textContent = keepAlive(m);
      c.busy.textContent = String(m.busy || 0);
      c.queued.textContent = String(m.queued || 0);
      c.served.textContent = String(m.requests || 0);
      const p = pending.get(m.name);
      let action, label;
      if (p) {
        action = '';
        label = p === 'load' ? 'Loading…' : 'Unloading…';
      } else if (m.state === 'unloaded' || m.state === 'failed') {
        action = 'load';
        label = 'Load';
      } else {
        action = m.state === 'unloading' ? '' : 'unload';
        label = 'Unload';
      }
      c.button.dataset.action = action;
      c.button.className = action || (p || 'unload');
      c.button.textContent = label;
      c.button.disabled = !action;
      c.button.setAttribute('aria-label', `${label.replace('…', '')} ${m.name}`);
    });
    for (const [name, r] of rows) {
      if (!seen.has(name)) {
        r.tr.remove();
        rows.delete(name);
      }
    }
    $('no-models').hidden = models.length > 0;
  }

  function render() {
    const st = last;
    $('version').textContent = st.version || '';
    const models = st.models || [];
    const loaded = models.filter((m) => m.state === 'ready').length;
    $('summary').textContent = [
      `up ${duration(st.uptime_ms || 0)}`,
      `${models.length} model${models.length === 1 ? '' : 's'}, ${loaded} loaded`,
      `${st.requests_open || 0} request${st.requests_open === 1 ? '' : 's'} open`,
      `${st.rejected || 0} rejected`,
    ].join(' · ');
    renderPools(st);
    renderPressure(st);
    renderModels(st);
  }

  // ---- start

  function start() {
    $('key-toggle').addEventListener('click', () => showKeyForm($('key-form').hidden));
    $('key-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('key-input').value.trim();
      if (v) sessionStorage.setItem(KEY, v);
      else sessionStorage.removeItem(KEY);
      $('key-input').value = '';
      showKeyForm(false);
      poll();
    });
    $('key-forget').addEventListener('click', () => {
      sessionStorage.removeItem(KEY);
      $('key-input').value = '';
      poll();
    });
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
