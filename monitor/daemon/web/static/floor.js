// The clinic floor page: pens, alarms by priority, acknowledgements, today's alarms.
// Served by the daemon itself (no framework, no CDN). The API is documented in
// monitor/daemon/README.md ("Floor page and its API").
//
// Data flow: GET devices (its event_id is where the stream resumes), alarms, today's history
// and whoami; then the Server-Sent Events stream from that id. Events with an id at or below
// the snapshot's are already in it and skipped. A `reset` event, or a stream silent for longer
// than its pings allow, makes the page fetch everything again.
'use strict';

(() => {
  const API = 'api/v1/';
  const PING_SECONDS = 15;            // the daemon pings every 15 s (kPingInterval)
  const SILENT_SECONDS = 2.5 * PING_SECONDS;
  const SPARK_SECONDS = 60;
  const TODAY_ROWS = 300;             // rows drawn in the today table (the rest are counted)

  const NAMES = {
    depth_exceeded: 'Depth exceeded',
    depth_warning: 'Depth warning',
    speed_out_of_range: 'Speed out of range',
    session_overtime_warning: 'Session time warning',
    session_overtime: 'Session overtime',
    telemetry_stale: 'Telemetry stale',
    device_offline: 'Pen offline',
  };
  const RANK = {high: 3, medium: 2, low: 1};
  const MARKS = {high: '!!!', medium: '!!', low: '!'};
  const WORD = {high: 'High', medium: 'Medium', low: 'Low'};

  const state = {
    pens: new Map(),      // "clinic/device" -> pen (device object fields + spark Map)
    alarms: new Map(),    // "clinic/device/alarm" -> active or latched alarm
    history: new Map(),   // instance -> alarm instance
    truncated: false,
    base: 0,              // event id of the last snapshot: older stream events are in it
    lastId: null,         // newest event id seen on the stream
    offset: 0,            // server clock minus this browser's, seconds
    since: 0,             // start of the local day, seconds
    user: null,
    canAck: true,
    live: false,
    loaded: false,
  };

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const SVG = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  };

  // --- time and numbers (local time)
  const serverNow = () => Date.now() / 1000 + state.offset;
  const setServerNow = (now) => { if (typeof now === 'number') state.offset = now - Date.now() / 1000; };
  const clock = (s) => (s == null ? '—' : new Date(s * 1000).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'}));
  const localMidnight = () => { const d = new Date(); d.setHours(0, 0, 0, 0); return d.getTime() / 1000; };
  const duration = (s) => {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, '0'), ss = String(sec).padStart(2, '0');
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  };
  const fix = (v, d) => (v == null ? '—' : Number(v).toFixed(d));
  const penKey = (o) => `${o.clinic}/${o.device}`;
  const alarmKey = (a) => `${a.clinic}/${a.device}/${a.alarm}`;

  function valueText(a) {
    const v = a.value, l = a.limit;
    if (v == null) return '';
    switch (a.alarm) {
      case 'depth_exceeded': case 'depth_warning': return `${fix(v, 2)} mm, limit ${fix(l, 2)} mm`;
      case 'speed_out_of_range': return `${fix(v, 0)} Hz, limit ${fix(l, 0)} Hz`;
      default: return `${duration(v)}, limit ${duration(l)}`;
    }
  }

  // --- fetching
  async function getJson(path) {
    const r = await fetch(API + path, {credentials: 'same-origin', cache: 'no-store', headers: {Accept: 'application/json'}});
    if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
    return r.json();
  }

  // While a snapshot loads, stream events wait here; those newer than the snapshot are
  // applied on top of it afterwards (applying them to the state being replaced would lose them).
  let loading = null;
  let held = null;
  function reload() {
    if (!loading) {
      held = [];
      loading = load().finally(() => {
        const later = held.filter(([id]) => id > state.base);
        held = null;
        loading = null;
        for (const [, fn, data] of later) fn(data);
        if (later.length) scheduleRender();
      });
    }
    return loading;
  }

  async function load() {
    // Devices first: every alarm event up to its event_id is in the alarms and history
    // fetched after it, so the stream can start from there without a gap.
    const devices = await getJson('devices');
    state.since = localMidnight();
    const [alarms, history, who] = await Promise.all([
      getJson('alarms'),
      getJson('alarms/history?since=' + Math.floor(state.since)),
      getJson('whoami').catch(() => null),
    ]);
    state.base = devices.event_id;
    setServerNow(devices.now);
    state.pens.clear();
    for (const d of devices.devices) applyDevice(d);
    state.alarms.clear();
    for (const a of alarms.alarms) state.alarms.set(alarmKey(a), a);
    state.history.clear();
    for (const h of history.alarms) state.history.set(h.instance, h);
    state.truncated = !!history.truncated;
    // The engine's list has no acknowledging user: take it from the history instance.
    const byRaise = new Map();
    for (const h of state.history.values()) byRaise.set(`${alarmKey(h)}@${h.raised_at_ns}`, h);
    for (const a of state.alarms.values()) {
      const h = byRaise.get(`${alarmKey(a)}@${a.raised_at_ns}`);
      if (h) Object.assign(a, {instance: h.instance, acknowledged_by: h.acknowledged_by, acknowledged_at: h.acknowledged_at, late: h.late});
    }
    if (who) { state.user = who.user; state.canAck = !!who.can_ack; }
    state.loaded = true;
    showError('');
    render();
  }

  // --- applying data
  function applyDevice(d) {
    const key = penKey(d);
    if (d.removed) { state.pens.delete(key); return; }
    let pen = state.pens.get(key);
    if (!pen) {
      if (!('online' in d)) { refetchSoon(); return; }  // a reading for a pen not seen whole
      pen = {clinic: d.clinic, device: d.device, spark: new Map()};
      state.pens.set(key, pen);
    }
    if ('session' in d && d.session !== pen.session) pen.spark.clear();
    for (const [k, v] of Object.entries(d)) if (k !== 'sparkline') pen[k] = v;
    const sp = d.sparkline;
    if (sp) {
      for (let i = 0; i < sp.depth_max.length; i++) {
        const sec = sp.start + i;
        if (sp.depth_max[i] == null) pen.spark.delete(sec);
        else pen.spark.set(sec, [sp.depth_max[i], sp.speed_min[i], sp.speed_max[i]]);
      }
    }
    const oldest = Math.floor(serverNow()) - SPARK_SECONDS;
    for (const sec of pen.spark.keys()) if (sec <= oldest) pen.spark.delete(sec);
  }

  function onDevices(data) {
    setServerNow(data.now);
    if (data.full) state.pens.clear();
    for (const d of data.devices) applyDevice(d);
  }

  function onAlarm(data) {
    const a = data.alarm;
    state.history.set(a.instance, a);
    const key = alarmKey(a);
    if (a.ended_at != null) {
      const cur = state.alarms.get(key);
      if (!cur || cur.raised_at_ns === a.raised_at_ns) state.alarms.delete(key);
    } else {
      state.alarms.set(key, a);
    }
    const pen = `${a.clinic} ${a.device}`;
    const name = NAMES[a.alarm] || a.alarm;
    if (data.transition === 'raised') {
      announce(`${WORD[a.severity]} priority alarm: ${name} on ${pen}. ${valueText(a)}`);
    } else if (data.transition === 'latched') {
      announce(`${WORD[a.severity]} priority alarm ${name} on ${pen} latched: the condition ended, acknowledgement needed.`);
    } else if (data.transition === 'acknowledged' || data.transition === 'ack_cleared') {
      announce(`${name} on ${pen} acknowledged${data.user ? ' by ' + data.user : ''}.`);
    }
  }

  let refetchTimer = 0;
  function refetchSoon() {
    if (!refetchTimer) refetchTimer = setTimeout(() => { refetchTimer = 0; reload().catch(failed); }, 500);
  }

  // --- the stream
  let es = null;
  let lastHeard = Date.now();
  let reconnectTimer = 0;

  function connect(fromId) {
    if (es) es.close();
    clearTimeout(reconnectTimer);
    const url = API + 'events' + (fromId != null ? '?last_event_id=' + fromId : '');
    es = new EventSource(url);
    lastHeard = Date.now();
    es.onopen = () => { heard(); setLive(true); };
    es.onerror = () => {
      setLive(false);
      // The browser retries by itself (with Last-Event-ID) unless the answer was not a
      // stream (an HTTP error): then retry here, from the newest id seen.
      if (es.readyState === EventSource.CLOSED) {
        reconnectTimer = setTimeout(() => connect(state.lastId ?? state.base), 3000);
      }
    };
    const on = (name, fn) => es.addEventListener(name, (e) => {
      heard();
      if (e.lastEventId !== '') state.lastId = Number(e.lastEventId);
      let data;
      try { data = JSON.parse(e.data); } catch { return; }
      fn(data, e);
    });
    const apply = (fn) => (data, e) => {
      const id = Number(e.lastEventId);
      if (held) { held.push([id, fn, data]); return; }
      if (id > state.base) { fn(data); scheduleRender(); }
    };
    on('alarm', apply(onAlarm));
    on('devices', apply(onDevices));
    on('reset', () => { reload().catch(failed); });
    on('ping', (data) => setServerNow(data.now));
  }

  function heard() {
    lastHeard = Date.now();
    if (!state.live && es && es.readyState === EventSource.OPEN) setLive(true);
  }

  function setLive(live) {
    state.live = live;
    $('lost').hidden = live || !state.loaded;
    const s = $('status');
    s.textContent = live ? 'Live' : 'Reconnecting…';
    s.classList.toggle('live', live);
  }

  // A connection that went silent (no event, no ping) is dead even if the socket is not.
  setInterval(() => {
    if (es && Date.now() - lastHeard > SILENT_SECONDS * 1000) {
      setLive(false);
      connect(state.lastId ?? state.base);
    }
  }, 5000);

  // --- rendering, batched: one render for the events of one task. (Not requestAnimationFrame:
  // it stops in a hidden tab, and a board behind another tab must still be current when shown
  // and must still announce its alarms.)
  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(() => { renderQueued = false; render(); }, 0);
  }

  function render() {
    renderAlarms();
    renderBoards();
    renderToday();
    $('who').textContent = state.user ? `Signed in as ${state.user}` : '';
  }

  function sortedAlarms() {
    return [...state.alarms.values()].sort((a, b) =>
      (RANK[b.severity] - RANK[a.severity]) ||
      (Number(a.acknowledged) - Number(b.acknowledged)) ||
      (a.raised_at - b.raised_at) ||
      alarmKey(a).localeCompare(alarmKey(b)));
  }

  const alarmItems = new Map();  // key -> {li, refs}

  function renderAlarms() {
    const list = $('alarm-list');
    const alarms = sortedAlarms();
    const unack = alarms.filter((a) => !a.acknowledged).length;
    $('alarm-count').textContent = alarms.length ? `(${alarms.length}, ${unack} unacknowledged)` : '';
    $('no-alarms').hidden = alarms.length > 0;
    const keep = new Set();
    let prev = null;
    for (const a of alarms) {
      const key = alarmKey(a);
      keep.add(key);
      let item = alarmItems.get(key);
      if (!item) { item = alarmItem(); alarmItems.set(key, item); }
      updateAlarmItem(item, a);
      // Move only when out of place, so a focused Acknowledge button keeps its focus.
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== item.li) list.insertBefore(item.li, want);
      prev = item.li;
    }
    for (const [key, item] of alarmItems) {
      if (!keep.has(key)) { item.li.remove(); alarmItems.delete(key); }
    }
  }

  function alarmItem() {
    const li = el('li', 'alarm');
    const head = el('div', 'what');
    const prio = el('span', 'prio');
    const name = el('span', 'name');
    head.append(prio, ' ', name);
    const where = el('div', 'where');
    const when = el('div', 'when');
    const st = el('div', 'state');
    const actions = el('div', 'actions');
    const btn = el('button', 'ack', 'Acknowledge');
    btn.type = 'button';
    const err = el('span', 'ack-error');
    err.setAttribute('role', 'alert');
    actions.append(btn, err);
    li.append(head, where, when, st, actions);
    const item = {li, prio, name, where, when, st, btn, err, alarm: null};
    btn.addEventListener('click', () => acknowledge(item));
    return item;
  }

  function updateAlarmItem(item, a) {
    item.alarm = a;
    const sev = a.severity;
    item.li.className = `alarm ${sev}${a.acknowledged ? ' acked' : ' unack'}`;
    item.li.dataset.key = alarmKey(a);
    item.li.dataset.state = a.state;
    item.prio.className = `prio ${sev}`;
    item.prio.textContent = `${MARKS[sev]} ${WORD[sev]}`;
    item.name.textContent = NAMES[a.alarm] || a.alarm;
    item.where.textContent = `${a.clinic} / ${a.device}` + (a.zone ? ` · ${a.zone}` : '') + (a.value != null ? ` · ${valueText(a)}` : '');
    item.when.textContent = `Raised ${clock(a.raised_at)}${a.late ? ' (late: happened while the monitor was away)' : ''}` +
      (a.cleared_at != null ? ` · condition ended ${clock(a.cleared_at)}` : '');
    let st;
    if (a.acknowledged) {
      st = `Acknowledged${a.acknowledged_by ? ' by ' + a.acknowledged_by : ''}${a.acknowledged_at ? ' at ' + clock(a.acknowledged_at) : ''} — ends when the condition ends`;
    } else if (a.state === 'latched') {
      st = 'Latched: the condition ended; acknowledge to end the alarm';
    } else {
      st = 'Active, not acknowledged';
    }
    item.st.textContent = st;
    item.st.className = `state ${a.state}`;
    const canAck = state.canAck && !a.acknowledged;
    item.btn.hidden = !canAck;
    item.btn.setAttribute('aria-label', `Acknowledge ${WORD[sev].toLowerCase()} priority alarm ${item.name.textContent} on ${a.clinic} ${a.device}`);
  }

  async function acknowledge(item) {
    const a = item.alarm;
    item.btn.disabled = true;
    item.err.textContent = '';
    try {
      const r = await fetch(API + 'alarms/ack', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', Accept: 'application/json'},
        body: JSON.stringify({clinic: a.clinic, device: a.device, alarm: a.alarm}),
      });
      const body = await r.json().catch(() => ({}));
      if (r.status === 404) {
        refetchSoon();  // it ended meanwhile
      } else if (!r.ok) {
        throw new Error(body.error || `HTTP ${r.status}`);
      } else if (!state.live) {
        refetchSoon();  // the stream would have told us; it is down
      }
    } catch (e) {
      item.err.textContent = `Not acknowledged: ${e.message}`;
    } finally {
      item.btn.disabled = false;
    }
  }

  // --- boards and tiles
  const tiles = new Map();   // pen key -> tile refs
  const boards = new Map();  // clinic -> {section, list}

  function penAlarms(key) {
    const out = [];
    for (const a of state.alarms.values()) if (penKey(a) === key) out.push(a);
    return out.sort((a, b) => (RANK[b.severity] - RANK[a.severity]) || (Number(a.acknowledged) - Number(b.acknowledged)));
  }

  function renderBoards() {
    const root = $('boards');
    const pens = [...state.pens.values()].sort((a, b) => a.clinic.localeCompare(b.clinic) || a.device.localeCompare(b.device));
    $('no-pens').hidden = pens.length > 0 || !state.loaded;
    const seenClinics = new Set();
    const seenPens = new Set();
    for (const pen of pens) {
      let board = boards.get(pen.clinic);
      if (!board) {
        const section = el('section', 'clinic');
        const h = el('h3', '', `Clinic ${pen.clinic}`);
        h.id = `clinic-${boards.size}`;
        section.setAttribute('aria-labelledby', h.id);
        const list = el('ul', 'tiles');
        section.append(h, list);
        board = {section, list};
        boards.set(pen.clinic, board);
      }
      if (!seenClinics.has(pen.clinic)) {
        seenClinics.add(pen.clinic);
        if (board.section.parentNode !== root || board.section !== root.children[seenClinics.size - 1]) {
          root.insertBefore(board.section, root.children[seenClinics.size - 1] || null);
        }
      }
      const key = penKey(pen);
      seenPens.add(key);
      let t = tiles.get(key);
      if (!t) { t = tile(pen); tiles.set(key, t); }
      if (t.li.parentNode !== board.list) board.list.append(t.li);
      updateTile(t, pen, penAlarms(key));
    }
    for (const [key, t] of tiles) if (!seenPens.has(key)) { t.li.remove(); tiles.delete(key); }
    for (const [clinic, b] of boards) if (!seenClinics.has(clinic)) { b.section.remove(); boards.delete(clinic); }
  }

  function gauge(label) {
    const row = el('div', 'gauge');
    const k = el('span', 'k', label);
    const v = el('span', 'v');
    const track = el('div', 'bar-track');
    const fill = el('div', 'bar-fill');
    track.append(fill);
    track.setAttribute('aria-hidden', 'true');
    row.append(k, v, track);
    return {row, v, fill};
  }

  function sparkSvg(label) {
    const s = svg('svg', {class: 'spark', viewBox: `0 0 ${SPARK_SECONDS} 20`, preserveAspectRatio: 'none', role: 'img'});
    const band = svg('path', {class: 'band'});
    const warn = svg('line', {class: 'warnline', x1: 0, x2: SPARK_SECONDS});
    const limit = svg('line', {class: 'limit', x1: 0, x2: SPARK_SECONDS});
    const limit2 = svg('line', {class: 'limit', x1: 0, x2: SPARK_SECONDS});
    const line = svg('path', {class: 'line'});
    s.append(band, warn, limit, limit2, line);
    const row = el('div', 'gauge');
    row.append(el('span', 'k', label), s);
    return {row, s, band, warn, limit, limit2, line};
  }

  function tile(pen) {
    const li = el('li', 'tile');
    li.dataset.clinic = pen.clinic;
    li.dataset.device = pen.device;
    const head = el('div', 'head');
    const name = el('h4', 'name', pen.device);
    name.id = `pen-${tiles.size}`;
    li.setAttribute('aria-labelledby', name.id);
    const badge = el('span', 'badge');
    const conn = el('span', 'conn');
    head.append(name, conn);
    const session = el('div', 'session');
    const elapsed = gauge('Time');
    const depth = gauge('Depth');
    const depthSpark = sparkSvg('1 min');
    const speed = gauge('Speed');
    const speedSpark = sparkSvg('1 min');
    li.append(head, badge, session, elapsed.row, depth.row, depthSpark.row, speed.row, speedSpark.row);
    return {li, name, badge, conn, session, elapsed, depth, depthSpark, speed, speedSpark};
  }

  function setGauge(g, text, lim, fraction, level) {
    g.v.textContent = text;
    if (lim) g.v.append(' ', el('span', 'lim', lim));
    g.v.className = 'v' + (level ? ' ' + level : '');
    g.fill.style.width = `${Math.max(0, Math.min(1, fraction || 0)) * 100}%`;
    g.fill.className = 'bar-fill' + (level === 'over' || level === 'under' ? ' over' : level === 'warn' ? ' warn' : '');
  }

  function updateTile(t, pen, alarms) {
    const top = alarms[0];
    const sev = top ? top.severity : null;
    const unack = alarms.some((a) => a.severity === sev && !a.acknowledged);
    const open = pen.session != null;
    t.li.className = 'tile' + (sev ? ` sev-${sev}` : '') + (sev && unack ? ' unack' : '') +
      (pen.online ? '' : ' offline') + (open ? '' : ' idle');
    t.li.dataset.severity = sev || '';
    t.conn.textContent = pen.online ? 'Online' : 'Offline';
    t.conn.className = 'conn ' + (pen.online ? 'on' : 'off');
    if (top) {
      const more = alarms.length > 1 ? ` +${alarms.length - 1}` : '';
      t.badge.textContent = `${MARKS[sev]} ${WORD[sev]}: ${NAMES[top.alarm] || top.alarm}${more}`;
      t.badge.hidden = false;
    } else {
      t.badge.textContent = '';
      t.badge.hidden = true;
    }
    const lim = pen.limits;
    if (!open) {
      t.session.textContent = 'No session';
      for (const g of [t.elapsed, t.depth, t.speed]) g.row.hidden = true;
      t.depthSpark.row.hidden = t.speedSpark.row.hidden = true;
      return;
    }
    for (const g of [t.elapsed, t.depth, t.speed]) g.row.hidden = false;
    t.depthSpark.row.hidden = t.speedSpark.row.hidden = false;
    t.session.textContent = `Session ${pen.session} · ${pen.zone || pen.session_zone || 'zone ?'}` +
      (pen.operator ? ` · operator ${pen.operator}` : '');

    // Elapsed time against the session limits of the zone it started in.
    const el_s = pen.session_started_at == null ? 0 : serverNow() - pen.session_started_at;
    const max = lim && lim.session_max_duration_s;
    const warn = lim && lim.session_warn_after_s;
    setGauge(t.elapsed, duration(el_s), max ? `of ${duration(max)}` + (warn ? `, warn ${duration(warn)}` : '') : '',
      max ? el_s / max : 0, max && el_s >= max ? 'over' : warn && el_s >= warn ? 'warn' : '');

    const d = pen.depth_mm, s = pen.speed_hz;
    if (lim) {
      setGauge(t.depth, d == null ? '—' : `${fix(d, 2)} mm`,
        `max ${fix(lim.depth_max_mm, 2)}` + (lim.depth_warn_mm != null ? `, warn ${fix(lim.depth_warn_mm, 2)}` : ''),
        d == null ? 0 : d / (lim.depth_max_mm * 1.25),
        d == null ? '' : d > lim.depth_max_mm ? 'over' : lim.depth_warn_mm != null && d > lim.depth_warn_mm ? 'warn' : '');
      setGauge(t.speed, s == null ? '—' : `${fix(s, 0)} Hz`, `${fix(lim.speed_min_hz, 0)}–${fix(lim.speed_max_hz, 0)}`,
        s == null ? 0 : s / (lim.speed_max_hz * 1.25),
        s == null ? '' : s > lim.speed_max_hz ? 'over' : s < lim.speed_min_hz ? 'under' : '');
    }
    drawSparks(t, pen);
  }

  function drawSparks(t, pen) {
    const lim = pen.limits || {};
    const now = Math.floor(serverNow());
    const first = now - SPARK_SECONDS + 1;
    let dmax = (lim.depth_max_mm || 1) * 1.25, smax = (lim.speed_max_hz || 150) * 1.25;
    for (const [dm, , sx] of pen.spark.values()) { dmax = Math.max(dmax, dm); smax = Math.max(smax, sx); }
    const y = (v, top) => (20 - (v / top) * 20).toFixed(2);
    let dPath = '', band = '', run = [], deepest = null, slow = null, fast = null;
    const flush = () => {
      if (run.length) {
        band += 'M' + run.map(([x, , hi]) => `${x},${y(hi, smax)}`).join('L') + 'L' +
          run.slice().reverse().map(([x, lo]) => `${x},${y(lo, smax)}`).join('L') + 'Z';
      }
      run = [];
    };
    // Each second is a step one unit wide, so a lone second still shows.
    let down = false;
    for (let i = 0; i < SPARK_SECONDS; i++) {
      const b = pen.spark.get(first + i);
      if (!b) { down = false; flush(); continue; }
      dPath += (down ? 'L' : 'M') + `${i},${y(b[0], dmax)}L${i + 1},${y(b[0], dmax)}`;
      down = true;
      run.push([i, b[1], b[2]], [i + 1, b[1], b[2]]);
      deepest = deepest == null ? b[0] : Math.max(deepest, b[0]);
      slow = slow == null ? b[1] : Math.min(slow, b[1]);
      fast = fast == null ? b[2] : Math.max(fast, b[2]);
    }
    flush();
    t.depthSpark.line.setAttribute('d', dPath);
    t.depthSpark.band.setAttribute('d', '');
    const hline = (ln, v, top) => {
      if (v == null) { ln.setAttribute('visibility', 'hidden'); return; }
      ln.setAttribute('visibility', 'visible');
      ln.setAttribute('y1', y(v, top));
      ln.setAttribute('y2', y(v, top));
    };
    hline(t.depthSpark.limit, lim.depth_max_mm, dmax);
    hline(t.depthSpark.limit2, null, dmax);
    hline(t.depthSpark.warn, lim.depth_warn_mm, dmax);
    t.depthSpark.s.setAttribute('aria-label', deepest == null ? 'Depth, last minute: no samples'
      : `Depth, last minute: deepest ${fix(deepest, 2)} mm`);
    t.speedSpark.line.setAttribute('d', '');
    t.speedSpark.band.setAttribute('d', band);
    hline(t.speedSpark.limit, lim.speed_max_hz, smax);
    hline(t.speedSpark.limit2, lim.speed_min_hz, smax);
    hline(t.speedSpark.warn, null, smax);
    t.speedSpark.s.setAttribute('aria-label', slow == null ? 'Speed, last minute: no samples'
      : `Speed, last minute: ${fix(slow, 0)} to ${fix(fast, 0)} Hz`);
  }

  // --- today's alarms
  let todayKey = '';
  function renderToday() {
    const rows = [...state.history.values()]
      .filter((h) => h.raised_at >= state.since || h.ended_at == null || h.ended_at >= state.since)
      .sort((a, b) => b.raised_at - a.raised_at || b.instance - a.instance);
    // Redraw only when an instance changed (the table can be long).
    const key = rows.length + ':' + rows.slice(0, TODAY_ROWS).map((h) => `${h.instance}.${h.state}.${h.acknowledged}.${h.ended_at}`).join(',');
    if (key === todayKey) return;
    todayKey = key;
    $('today-count').textContent = rows.length ? `(${rows.length})` : '';
    const body = $('today').tBodies[0];
    const frag = document.createDocumentFragment();
    for (const h of rows.slice(0, TODAY_ROWS)) {
      const tr = el('tr');
      tr.dataset.instance = h.instance;
      const prio = el('span', `prio ${h.severity}`, `${MARKS[h.severity]} ${WORD[h.severity]}`);
      const pri = el('td');
      pri.append(prio);
      const ack = h.acknowledged_at != null ? `${clock(h.acknowledged_at)}${h.acknowledged_by ? ' by ' + h.acknowledged_by : ''}` : '—';
      const st = h.ended_at != null ? `Ended ${clock(h.ended_at)}` : h.state === 'latched' ? 'Latched' : h.acknowledged ? 'Active, acknowledged' : 'Active';
      tr.append(el('td', 'num', clock(h.raised_at) + (h.late ? ' (late)' : '')), pri,
        el('td', '', NAMES[h.alarm] || h.alarm),
        el('td', '', `${h.clinic} / ${h.device}` + (h.zone ? ` · ${h.zone}` : '')),
        el('td', 'num', valueText(h) || '—'),
        el('td', 'num', clock(h.cleared_at)),
        el('td', 'ack-cell', ack),
        el('td', 'state-cell', st));
      frag.append(tr);
    }
    body.replaceChildren(frag);
    const note = $('today-note');
    const notes = [];
    if (rows.length > TODAY_ROWS) notes.push(`Showing the newest ${TODAY_ROWS} of ${rows.length}.`);
    if (state.truncated) notes.push('The monitor keeps a bounded history; older alarms of today are no longer listed.');
    note.textContent = notes.join(' ');
    note.hidden = notes.length === 0;
  }

  // --- screen reader announcements of new alarms
  function announce(text) {
    const region = $('announce');
    region.append(el('p', '', text));
    while (region.childElementCount > 3) region.firstElementChild.remove();
  }

  // --- the audible signal (IEC 60601-1-8 high priority), off until the user switches it on
  // (browsers start audio only after a gesture).
  //
  // IEC 60601-1-8:2006+A1:2012, Table 3 (burst) and Table 4 (pulse), high priority: a burst of
  // 10 pulses in the rhythm "x x x - x x ... x x x - x x"; pulse duration td 75–200 ms; pulse
  // spacing x 50–125 ms between pulses 1–2, 2–3, 4–5, 6–7, 7–8 and 9–10, 2x + td between 3–4
  // and 8–9, 0.35–1.30 s between 5–6; interburst interval 2.5–15 s; pulse fundamental
  // 150–1000 Hz with at least four harmonics in 300–4000 Hz; rise time 10–20 % of td.
  // Chosen: td 150 ms, x 100 ms, 500 ms between the halves, 5 s between bursts, 600 Hz with
  // harmonics 2–5 (1200–3000 Hz), 20 ms rise and fall.
  const TD = 0.15, X = 0.10, MID = 0.50, INTERBURST = 5.0, F0 = 600, RAMP = 0.02;
  const PULSES = (() => {
    const gaps = [X, X, 2 * X + TD, X, MID, X, X, 2 * X + TD, X];
    const starts = [0];
    for (const g of gaps) starts.push(starts[starts.length - 1] + TD + g);
    return starts;
  })();
  const BURST = PULSES[PULSES.length - 1] + TD;
  const sound = {ctx: null, wave: null, on: false, next: 0};

  function toggleSound() {
    const btn = $('sound');
    try {
      if (!sound.ctx) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        sound.ctx = new Ctx();
        const n = 6, real = new Float32Array(n), imag = new Float32Array(n);
        for (let k = 1; k < n; k++) imag[k] = 1 / k;  // fundamental and harmonics 2–5
        sound.wave = sound.ctx.createPeriodicWave(real, imag);
      }
      sound.on = !sound.on;
      if (sound.on) sound.ctx.resume();
      sound.next = 0;
    } catch (e) {
      sound.on = false;
      showError(`Sound is not available in this browser: ${e.message}`);
    }
    btn.setAttribute('aria-pressed', String(sound.on));
    btn.querySelector('.label').textContent = sound.on ? 'Sound on' : 'Sound off';
  }

  function burst(t0) {
    const ctx = sound.ctx;
    for (const p of PULSES) {
      const s = t0 + p;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.setPeriodicWave(sound.wave);
      osc.frequency.value = F0;
      gain.gain.setValueAtTime(0, s);
      gain.gain.linearRampToValueAtTime(0.25, s + RAMP);
      gain.gain.setValueAtTime(0.25, s + TD - RAMP);
      gain.gain.linearRampToValueAtTime(0, s + TD);
      osc.connect(gain).connect(ctx.destination);
      osc.start(s);
      osc.stop(s + TD + 0.01);
    }
  }

  setInterval(() => {
    if (!sound.on) return;
    const needed = [...state.alarms.values()].some((a) => a.severity === 'high' && !a.acknowledged);
    const t = sound.ctx.currentTime;
    if (!needed) { sound.next = 0; return; }
    if (t >= sound.next) {
      burst(t + 0.05);
      sound.next = t + 0.05 + BURST + INTERBURST;
    }
  }, 200);

  // --- errors, clocks, start
  function showError(text) {
    const e = $('error');
    e.textContent = text;
    e.hidden = !text;
  }

  let retryTimer = 0;
  function failed(e) {
    showError(`Cannot load the board: ${e.message}. Retrying…`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(start, 3000);
  }

  async function start() {
    try {
      await reload();
      connect(state.base);
    } catch (e) {
      failed(e);
    }
  }

  // Elapsed times and sparklines move with the clock even when nothing arrives.
  setInterval(() => { if (state.loaded) renderBoards(); }, 1000);
  // A new day starts a new list.
  setInterval(() => { if (state.loaded && localMidnight() !== state.since) reload().catch(failed); }, 60000);

  document.addEventListener('DOMContentLoaded', () => {
    $('sound').addEventListener('click', toggleSound);
    start();
  });
})();
