// Throughline JS tracker, served by the collector as GET /t.js.
//
// Snippet (docs/tracker.md):
//   <script async src="https://collector.example/t.js" data-key="KEY"></script>
//
// It keeps a first-party client id, sends a pageview on load, keeps the
// landing's UTM parameters, ad click ids and external referrer for the visit,
// sends goals (API and data-tl-goal attributes), sends the page's Yandex
// Metrica and Google Analytics client ids along, fills hidden form inputs
// named tl_client_id and puts a leased pool number in place of the site's
// phone. Every hit is a GET of the collector's /px.gif.
//
// Plain ES5, no dependencies. The collector drops whole-line // comments and
// indentation before serving: keep comments on their own lines, and never
// start a line of code with //.
(function (w, d) {
'use strict';
// Loaded twice (the snippet pasted twice): the first copy wins.
if (w.throughline && w.throughline.loaded) {
  return;
}
// Cookie names and lifetimes in seconds: two years, thirty minutes.
var CID = '_tl_cid', CID_TTL = 63072000;
var VISIT = '_tl_visit', VISIT_TTL = 1800;
var PARAMS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term',
  'yclid', 'gclid', 'gbraid', 'wbraid', 'fbclid', 'vkclid', 'ttclid', 'msclkid', 'ysclid'];
var loc = w.location;
var enc = encodeURIComponent;

// Our own <script> tag: the write key and the collector's address. An async
// script has document.currentScript while it runs; look it up otherwise.
var me = d.currentScript || d.querySelector('script[data-key][src*="/t.js"]');
var key = me && me.getAttribute('data-key');
var i;
if (!key) {
  return;
}
var base = me.getAttribute('data-collector') || me.src.replace(/\/t\.js([?#].*)?$/, '');

function now() {
  return new Date().getTime();
}

function cut(s) {
  return s.length > 2000 ? s.slice(0, 2000) : s;
}

// Random hex, n 32-bit words, from crypto where there is one.
function rnd(n) {
  var c = w.crypto, a = null, s = '';
  if (c && c.getRandomValues) {
    a = c.getRandomValues(new Uint32Array(n));
  }
  for (var j = 0; j < n; j++) {
    s += ('0000000' + ((a ? a[j] : Math.random() * 4294967296) >>> 0).toString(16)).slice(-8);
  }
  return s;
}

// --- storage: a first-party cookie, else localStorage, else memory.

function readCookie(name) {
  try {
    var m = d.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  } catch (e) {
    return null;
  }
}

function writeCookie(name, value, ttl, domain) {
  var c = name + '=' + enc(value) + '; path=/; max-age=' + ttl + '; SameSite=Lax';
  if (domain) {
    c += '; domain=' + domain;
  }
  if (loc.protocol === 'https:') {
    c += '; Secure';
  }
  try {
    d.cookie = c;
  } catch (e) {
    return false;
  }
  return readCookie(name) === value;
}

// The widest domain that takes a cookie (shop.example for www.shop.example),
// so subdomains share the client id; browsers refuse public suffixes.
function pickDomain() {
  var h = loc.hostname, parts = h.split('.');
  if (me.getAttribute('data-cookie-domain')) {
    return me.getAttribute('data-cookie-domain');
  }
  if (parts.length < 2 || /^[\d.]+$/.test(h) || h.indexOf(':') >= 0) {
    return '';
  }
  for (var j = parts.length - 2; j >= 0; j--) {
    var dom = parts.slice(j).join('.');
    if (writeCookie('_tl_d', '1', 10, dom)) {
      writeCookie('_tl_d', '', -1, dom);
      return dom;
    }
  }
  return '';
}

var domain = pickDomain();
var mem = {};
var ls = null;
try {
  ls = w.localStorage;
  ls.setItem('_tl_t', '1');
  ls.removeItem('_tl_t');
} catch (e) {
  ls = null;
}

function get(name) {
  var o = mem[name];
  try {
    o = JSON.parse(ls.getItem(name)) || o;
  } catch (e) {
    // no localStorage: memory
  }
  return readCookie(name) || (o && o.e > now() ? o.v : null);
}

function set(name, value, ttl) {
  var rec = {v: value, e: now() + ttl * 1000};
  writeCookie(name, value, ttl, domain);
  mem[name] = rec;
  if (ls) {
    try {
      ls.setItem(name, JSON.stringify(rec));
    } catch (e) {
      // quota or private mode: the cookie or memory holds it
    }
  }
}

// --- the client id: kept for two years, refreshed on every visit.

var cid = get(CID) || rnd(2) + '.' + Math.floor(now() / 1000);
set(CID, cid, CID_TTL);

// --- the visit: the landing's UTMs, click ids and external referrer, as
// pixel parameters, kept 30 minutes from the last hit. A landing with UTMs,
// a click id or a new external referrer replaces it.

function host(u) {
  var m = /^[a-z][a-z0-9+.-]*:\/\/([^\/?#:]+)/i.exec(u);
  return m ? m[1].toLowerCase() : '';
}

function internal(h) {
  return h === loc.hostname || (domain !== '' && (h === domain || h.slice(-domain.length - 1) === '.' + domain));
}

function landing() {
  var q = {}, out = [], pairs = loc.search.replace(/^\?/, '').split('&');
  for (var j = 0; j < pairs.length; j++) {
    var at = pairs[j].indexOf('=');
    try {
      if (at > 0) {
        q[decodeURIComponent(pairs[j].slice(0, at))] = decodeURIComponent(pairs[j].slice(at + 1).replace(/\+/g, ' '));
      }
    } catch (e) {
      // a malformed pair: skip it
    }
  }
  for (j = 0; j < PARAMS.length; j++) {
    if (q[PARAMS[j]]) {
      out.push(PARAMS[j] + '=' + enc(cut(q[PARAMS[j]])));
    }
  }
  var ref = d.referrer, rh = host(ref);
  if (rh && !internal(rh)) {
    out.push('r=' + enc(cut(ref)));
  }
  return out.join('&');
}

var visit = landing();
var kept = get(VISIT);
if (!visit && kept) {
  visit = kept;
}

// --- sending: a GET of the pixel. fetch with keepalive outlives the page,
// so a goal sent as a form navigates away still arrives; Image otherwise.
// Every hit carries its own id (eid); a hit whose request failed is sent
// again, the same URL, so the collector and the loader see a repeat of one
// hit, not a second one.

// The visitor's web-analytics ids, when the page runs them, go with every
// hit so data teams can join on them and calls reported with them find the
// visit: Yandex Metrica's ClientID (the _ym_uid cookie, digits) and Google
// Analytics' client id (the last two fields of the _ga cookie,
// GA1.2.1234567890.1700000000 -> 1234567890.1700000000). Read at every hit:
// their scripts may set the cookies after ours ran.
function webIds() {
  var s = '', ym = readCookie('_ym_uid'), ga = (readCookie('_ga') || '').split('.');
  if (ym && /^[0-9]{1,64}$/.test(ym)) {
    s += '&ym=' + ym;
  }
  if (ga.length >= 4 && /^[0-9]{1,32}$/.test(ga[ga.length - 2]) && /^[0-9]{1,32}$/.test(ga[ga.length - 1])) {
    s += '&ga=' + ga[ga.length - 2] + '.' + ga[ga.length - 1];
  }
  return s;
}

function send(type, name, extra) {
  var url = base + '/px.gif?k=' + enc(key) + '&t=' + type + (name ? '&n=' + enc(name) : '') +
    '&cid=' + enc(cid) + '&eid=' + rnd(4) + '&u=' + enc(cut(loc.href)) +
    (visit ? '&' + visit : '') + webIds() + (extra || '');
  if (visit) {
    set(VISIT, visit, VISIT_TTL);
  }
  set(CID, cid, CID_TTL);
  hit(url, 1);
}

function hit(url, n) {
  var again = function () {
    if (n < 3) {
      setTimeout(function () { hit(url, n + 1); }, 2000 * n);
    }
  };
  if (w.fetch) {
    try {
      w.fetch(url, {keepalive: true, mode: 'no-cors', credentials: 'omit', cache: 'no-store'})['catch'](again);
      return;
    } catch (e) {
      // an old fetch without keepalive: the Image below
    }
  }
  var img = new Image();
  img.onerror = again;
  img.src = url;
}

// Goal options: {phone: '+7…', email: '…', props: {name: value}}.
function goal(type, name, o) {
  var x = '', p;
  o = o || {};
  if (o.phone) {
    x += '&ph=' + enc(o.phone);
  }
  if (o.email) {
    x += '&em=' + enc(o.email);
  }
  p = o.props || {};
  for (var k in p) {
    if (Object.prototype.hasOwnProperty.call(p, k) && p[k] !== null && p[k] !== undefined) {
      x += '&p.' + enc(k) + '=' + enc(cut(String(p[k])));
    }
  }
  send(type, name, x);
}

// --- forms and clicks.

function fill(root) {
  var ins = root.querySelectorAll('input[name="tl_client_id"]');
  for (var j = 0; j < ins.length; j++) {
    ins[j].value = cid;
  }
}

function field(f, sel) {
  var el = f.querySelector(sel);
  return el && el.value ? el.value : '';
}

// Capture phase: runs before the form's own handlers, which may cancel the
// submit to send it with XHR; the hidden field is filled for them too.
d.addEventListener('submit', function (e) {
  var f = e.target, g;
  if (!f || f.nodeName !== 'FORM') {
    return;
  }
  fill(f);
  g = f.getAttribute('data-tl-goal');
  if (g) {
    goal('goal', g, f.getAttribute('data-tl-contact') === 'off' ? {} : {
      phone: field(f, '[data-tl-phone],input[type=tel],input[name*=phone],input[name*=Phone]'),
      email: field(f, '[data-tl-email],input[type=email],input[name*=mail]')
    });
  }
}, true);

d.addEventListener('click', function (e) {
  for (var el = e.target; el && el.getAttribute; el = el.parentNode) {
    var g = el.getAttribute('data-tl-goal');
    if (g) {
      if (el.nodeName !== 'FORM') {
        goal('goal', g);
      }
      return;
    }
  }
}, true);

// --- phone numbers: where the page shows a phone (a tel: link or an element
// marked data-tl-phone) a number of the account's pool is leased to this
// client from /v1/numbers, and shown in place of the site's default phone.
// The lease is kept for the tab in sessionStorage and renewed once half of
// it has passed, so browsing on keeps the number without a call per page.

var NUM = '_tl_num', num = null;

function digits(s) {
  return String(s).replace(/\D/g, '');
}

function shown() {
  var els = d.querySelectorAll('[data-tl-phone]'), out = [];
  for (var j = 0; j < els.length; j++) {
    if (!/^(INPUT|TEXTAREA|SELECT)$/.test(els[j].nodeName)) {
      out.push(els[j]);
    }
  }
  return out;
}

function swap(n) {
  var reps = n.replace || [], ds = [], j, k, t, node;
  num = n;
  for (j = 0; j < reps.length; j++) {
    ds.push(digits(reps[j]));
  }
  t = d.querySelectorAll('a[href^="tel:"]');
  for (j = 0; j < t.length; j++) {
    if (ds.indexOf(digits(t[j].getAttribute('href'))) >= 0) {
      t[j].setAttribute('href', 'tel:' + n.number);
    }
  }
  t = shown();
  for (j = 0; j < t.length; j++) {
    t[j].textContent = n.display;
  }
  var walk = d.createTreeWalker(d.body, 4, null, false);
  while ((node = walk.nextNode())) {
    for (k = 0; k < reps.length && !/^(SCRIPT|STYLE)$/.test(node.parentNode.nodeName); k++) {
      if (node.nodeValue.indexOf(reps[k]) >= 0) {
        node.nodeValue = node.nodeValue.split(reps[k]).join(n.display);
      }
    }
  }
}

function phones() {
  var ss = w.sessionStorage, c = null;
  if (!d.body || !(d.querySelector('a[href^="tel:"]') || shown().length)) {
    return;
  }
  try {
    c = JSON.parse(ss.getItem(NUM));
  } catch (e) {
    // no sessionStorage: lease on every page
  }
  if (c && c.cid === cid && now() < c.n.expires_at - (c.n.expires_at - c.at) / 2) {
    return swap(c.n);
  }
  var x = new XMLHttpRequest();
  x.open('GET', base + '/v1/numbers?k=' + enc(key) + '&cid=' + enc(cid));
  x.onload = function () {
    try {
      if (x.status === 200) {
        var n = JSON.parse(x.responseText);
        swap(n);
        ss.setItem(NUM, JSON.stringify({cid: cid, at: now(), n: n}));
      }
    } catch (e) {
      // the page keeps its default phone
    }
  };
  x.send();
}

function ready() {
  fill(d);
  phones();
}
if (d.readyState === 'loading') {
  d.addEventListener('DOMContentLoaded', ready);
} else {
  ready();
}

// --- the public API. Before the script loads the snippet's stub queues calls
// in throughline.q; throughlineReady callbacks get the client id.

function api(cmd, a, b) {
  if (cmd === 'goal' || cmd === 'event') {
    goal(cmd, a, b);
  } else if (cmd === 'pageview') {
    send('pageview');
  }
}
api.clientId = function () {
  return cid;
};
// The pool number shown on this page, null until it is leased.
api.number = function () {
  return num && num.number;
};
api.loaded = true;
var queued = (w.throughline && w.throughline.q) || [];
w.throughline = api;

if (me.getAttribute('data-auto-pageview') !== 'off') {
  send('pageview');
}
for (i = 0; i < queued.length; i++) {
  api.apply(null, queued[i]);
}

var waiting = w.throughlineReady;
w.throughlineReady = {push: function (f) {
  try {
    f(cid, api);
  } catch (e) {
    // a caller's error is not ours to report
  }
}};
if (typeof waiting === 'function') {
  w.throughlineReady.push(waiting);
} else if (waiting && waiting.length) {
  for (i = 0; i < waiting.length; i++) {
    w.throughlineReady.push(waiting[i]);
  }
}

// A page restored from the back/forward cache is viewed again.
w.addEventListener('pageshow', function (e) {
  if (e.persisted) {
    send('pageview');
  }
});
})(window, document);
