// Throughline dashboard: plain JavaScript, no build step. Every request
// carries the tenant's read token as a Bearer token; the numbers come from
// the console's report API, the live leads from a server-sent event stream
// read with fetch (EventSource cannot send the token).
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const state = { token: '', tenant: '', info: null, timers: [], stream: null, leads: new Map() };

// ---- small helpers ---------------------------------------------------------

function el(tag, attrs, ...children) {
  const svg = ['svg', 'g', 'rect', 'line', 'text', 'title', 'path', 'circle'].includes(tag);
  const e = svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.setAttribute('class', v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// money and numbers in the page's locale; null (no divisor) is a dash
function fmtMoney(v) {
  if (v === null || v === undefined) return '—';
  const cur = (state.info && state.info.currency) || 'RUB';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur, maximumFractionDigits: 2 }).format(v);
  } catch (e) { return v.toFixed(2) + ' ' + cur; }
}
function fmtNum(v, digits) {
  if (v === null || v === undefined) return '—';
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits }).format(v);
}
function fmtPct(v) { return v === null || v === undefined ? '—' : fmtNum(v * 100, 1) + '%'; }
function zone() { return (state.info && state.info.timezone) || 'UTC'; }
function fmtTime(ms, withDate) {
  const o = { timeZone: zone(), hour: '2-digit', minute: '2-digit', second: withDate ? undefined : '2-digit' };
  if (withDate) { o.month = 'short'; o.day = 'numeric'; }
  return new Intl.DateTimeFormat(undefined, o).format(new Date(ms));
}

// one colour per channel for the whole page: the table, both charts and the
// live view; channels get theirs in the order the first report lists them
const palette = ['#2563eb', '#d97706', '#16a34a', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#92400e', '#4b5563'];
const colours = new Map();
function colour(name) {
  if (!colours.has(name)) colours.set(name, palette[colours.size % palette.length]);
  return colours.get(name);
}

function branchName(id) {
  const a = state.info && state.info.accounts.find((x) => x.id === id);
  return a ? a.name || a.id : id;
}

// ---- API ---------------------------------------------------------------------

class AuthError extends Error {}

async function api(path, params) {
  const q = new URLSearchParams(params || {});
  if (state.tenant) q.set('tenant', state.tenant);
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const res = await fetch(path + '?' + q.toString(), { headers, cache: 'no-store' });
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  if (res.status === 401) throw new AuthError((body && body.error) || 'unauthorized');
  if (!res.ok) throw new Error((body && body.error) || path + ': HTTP ' + res.status);
  return body;
}

// ---- pickers (kept in the URL hash, so a view can be shared) ------------------

function addDays(day, n) {
  const d = new Date(day + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const today = state.info.today;
  return {
    from: h.get('from') || addDays(today, -6),
    to: h.get('to') || today,
    model: h.get('model') || state.info.default_model,
    account: h.get('account') || '',
  };
}

function writeHash(p) {
  const h = new URLSearchParams();
  for (const k of ['from', 'to', 'model', 'account']) if (p[k]) h.set(k, p[k]);
  history.replaceState(null, '', '#' + h.toString());
}

function pickers() {
  return { from: $('from').value, to: $('to').value, model: $('model').value, account: $('account').value };
}

function setupPickers() {
  const model = $('model');
  model.replaceChildren(...state.info.models.map((m) => el('option', { value: m, text: m.replaceAll('_', ' ') })));
  const acc = $('account');
  acc.replaceChildren(el('option', { value: '', text: 'All branches' }),
    ...state.info.accounts.map((a) => el('option', { value: a.id, text: a.name || a.id })));
  const p = readHash();
  $('from').value = p.from; $('to').value = p.to; model.value = p.model; acc.value = p.account;
  const changed = () => {
    writeHash(pickers());
    refreshReports();
    refreshSide();
    loadRecentLeads().catch(showError);
    restartStream();
  };
  for (const id of ['from', 'to', 'model', 'account']) $(id).onchange = changed;
  for (const b of document.querySelectorAll('.quick button')) {
    b.onclick = () => {
      $('to').value = state.info.today;
      $('from').value = addDays(state.info.today, 1 - Number(b.dataset.days));
      changed();
    };
  }
}

// ---- channels table and cost vs revenue -----------------------------------------

// leads by kind (call, form, chat, CRM) and the cost of a lead of each kind:
// the channel's cost over its leads of that kind; units sold (the won deals'
// quantities) and the cost of one unit (docs/analytics.md)
const columns = [
  ['cost', fmtMoney], ['clicks', (v) => fmtNum(v, 0)], ['sessions', (v) => fmtNum(v)], ['leads', (v) => fmtNum(v)],
  ['leads_call', (v) => fmtNum(v)], ['leads_form', (v) => fmtNum(v)], ['leads_chat', (v) => fmtNum(v)], ['leads_crm', (v) => fmtNum(v)],
  ['target_leads', (v) => fmtNum(v)], ['won_deals', (v) => fmtNum(v)], ['revenue', fmtMoney], ['units', (v) => fmtNum(v)],
  ['cpl', fmtMoney], ['cpl_call', fmtMoney], ['cpl_form', fmtMoney], ['cpl_chat', fmtMoney], ['cpl_crm', fmtMoney],
  ['cpa', fmtMoney], ['cost_per_unit', fmtMoney], ['roi', fmtPct], ['romi', fmtPct],
];

function reportRow(row, head) {
  const tr = el('tr', { 'data-channel': head === null ? null : row.channel });
  tr.append(el(head === null ? 'th' : 'td', { class: 'dim' },
    head === null ? 'Total' : el('span', { class: 'swatch', 'data-c': row.channel }), head === null ? null : ' ' + row.channel));
  for (const [name, fmt] of columns) {
    const v = row[name];
    tr.append(el('td', { 'data-col': name, 'data-v': v === null || v === undefined ? '' : String(v), class: 'num' }, fmt(v)));
  }
  return tr;
}

function paintSwatches(root) {
  for (const s of root.querySelectorAll('.swatch')) s.style.background = colour(s.dataset.c);
}

function renderChannels(rep) {
  const body = $('channels').tBodies[0];
  body.replaceChildren(...rep.rows.map((r) => reportRow(r, true)));
  if (rep.rows.length === 0) body.append(el('tr', {}, el('td', { colspan: columns.length + 1, class: 'muted', text: 'No data in this period.' })));
  $('channels').tFoot.replaceChildren(reportRow(rep.total, null));
  paintSwatches($('channels'));
  $('channels-caption').textContent = rep.from + ' – ' + rep.to + ' · ' + rep.model.replaceAll('_', ' ') +
    (rep.account ? ' · ' + branchName(rep.account) : '') + ' · ' + rep.currency;
  renderCostChart(rep.rows);
}

// horizontal bars: cost and revenue of each channel on one scale
function renderCostChart(rows) {
  const box = $('cost-chart');
  const data = rows.filter((r) => r.cost > 0 || r.revenue > 0).sort((a, b) => (b.revenue + b.cost) - (a.revenue + a.cost));
  if (data.length === 0) { box.replaceChildren(el('p', { class: 'muted', text: 'No cost or revenue in this period.' })); return; }
  const W = 560, left = 120, right = 90, bar = 11, gap = 10, top = 24;
  const H = top + data.length * (2 * bar + gap) + 4;
  const maxV = Math.max(...data.map((r) => Math.max(r.cost, r.revenue)), 1);
  const x = (v) => (v / maxV) * (W - left - right);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Cost and revenue per channel' });
  svg.append(el('rect', { x: left, y: 4, width: 10, height: 10, fill: '#f59e0b' }), el('text', { x: left + 14, y: 13, class: 'legend', text: 'cost' }),
    el('rect', { x: left + 60, y: 4, width: 10, height: 10, fill: '#16a34a' }), el('text', { x: left + 74, y: 13, class: 'legend', text: 'revenue' }));
  data.forEach((r, i) => {
    const y = top + i * (2 * bar + gap);
    svg.append(el('text', { x: left - 8, y: y + bar + 4, 'text-anchor': 'end', class: 'label', text: r.channel }));
    for (const [k, fill, dy] of [['cost', '#f59e0b', 0], ['revenue', '#16a34a', bar]]) {
      const g = el('g', {}, el('title', { text: `${r.channel} ${k}: ${fmtMoney(r[k])}` }),
        el('rect', { x: left, y: y + dy, width: Math.max(x(r[k]), r[k] > 0 ? 1 : 0), height: bar - 1, fill, 'data-k': k }),
        r[k] > 0 ? el('text', { x: left + x(r[k]) + 4, y: y + dy + bar - 2, class: 'value', text: fmtMoney(r[k]) }) : null);
      svg.append(g);
    }
  });
  box.replaceChildren(svg);
}

// ---- data-driven attribution (Markov) ---------------------------------------------

// Every journey of the period, not one lead's touches: the share of the
// conversions each channel's removal would lose (GET /v1/reports/markov).
function renderMarkov(rep) {
  const body = $('markov').tBodies[0];
  body.replaceChildren(...rep.rows.map((r) => el('tr', { 'data-channel': r.channel },
    el('td', { class: 'dim' }, el('span', { class: 'swatch', 'data-c': r.channel }), ' ' + r.channel),
    el('td', { class: 'num', 'data-col': 'share', 'data-v': String(r.share) }, fmtPct(r.share)),
    el('td', { class: 'num', 'data-col': 'conversions', 'data-v': String(r.conversions) }, fmtNum(r.conversions)),
    el('td', { class: 'num', 'data-col': 'revenue_minor', 'data-v': String(r.revenue_minor) }, fmtMoney(r.revenue_minor / 100)))));
  if (rep.rows.length === 0) body.append(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: 'No leads in this period.' })));
  paintSwatches($('markov'));
  $('markov-caption').textContent = fmtNum(rep.paths, 0) + ' journeys · ' + fmtNum(rep.converting_paths, 0) + ' with a lead';
}

// ---- lead flow over time ----------------------------------------------------------

// stacked bars of leads per channel per hour (per day for longer periods)
function renderFlow(flow, from, to) {
  const box = $('flow-chart');
  const days = (Date.parse(to) - Date.parse(from)) / 864e5;
  const byDay = days > 3;
  const fmtKey = new Intl.DateTimeFormat('en-CA', { timeZone: zone(), year: 'numeric', month: '2-digit', day: '2-digit', hour: byDay ? undefined : '2-digit', hourCycle: 'h23' });
  const buckets = new Map();
  const channels = new Set();
  for (const p of flow.rows) {
    const k = fmtKey.format(new Date(p.hour));
    channels.add(p.channel);
    if (!buckets.has(k)) buckets.set(k, new Map());
    const b = buckets.get(k);
    b.set(p.channel, (b.get(p.channel) || 0) + p.leads);
  }
  // every bucket of the window, empty ones too
  const keys = [];
  const step = byDay ? 864e5 : 36e5;
  for (let t = Date.parse(flow.from); t < Date.parse(flow.to); t += step) {
    const k = fmtKey.format(new Date(t));
    if (keys[keys.length - 1] !== k) keys.push(k);
  }
  const total = [...buckets.values()].reduce((s, b) => s + [...b.values()].reduce((a, c) => a + c, 0), 0);
  $('flow-caption').textContent = total + ' leads · per ' + (byDay ? 'day' : 'hour');
  if (keys.length === 0) { box.replaceChildren(); return; }
  const W = 560, H = 190, left = 30, bottom = 22, top = 8;
  const maxV = Math.max(1, ...keys.map((k) => [...(buckets.get(k) || new Map()).values()].reduce((a, c) => a + c, 0)));
  const bw = (W - left - 4) / keys.length;
  const y = (v) => (v / maxV) * (H - top - bottom);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Leads over time by channel' });
  for (const v of [0, Math.ceil(maxV / 2), maxV]) {
    svg.append(el('line', { x1: left, x2: W, y1: H - bottom - y(v), y2: H - bottom - y(v), class: 'grid' }),
      el('text', { x: left - 4, y: H - bottom - y(v) + 4, 'text-anchor': 'end', class: 'axis', text: String(v) }));
  }
  const chans = [...channels].sort();
  keys.forEach((k, i) => {
    let acc = 0;
    const b = buckets.get(k) || new Map();
    for (const c of chans) {
      const v = b.get(c) || 0;
      if (!v) continue;
      const h = y(v);
      svg.append(el('rect', { x: left + i * bw + 1, y: H - bottom - y(acc) - h, width: Math.max(bw - 2, 1), height: h, fill: colour(c) },
        el('title', { text: `${k}: ${c} ${v}` })));
      acc += v;
    }
    const every = Math.ceil(keys.length / 8);
    if (i % every === 0) svg.append(el('text', { x: left + i * bw + bw / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis', text: byDay ? k.slice(5, 10) : k.slice(-2) + 'h' }));
  });
  const legend = el('div', { class: 'legend-row' }, ...chans.map((c) => el('span', {}, el('span', { class: 'swatch', 'data-c': c }), ' ' + c)));
  box.replaceChildren(svg, legend);
  paintSwatches(box);
}

// ---- live leads ---------------------------------------------------------------------

function leadRow(l) {
  return el('tr', { 'data-lead': l.lead_id, 'data-account': l.account, 'data-ts': String(l.ts) },
    el('td', { text: fmtTime(l.ts, true) }),
    el('td', { class: 'branch', text: branchName(l.account) }),
    el('td', { class: 'channel' }, el('span', { class: 'swatch', 'data-c': l.channel }), ' ' + l.channel),
    el('td', { class: 'source', text: l.source + ' / ' + l.medium + (l.campaign ? ' · ' + l.campaign : '') }),
    el('td', { class: 'kind', text: l.kind + (l.contacts > 1 ? ' ×' + l.contacts : '') + (l.won_deals ? ' · won ' + fmtMoney(l.revenue) : '') }));
}

function showLead(l, fresh) {
  const body = $('live-leads').tBodies[0];
  const old = body.querySelector(`tr[data-lead="${CSS.escape(l.lead_id)}"]`);
  if (l.deleted) { if (old) old.remove(); return; }
  const row = leadRow(l);
  if (fresh || (old && old.dataset.live)) row.dataset.live = '1';
  paintSwatches(row);
  if (old) { old.replaceWith(row); } else {
    body.prepend(row);
    if (fresh) { row.classList.add('fresh'); setTimeout(() => row.classList.remove('fresh'), 4000); }
  }
  while (body.rows.length > 100) body.deleteRow(-1);
}

// the newest leads from ClickHouse, merged with those the stream brought
// meanwhile (the loader may not have written them yet)
async function loadRecentLeads() {
  const p = pickers();
  const res = await api('/v1/dashboard/leads/recent', { account: p.account, limit: 30 });
  const body = $('live-leads').tBodies[0];
  const loaded = new Set(res.leads.map((l) => l.lead_id));
  const live = [...body.rows].filter((r) => r.dataset.live && !loaded.has(r.dataset.lead) && (!p.account || r.dataset.account === p.account));
  const rows = [...live, ...res.leads.map(leadRow)].sort((a, b) => Number(b.dataset.ts) - Number(a.dataset.ts));
  body.replaceChildren(...rows);
  paintSwatches(body);
}

function setLive(s, text) {
  const b = $('live-status');
  b.dataset.state = s;
  b.textContent = 'live: ' + (text || s);
}

function restartStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
  if (!state.info || state.info.live === 'off') {
    setLive('off', 'off (no Kafka in this console)');
    $('live-caption').textContent = 'the live stream is off in this console; showing the newest leads';
    return;
  }
  const ctl = new AbortController();
  state.stream = ctl;
  runStream(ctl.signal);
}

// reads the stream with fetch (it carries the token), reconnecting after a
// failure or a drop; a reconnect reloads the newest leads to close any gap
async function runStream(signal) {
  let first = true;
  while (!signal.aborted) {
    try {
      if (!first) await loadRecentLeads();
      first = false;
      setLive('connecting');
      const q = new URLSearchParams({ tenant: state.tenant });
      const account = pickers().account;
      if (account) q.set('account', account);
      const res = await fetch('/v1/dashboard/leads/stream?' + q, {
        headers: { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' }, signal, cache: 'no-store',
      });
      if (res.status === 401) { logout('Your token is no longer accepted.'); return; }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r/g, '');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          onEvent(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    setLive('connecting', 'reconnecting');
    await sleep(3000);
  }
}

function onEvent(block) {
  let event = 'message', data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const [k, ...rest] = line.split(':');
    const v = rest.join(':').replace(/^ /, '');
    if (k === 'event') event = v;
    else if (k === 'data') data += v;
  }
  if (event === 'hello') {
    const h = JSON.parse(data);
    setLive(h.live === 'live' ? 'live' : 'connecting', h.live === 'live' ? 'on' : h.live);
    $('live-caption').textContent = 'new leads appear here as they arrive';
  } else if (event === 'lead') {
    showLead(JSON.parse(data), true);
  } else if (event === 'dropped') {
    setLive('connecting', 'catching up');
  }
}

// ---- alerts and dead letters ----------------------------------------------------------

function alertItem(a, resolved) {
  const when = resolved ? 'resolved ' + fmtTime(a.resolved_at, true) : 'since ' + fmtTime(a.fired_at, true);
  return el('li', { class: 'alert sev-' + (a.severity || 'warning') + (resolved ? ' resolved' : ''), 'data-rule': a.rule, 'data-id': a.id },
    el('strong', { text: a.title || a.rule }),
    el('span', { class: 'muted', text: ' · ' + (a.account ? branchName(a.account) : 'network') + ' · ' + when }),
    a.summary ? el('div', { class: 'summary', text: a.summary }) : null);
}

function renderAlerts(v) {
  const p = pickers();
  const mine = (a) => !p.account || !a.account || a.account === p.account;
  const active = (v.active || []).filter(mine), recent = (v.recent || []).filter(mine);
  $('alerts-active').replaceChildren(...active.map((a) => alertItem(a, false)));
  if (active.length === 0) $('alerts-active').append(el('li', { class: 'ok', text: 'No active alerts.' }));
  $('alerts-recent').replaceChildren(...recent.slice(0, 20).map((a) => alertItem(a, true)));
  if (recent.length === 0) $('alerts-recent').append(el('li', { class: 'muted', text: 'None.' }));
  const notes = { catching_up: 'The alerter is catching up with its inputs; the list may be incomplete.',
    replaying: 'A source is sending history; alerts wait until fresh events flow.',
    standby: 'This alerter is on standby; another instance is active.', unavailable: 'No alert source is connected to this console.' };
  $('alerts-state').textContent = notes[v.state] || '';
}

function renderDeadLetters(v) {
  const body = $('dead-letters').tBodies[0];
  body.replaceChildren(...v.sources.map((s) => el('tr', { 'data-source': s.source },
    el('td', { text: s.source }), el('td', { class: 'num', 'data-v': String(s.count), text: fmtNum(s.count, 0) }),
    el('td', { text: fmtTime(s.last, true) }), el('td', { class: 'reason', text: s.last_reason }))));
  if (v.sources.length === 0) body.append(el('tr', {}, el('td', { colspan: 4, class: 'ok', text: 'None in this period.' })));
}

// The "Connect your BI" panel: where ClickHouse's HTTP interface is and the
// user to connect as — this tenant's read-only user (its rows only), or the
// admin user under the admin token. The password shows only when asked.
function renderBI(v) {
  $('bi-url').textContent = v.url || '(not set: --console-clickhouse-url)';
  $('bi-database').textContent = v.database;
  $('bi-user').textContent = v.user || '(none)';
  $('bi-scope').textContent = v.scope === 'admin' ? 'admin: every tenant, may insert' : 'read-only, ' + v.tenant + "'s rows only";
  const pw = $('bi-password');
  pw.dataset.secret = v.password || '';
  pw.dataset.hidden = '1';
  pw.textContent = v.password ? '••••••••' : '(none)';
  $('bi-show').hidden = !v.password;
  $('bi-show').textContent = 'Show';
  $('bi-note').textContent = v.user ? 'Any ClickHouse client or BI tool connects with these (' + v.docs + ').'
    : 'No ClickHouse user for ' + (v.scope === 'admin' ? 'the admin (clickhouse.admin' : 'this tenant (clickhouse_users') + ' in the tenants file); see ' + v.docs + '.';
  document.body.dataset.biLoaded = '1';
}
$('bi-show').addEventListener('click', () => {
  const pw = $('bi-password');
  const hide = pw.dataset.hidden !== '1';
  pw.dataset.hidden = hide ? '1' : '0';
  pw.textContent = hide ? '••••••••' : pw.dataset.secret;
  $('bi-show').textContent = hide ? 'Show' : 'Hide';
});

// A connector's row: its last successful pull and next run (when this
// console runs beside the collector), its last error, and the alerter's
// costs_missing alert for it when yesterday's spend did not arrive.
function renderConnectors(v, alerts) {
  const missing = new Map();
  for (const a of alerts.active || []) {
    if (a.kind === 'costs_missing' && a.labels) missing.set((a.account || '') + '/' + a.labels.connector, a);
  }
  const body = $('cost-connectors').tBodies[0];
  body.replaceChildren(...v.connectors.map((c) => {
    const m = missing.get((c.account || '') + '/' + c.connector);
    const status = m ? el('span', { class: 'bad', text: 'costs_missing: ' + (m.title || m.rule) })
      : c.last_error ? el('span', { class: 'bad', text: 'failing: ' + c.last_error })
      : c.last_success ? el('span', { class: 'ok', text: 'ok' + (c.from ? ' · ' + c.from + '…' + c.to : '') })
      : el('span', { class: 'muted', text: v.state === 'unavailable' ? '—' : 'not pulled yet' });
    return el('tr', { 'data-connector': (c.account || '') + '/' + c.connector, 'data-missing': m ? '1' : '0' },
      el('td', { text: c.account ? branchName(c.account) : 'network' }),
      el('td', { text: c.connector + (c.channel && c.channel !== c.connector ? ' (' + c.channel + ')' : '') }),
      el('td', { text: c.last_success ? fmtTime(c.last_success, true) : '—' }),
      el('td', { text: c.next_run ? fmtTime(c.next_run, true) : '—' }),
      el('td', {}, status));
  }));
  if (v.connectors.length === 0) body.append(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: 'No cost connectors.' })));
  const notes = { standby: 'Another collector runs the pulls; its status is on its own /metrics.',
    unavailable: 'Pull status is on the collectors\' /metrics (throughline_costpull_*); missing spend shows here as costs_missing.',
    off: 'Pulling is turned off on this collector.' };
  $('connectors-state').textContent = notes[v.state] || '';
}

// ---- refresh loops ---------------------------------------------------------------------

function showError(e) {
  if (e instanceof AuthError) { logout(e.message); return; }
  $('dash-error').textContent = e.message;
}

async function refreshReports() {
  const p = pickers();
  const q = { from: p.from, to: p.to, model: p.model, account: p.account };
  try {
    const flowTo = addDays(p.to, 1);
    const flowFrom = Date.parse(flowTo) - Date.parse(p.from) > 31 * 864e5 ? addDays(flowTo, -31) : p.from;
    const [rep, flow] = await Promise.all([
      api('/v1/reports/channels', q),
      api('/v1/reports/leadflow', { from: flowFrom, to: flowTo, account: p.account }),
    ]);
    renderChannels(rep);
    renderFlow(flow, flowFrom, flowTo);
    // Its own request: a period the Markov report refuses (over 93 days)
    // leaves a note in its panel, not an error over the whole page.
    api('/v1/reports/markov', { from: p.from, to: flowTo, account: p.account }).then(renderMarkov, (e) => {
      if (e instanceof AuthError) { showError(e); return; }
      $('markov').tBodies[0].replaceChildren(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: e.message })));
      $('markov-caption').textContent = '';
    });
    $('dash-error').textContent = '';
    $('updated').textContent = 'updated ' + fmtTime(Date.now(), false);
    document.body.dataset.reportsLoaded = '1';
  } catch (e) { showError(e); }
}

// A restatement re-derives history under new channel rules: figures move
// while it runs, so the header says so.
function renderRestatements(v) {
  const b = $('restating');
  const r = v.running || [];
  b.hidden = r.length === 0;
  b.textContent = r.length === 0 ? '' : 'restating from ' + r[0].from.slice(0, 10) +
    (r[0].accounts > 1 ? ' (' + r[0].accounts_done + '/' + r[0].accounts + ' branches)' : '') +
    (r.length > 1 ? ' +' + (r.length - 1) : '');
  b.title = r.map((x) => x.id + ' since ' + fmtTime(x.started_at, true)).join('\n');
}

async function refreshSide() {
  const p = pickers();
  try {
    const [alerts, dead, restating, connectors] = await Promise.all([
      api('/v1/alerts', { account: p.account }),
      api('/v1/dashboard/deadletters', { from: p.from, to: p.to, account: p.account }),
      api('/v1/dashboard/restatements'),
      api('/v1/dashboard/costs/connectors', { account: p.account }),
    ]);
    renderAlerts(alerts);
    renderConnectors(connectors, alerts);
    renderDeadLetters(dead);
    renderRestatements(restating);
  } catch (e) { showError(e); }
}

// ---- login -------------------------------------------------------------------------------

function logout(msg) {
  sessionStorage.removeItem('tl_token');
  sessionStorage.removeItem('tl_tenant');
  if (state.stream) state.stream.abort();
  state.timers.forEach(clearInterval);
  Object.assign(state, { token: '', tenant: '', info: null, timers: [], stream: null });
  $('dash-view').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  $('tenant-name').textContent = '';
  $('bi-password').dataset.secret = '';
  $('bi-password').textContent = '••••••••';
  $('login-error').textContent = msg || '';
  setLive('off', 'off');
}

async function start() {
  state.token = sessionStorage.getItem('tl_token') || '';
  state.tenant = sessionStorage.getItem('tl_tenant') || '';
  if (!state.token) { logout(); return; }
  try {
    state.info = await api('/v1/dashboard/tenant');
  } catch (e) {
    logout(e instanceof AuthError ? 'That token is not accepted.' : e.message);
    return;
  }
  state.tenant = state.info.tenant;
  $('tenant-name').textContent = '· ' + (state.info.name || state.info.tenant);
  $('login-view').hidden = true;
  $('dash-view').hidden = false;
  $('logout').hidden = false;
  setupPickers();
  refreshReports();
  refreshSide();
  loadRecentLeads().catch(showError);
  api('/v1/dashboard/bi').then(renderBI, showError);
  restartStream();
  state.timers.push(setInterval(refreshReports, 60000), setInterval(refreshSide, 15000));
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem('tl_token', $('token').value.trim());
  const t = $('tenant').value.trim();
  if (t) sessionStorage.setItem('tl_tenant', t); else sessionStorage.removeItem('tl_tenant');
  $('token').value = '';
  start();
});
$('logout').addEventListener('click', () => logout());
start();
