// The live figure: the page of `fsm serve` (mode "serve": it asks the
// server) and of `fsm play --html` (mode "play": everything inline).
// The machine's semantics stay in Rust: a step is POST /api/step, and
// trace lines come annotated with the figure's ids.
'use strict';

const DATA = JSON.parse(document.getElementById('fsm-data').textContent);
const SERVE = DATA.mode === 'serve';
const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
// Okabe–Ito colours for the sides, each with its own shape.
const SIDE_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00'];

let spec = null;          // the last /api/spec answer (or DATA.spec)
let view = null;          // the figure's viewBox, kept across redraws
let drawnSvg = null;      // the SVG text on the page
const stepper = { state: null, history: [], guards: {} };
let tour = null;          // { sequences, seq, pos }
const live = { lines: [], stats: null };
let playback = null;      // { name, lines, cursor, timer }
let chosen = null;        // the connection key whose ladder is shown
let sides = [];           // side names in order of appearance

// ---- The figure -------------------------------------------------------

function svgRoot() { return $('figure').querySelector('svg'); }

function showFigure(text) {
  if (text === drawnSvg) return;
  drawnSvg = text;
  $('figure').innerHTML = text;
  const svg = svgRoot();
  if (!svg) return;
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
  if (view) setView(view); else fit();
}

function fullBox() {
  const svg = svgRoot();
  const vb = svg.viewBox.baseVal;
  return { x: vb.x, y: vb.y, w: vb.width, h: vb.height, full: true };
}

function fit() {
  const svg = svgRoot();
  if (!svg) return;
  const [x, y, w, h] = (svg.dataset.full || svg.getAttribute('viewBox')).split(/[ ,]+/).map(Number);
  svg.dataset.full = [x, y, w, h].join(' ');
  view = null;
  svg.setAttribute('viewBox', [x, y, w, h].join(' '));
}

function setView(v) {
  const svg = svgRoot();
  if (!svg) return;
  if (!svg.dataset.full) svg.dataset.full = svg.getAttribute('viewBox');
  view = v;
  svg.setAttribute('viewBox', [v.x, v.y, v.w, v.h].join(' '));
}

function currentView() {
  const svg = svgRoot();
  return view || (svg ? fullBox() : null);
}

function zoom(factor, cx, cy) {
  const v = currentView();
  if (!v) return;
  const svg = svgRoot();
  const r = svg.getBoundingClientRect();
  const s = Math.max(v.w / r.width, v.h / r.height);
  const px = cx === undefined ? v.x + v.w / 2 : v.x + (cx - r.left) * s - (r.width * s - v.w) / 2;
  const py = cy === undefined ? v.y + v.h / 2 : v.y + (cy - r.top) * s - (r.height * s - v.h) / 2;
  const w = v.w * factor, h = v.h * factor;
  setView({ x: px - (px - v.x) * factor, y: py - (py - v.y) * factor, w, h });
}

(function panAndZoom() {
  const fig = $('figure');
  fig.addEventListener('wheel', (e) => {
    e.preventDefault();
    zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, e.clientX, e.clientY);
  }, { passive: false });
  let drag = null;
  fig.addEventListener('pointerdown', (e) => {
    const v = currentView();
    if (!v) return;
    drag = { x: e.clientX, y: e.clientY, v };
    fig.setPointerCapture(e.pointerId);
  });
  fig.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const r = svgRoot().getBoundingClientRect();
    const s = Math.max(drag.v.w / r.width, drag.v.h / r.height);
    setView({ x: drag.v.x - (e.clientX - drag.x) * s, y: drag.v.y - (e.clientY - drag.y) * s,
      w: drag.v.w, h: drag.v.h });
  });
  const end = () => { drag = null; };
  fig.addEventListener('pointerup', end);
  fig.addEventListener('pointercancel', end);
  $('zoom-in').onclick = () => zoom(1 / 1.3);
  $('zoom-out').onclick = () => zoom(1.3);
  $('zoom-fit').onclick = fit;
})();

// Every element showing a (transition, source state) pair.
function edgeElements(id) {
  const svg = svgRoot();
  if (!svg || !id) return [];
  return Array.from(svg.querySelectorAll(`[data-edges~="${id}"], [data-edge="${id}"]`));
}

function stateElement(name) {
  const svg = svgRoot();
  return svg ? svg.querySelector(`#state-${CSS.escape(name)}`) : null;
}

function clearClass(cls) {
  const svg = svgRoot();
  if (svg) svg.querySelectorAll('.' + cls).forEach((e) => e.classList.remove(cls));
}

// ---- The spec ---------------------------------------------------------

async function loadSpec() {
  try {
    const r = await fetch('/api/spec', { cache: 'no-store' });
    applySpec(await r.json());
  } catch (e) {
    status('the server does not answer: ' + e, true);
  }
}

function applySpec(s) {
  spec = s;
  if (s.svg) showFigure(s.svg);
  $('figure').classList.toggle('stale', !s.ok);
  $('file').textContent = s.file || '';
  if (s.model) $('title').textContent = s.model.name;
  status(s.ok ? (SERVE ? 'live: redrawn at each save' : 'trace playback')
    : 'the spec has errors: the last good figure is shown', !s.ok);
  const m = s.model;
  if (m && (!stepper.state || !m.states.some((x) => x.name === stepper.state))) {
    stepper.state = m.initial;
    stepper.history = [];
  }
  renderDiagnostics();
  renderStepper();
  renderWatch();
}

function status(text, bad) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('bad', !!bad);
}

function renderDiagnostics() {
  clearClass('diag-error');
  clearClass('diag-warning');
  const list = $('diagnostics');
  list.innerHTML = '';
  const ds = (spec && spec.diagnostics) || [];
  $('diag-count').textContent = ds.length ? `(${ds.length})` : '(none)';
  for (const d of ds) {
    const li = document.createElement('li');
    li.className = d.severity;
    const where = d.line ? `${d.line}:${d.col}` : '';
    li.innerHTML = '<span class="where"></span> <span class="sev"></span>: <span class="msg"></span>';
    li.querySelector('.where').textContent = where;
    li.querySelector('.sev').textContent = d.severity;
    li.querySelector('.msg').textContent = d.message + (d.notes && d.notes.length ? ' (' + d.notes.join('; ') + ')' : '');
    list.appendChild(li);
    for (const id of d.marks || []) {
      const els = id.startsWith('state-') ? [svgRoot() && svgRoot().querySelector('#' + CSS.escape(id))] : edgeElements(id);
      els.forEach((e) => e && e.classList.add('diag-' + d.severity));
    }
  }
}

// ---- Stepping ---------------------------------------------------------

function markHtml(step) {
  const p = spec && spec.model && spec.model.paths.find((x) => x.name === step.path);
  const cls = p && p.marker === 'circled' ? 'mark circled' : 'mark';
  const colour = p ? p.colour : '#333';
  return `<span class="${cls}" style="color:${colour}" title="${step.path} ${step.step}">${step.step}</span>`;
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

function keysFor(list) {
  const used = new Set();
  return list.map((e, i) => {
    const digit = i < 9 ? String(i + 1) : null;
    let letter = null;
    for (const c of e.event.toLowerCase()) {
      if (/[a-z]/.test(c) && !used.has(c) && c !== 'u' && c !== 'r') { letter = c; break; }
    }
    if (letter) used.add(letter);
    return { digit, letter };
  });
}

let keymap = [];

function renderStepper() {
  const pane = $('step-pane');
  pane.hidden = !SERVE;
  if (!SERVE || !spec || !spec.model) return;
  const m = spec.model;
  $('state-name').textContent = stepper.state;
  const list = m.enabled[stepper.state] || [];
  const keys = keysFor(list);
  keymap = [];
  const box = $('events');
  box.innerHTML = '';
  list.forEach((e, i) => {
    const b = document.createElement('button');
    b.dataset.event = e.event;
    const k = keys[i];
    let name = esc(e.event);
    if (k.letter) {
      const at = e.event.toLowerCase().indexOf(k.letter);
      name = esc(e.event.slice(0, at)) + `<span class="key">${esc(e.event[at])}</span>` + esc(e.event.slice(at + 1));
    }
    b.innerHTML = (k.digit ? k.digit + ' ' : '') + name;
    if (e.guards.length) { b.classList.add('guarded'); b.title = 'depends on ' + e.guards.join(', '); }
    b.onclick = () => fire(e.event);
    box.appendChild(b);
    keymap.push({ event: e.event, digit: k.digit, letter: k.letter });
  });
  if (!list.length) box.textContent = 'no event leaves this state';
  const here = new Set(list.flatMap((e) => e.guards));
  const g = $('guards');
  g.innerHTML = '';
  for (const guard of m.guards) {
    const l = document.createElement('label');
    if (here.has(guard.name)) l.className = 'here';
    const c = document.createElement('input');
    c.type = 'checkbox';
    c.dataset.guard = guard.name;
    c.checked = !!stepper.guards[guard.name];
    c.onchange = () => { stepper.guards[guard.name] = c.checked; };
    l.appendChild(c);
    l.append(' ' + guard.name + (guard.label && guard.label !== guard.name ? ' — ' + guard.label : ''));
    g.appendChild(l);
  }
  $('guards-box').hidden = !m.guards.length;
  const path = $('path');
  path.innerHTML = '';
  for (const h of stepper.history) {
    const li = document.createElement('li');
    li.innerHTML = h.steps.map(markHtml).join('') +
      `${esc(h.from)} —${esc(h.event)}→ ${esc(h.to)}`;
    path.appendChild(li);
  }
  highlightStepper();
}

function highlightStepper() {
  if (!SERVE || playback || !spec || !spec.model) return;
  clearClass('cur');
  clearClass('taken');
  const st = stateElement(stepper.state);
  if (st) st.classList.add('cur');
  const last = stepper.history[stepper.history.length - 1];
  if (last) edgeElements(last.edge).forEach((e) => e.classList.add('taken'));
}

async function fire(event, guards) {
  if (guards) {
    stepper.guards = Object.assign({}, guards);
  }
  const body = { state: stepper.state, event, guards: stepper.guards };
  let a;
  try {
    const r = await fetch('/api/step', { method: 'POST', body: JSON.stringify(body) });
    a = await r.json();
    if (!r.ok) { showLast(`error: ${a.error}`, true); return null; }
  } catch (e) {
    showLast('the server does not answer', true);
    return null;
  }
  if (!a.fired) {
    showLast(`refused: the spec has no transition for ${event} in ${a.from}`, true);
    renderStepper();
    return a;
  }
  stepper.history.push(a);
  stepper.state = a.to;
  renderStepper();
  showLast(a.steps.map(markHtml).join('') +
    `${esc(a.from)} —${esc(a.event)}→ <strong>${esc(a.to)}</strong> (line ${a.transition.line}); ` +
    (a.actions.length ? 'actions: ' + a.actions.map(esc).join(', ') : 'no action'), false, true);
  return a;
}

function showLast(html, refused, isHtml) {
  const el = $('last');
  if (isHtml) el.innerHTML = html; else el.textContent = html;
  el.classList.toggle('refused', !!refused);
}

$('undo').onclick = () => {
  const h = stepper.history.pop();
  if (h) stepper.state = h.from;
  showLast(h ? `undone: ${h.from} —${h.event}→ ${h.to}` : 'nothing to undo');
  renderStepper();
};
$('reset').onclick = () => {
  if (!spec || !spec.model) return;
  stepper.state = spec.model.initial;
  stepper.history = [];
  showLast('reset to ' + stepper.state);
  renderStepper();
};

function openTour(t) {
  tour = { sequences: t.sequences || [], seq: 0, pos: 0 };
  const sel = $('tour-seq');
  sel.innerHTML = '';
  tour.sequences.forEach((s, i) => {
    const o = document.createElement('option');
    o.value = i;
    o.textContent = `${i + 1}. ` + s.map((x) => x.event).join(', ');
    sel.appendChild(o);
  });
  sel.onchange = () => { tour.seq = Number(sel.value); tour.pos = 0; $('reset').onclick(); tourPos(); };
  $('tour').hidden = false;
  $('reset').onclick();
  tourPos();
}

function tourPos() {
  if (!tour) return;
  const s = tour.sequences[tour.seq] || [];
  $('tour-pos').textContent = `${tour.pos}/${s.length}`;
}

$('tour-load').onclick = async () => {
  try {
    const r = await fetch('/api/tour');
    const t = await r.json();
    if (!r.ok) { showLast('tour: ' + t.error, true); return; }
    openTour(t);
  } catch (e) { showLast('the server does not answer', true); }
};
$('tour-next').onclick = async () => {
  if (!tour) return;
  const s = tour.sequences[tour.seq] || [];
  const step = s[tour.pos];
  if (!step) return;
  if (stepper.state !== step.from) { stepper.state = step.from; }
  await fire(step.event, step.guards);
  tour.pos += 1;
  tourPos();
};

document.addEventListener('keydown', (e) => {
  if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT' || e.ctrlKey || e.metaKey || e.altKey) return;
  if (playback) {
    if (e.key === '.') { step(1); return; }
    if (e.key === ',') { step(-1); return; }
    if (e.key === ' ') { e.preventDefault(); togglePlay(); return; }
  }
  if (e.key === '+' || e.key === '=') { zoom(1 / 1.3); return; }
  if (e.key === '-') { zoom(1.3); return; }
  if (e.key === '0') { fit(); return; }
  if (!SERVE) return;
  if (e.key === 'u') { $('undo').onclick(); return; }
  if (e.key === 'r') { $('reset').onclick(); return; }
  const k = keymap.find((x) => x.digit === e.key || x.letter === e.key.toLowerCase());
  if (k) fire(k.event);
});

// ---- Watching ---------------------------------------------------------

function peerOf(key, conns) {
  const c = conns.get(key);
  if (!c || !c.remote) return null;
  for (const o of conns.values()) {
    if (o.local === c.remote && o.remote === c.local) return o;
  }
  return null;
}

// What the lines up to `n` show: connections, counts per arrow, the last
// event. Kept from one drawing to the next and extended with the new
// lines (a live stream only grows); built again when the lines are
// another list or the cursor went back.
let aggCache = null;

function aggregate(lines, n) {
  if (!aggCache || aggCache.lines !== lines || aggCache.n > n) {
    aggCache = { lines, n: 0, agg: { conns: new Map(), counts: new Map(), last: null } };
  }
  const { conns, counts } = aggCache.agg;
  for (let i = aggCache.n; i < n; i++) {
    const l = lines[i];
    if (!sides.includes(l.side)) sides.push(l.side);
    let c = conns.get(l.key);
    if (!c) {
      c = { key: l.key, side: l.side, local: l.local, remote: l.remote, state: null, events: 0, segments: 0, lastEdge: null, rows: [] };
      conns.set(l.key, c);
    }
    if (l.kind === 'event') {
      c.state = l.to;
      c.events += 1;
      c.lastEdge = l.edge;
      if (l.edge) counts.set(l.edge, (counts.get(l.edge) || 0) + 1);
      aggCache.agg.last = l;
    } else {
      c.segments += 1;
    }
    c.rows.push(i);
  }
  aggCache.n = n;
  return aggCache.agg;
}

function watchLines() { return playback ? playback.lines : live.lines; }
function watchCursor() { return playback ? playback.cursor : live.lines.length; }

let renderQueued = false;
function renderWatch() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; drawWatch(); });
}

function drawWatch() {
  const lines = watchLines();
  const n = watchCursor();
  const agg = aggregate(lines, n);
  const svg = svgRoot();
  const st = live.stats;
  $('watch-stats').textContent = playback
    ? `trace: ${playback.lines.length} lines${playback.stats ? `, ${playback.stats.other} of other machines, ${playback.stats.malformed} malformed` : ''}`
    : (st ? `${st.lines} lines: ${st.events} events, ${st.segments} segments, ${st.other} of other machines, ${st.malformed} malformed`
      : 'no line yet: stream to the watch port, or open a trace');
  if (svg) drawOverlay(svg, agg);
  drawConnections(agg);
  drawLadder(agg, lines);
  $('playback').hidden = !playback;
  if (playback) {
    $('pb-pos').textContent = `${playback.cursor} / ${playback.lines.length}`;
    $('pb-play').textContent = playback.timer ? 'pause' : 'play';
    clearClass('cur');
    clearClass('taken');
    const l = agg.last;
    if (l) {
      edgeElements(l.edge).forEach((e) => e.classList.add('taken'));
      const s = stateElement(l.to);
      if (s) s.classList.add('cur');
    }
    const cur = lines[n - 1];
    $('caption').innerHTML = cur ? describe(cur, n) : 'the start';
  } else {
    $('caption').textContent = '';
    highlightStepper();
  }
}

function describe(l, n) {
  if (l.kind === 'segment') {
    return `${n}. ${esc(l.side)} ${l.dir === 'out' ? 'sends' : 'receives'} ${esc(l.flags.join('+') || '-')} seq ${l.seq} ack ${l.ack} len ${l.len}`;
  }
  const what = l.edge ? `—${esc(l.event)}→ ${esc(l.to)}` : `refuses ${esc(l.event)}`;
  return `${n}. ${esc(l.side)}: ${(l.steps || []).map(markHtml).join('')}${esc(l.from)} ${what}` +
    (l.actions && l.actions.length ? ' / ' + l.actions.map(esc).join(', ') : '');
}

function sideColour(side) {
  const i = Math.max(0, sides.indexOf(side));
  return SIDE_COLOURS[i % SIDE_COLOURS.length];
}

function drawOverlay(svg, agg) {
  svg.querySelectorAll('.live').forEach((e) => e.remove());
  // Heat: the arrows' width and colour by how often they fired.
  svg.querySelectorAll('.arrow, text[data-edges]').forEach((g) => {
    if (g.dataset.heat) {
      const p = g.querySelector('path');
      if (p) { p.style.strokeWidth = ''; p.style.stroke = ''; }
      g.removeAttribute('data-heat');
    }
  });
  let max = 0;
  for (const v of agg.counts.values()) max = Math.max(max, v);
  const layer = document.createElementNS(SVGNS, 'g');
  layer.setAttribute('class', 'live');
  layer.setAttribute('id', 'live-layer');
  if (max > 0) {
    svg.querySelectorAll('[data-edges]').forEach((g) => {
      const ids = g.dataset.edges.split(' ');
      const count = ids.reduce((s, id) => s + (agg.counts.get(id) || 0), 0);
      if (!count) return;
      g.dataset.heat = count;
      const level = Math.log(1 + count) / Math.log(1 + max);
      const p = g.tagName === 'g' ? g.querySelector('path') : null;
      if (p) {
        p.style.strokeWidth = (1.8 + 5 * level) + 'px';
        p.style.stroke = level > 0.66 ? '#003f6b' : level > 0.33 ? '#0072B2' : '#56B4E9';
      }
    });
    for (const [id, count] of agg.counts) {
      const label = svg.querySelector(`[data-edge="${id}"]`) || svg.querySelector(`text[data-edges~="${id}"]`);
      if (!label) continue;
      const b = label.getBBox();
      const t = document.createElementNS(SVGNS, 'text');
      t.setAttribute('class', 'heat-count');
      t.setAttribute('x', b.x + b.width + 4);
      t.setAttribute('y', b.y + Math.min(b.height, 15) - 3);
      t.setAttribute('data-count-edge', id);
      t.textContent = '×' + count;
      layer.appendChild(t);
    }
  }
  // Markers: each connection on its state, a shape and colour per side.
  const perState = new Map();
  for (const c of agg.conns.values()) {
    if (!c.state) continue;
    const el = stateElement(c.state);
    if (!el) continue;
    const rect = el.querySelector('rect');
    const k = perState.get(c.state) || 0;
    perState.set(c.state, k + 1);
    const x = Number(rect.getAttribute('x')) + Number(rect.getAttribute('width')) - 8 - k * 23;
    const y = Number(rect.getAttribute('y')) - 6;
    const g = document.createElementNS(SVGNS, 'g');
    g.setAttribute('class', 'live-marker');
    g.setAttribute('data-key', c.key);
    g.setAttribute('data-state', c.state);
    g.setAttribute('data-side', c.side);
    const colour = sideColour(c.side);
    const square = sides.indexOf(c.side) % 2 === 1;
    const shape = document.createElementNS(SVGNS, square ? 'rect' : 'circle');
    if (square) {
      shape.setAttribute('x', x - 10); shape.setAttribute('y', y - 10);
      shape.setAttribute('width', 20); shape.setAttribute('height', 20);
    } else {
      shape.setAttribute('cx', x); shape.setAttribute('cy', y); shape.setAttribute('r', 10.5);
    }
    shape.setAttribute('fill', colour);
    shape.setAttribute('stroke', c.key === chosen ? '#000' : '#fff');
    shape.setAttribute('stroke-width', c.key === chosen ? 2.5 : 1.5);
    const title = document.createElementNS(SVGNS, 'title');
    title.textContent = `${c.side} ${c.local} → ${c.remote || '(listening)'}: ${c.state}`;
    const t = document.createElementNS(SVGNS, 'text');
    t.setAttribute('x', x); t.setAttribute('y', y + 4);
    t.setAttribute('text-anchor', 'middle');
    t.textContent = (c.side[0] || '?').toUpperCase();
    g.append(title, shape, t);
    g.addEventListener('click', () => choose(c.key));
    layer.appendChild(g);
  }
  svg.appendChild(layer);
}

function drawConnections(agg) {
  const ul = $('connections');
  ul.innerHTML = '';
  for (const c of agg.conns.values()) {
    const li = document.createElement('li');
    li.dataset.key = c.key;
    if (c.key === chosen) li.className = 'chosen';
    const colour = sideColour(c.side);
    const square = sides.indexOf(c.side) % 2 === 1;
    li.innerHTML = `<span style="color:${colour}">${square ? '■' : '●'}</span> <strong>${esc(c.side)}</strong> ` +
      `<span class="addr">${esc(c.local)} → ${esc(c.remote || 'listening')}</span> <strong>${esc(c.state || '?')}</strong> ` +
      `<small>${c.events} events, ${c.segments} segments</small>`;
    li.onclick = () => choose(c.key);
    ul.appendChild(li);
  }
  if (chosen === null) {
    const first = [...agg.conns.values()].find((c) => c.remote);
    if (first) { chosen = first.key; renderWatch(); }
  }
}

function choose(key) {
  chosen = key;
  $('ladder-pane').hidden = false;
  renderWatch();
}

$('ladder-close').onclick = () => { $('ladder-pane').hidden = true; };

// The ladder: the chosen connection and its peer as two lifelines, their
// state changes, and each segment as an arrow from where it was sent to
// where it arrived. Each side's lines are in its own order; the two are
// merged in the order they reached us, but so that a segment arrives
// after it was sent (the sides' clocks are not comparable, and two
// streams reach the server in any order).
function mergeSides(mine, theirs) {
  const q = [mine, theirs];
  const pos = [0, 0];
  const segKey = (l) => `${(l.flags || []).join(',')}|${l.seq}|${l.ack}|${l.len}`;
  // Sends each side has yet to make, and sends made but not yet received.
  const pending = [new Map(), new Map()];
  q.forEach((rows, s) => rows.forEach((l) => {
    if (l.kind === 'segment' && l.dir === 'out') pending[s].set(segKey(l), (pending[s].get(segKey(l)) || 0) + 1);
  }));
  const inFlight = [new Map(), new Map()];
  const blocked = (s) => {
    const l = q[s][pos[s]];
    if (!l) return true;
    if (l.kind !== 'segment' || l.dir !== 'in') return false;
    const k = segKey(l);
    return !(inFlight[1 - s].get(k) || []).length && (pending[1 - s].get(k) || 0) > 0;
  };
  const rows = [];
  const pairs = [];
  for (let guard = mine.length + theirs.length; guard > 0; guard--) {
    // The one that reached us first, unless it is a segment's arrival
    // before its sending.
    const [a, b] = [q[0][pos[0]], q[1][pos[1]]];
    if (!a && !b) break;
    const earlier = !b || (a && a.at <= b.at) ? 0 : 1;
    const [free0, free1] = [!blocked(0), !blocked(1)];
    const s = free0 && free1 ? earlier : free0 ? 0 : free1 ? 1 : earlier;
    const l = q[s][pos[s]++];
    const at = rows.length;
    rows.push({ l, side: s });
    if (l.kind === 'segment') {
      const k = segKey(l);
      if (l.dir === 'out') {
        pending[s].set(k, pending[s].get(k) - 1);
        if (!inFlight[s].has(k)) inFlight[s].set(k, []);
        inFlight[s].get(k).push(at);
      } else {
        const sent = inFlight[1 - s].get(k);
        if (sent && sent.length) pairs.push({ from: sent.shift(), to: at, l });
      }
    }
  }
  return { rows, pairs };
}

function drawLadder(agg, lines) {
  const box = $('ladder');
  const c = chosen && agg.conns.get(chosen);
  if (!c) { box.innerHTML = ''; return; }
  $('ladder-pane').hidden = false;
  const peer = peerOf(chosen, agg.conns);
  $('ladder-title').textContent = `${c.side} ${c.local} ↔ ${peer ? peer.side + ' ' : ''}${c.remote || ''}`;
  const shown = (l) => l.kind === 'segment' || (l.edge && l.from !== l.to);
  const rowsOf = (conn) => conn.rows.map((i) => Object.assign({ at: i }, lines[i])).filter(shown);
  const mine = rowsOf(c);
  const theirs = peer ? rowsOf(peer) : [];
  const { rows, pairs } = mergeSides(mine, theirs);
  const W = Math.max(520, box.clientWidth - 20);
  const xs = [40, W - 40];
  const rowH = 22;
  const y = (k) => 40 + k * rowH;
  const H = 50 + rows.length * rowH;
  const colours = [sideColour(c.side), peer ? sideColour(peer.side) : '#555'];
  let out = `<svg xmlns="${SVGNS}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`;
  out += `<text x="8" y="16" text-anchor="start" font-weight="bold" fill="${colours[0]}">${esc(c.side)} ${esc(c.local)}</text>`;
  out += `<text x="${W - 8}" y="16" text-anchor="end" font-weight="bold" fill="${colours[1]}">${esc(peer ? peer.side + ' ' + peer.local : (c.remote || 'peer'))}</text>`;
  out += `<line x1="${xs[0]}" y1="24" x2="${xs[0]}" y2="${H}" stroke="#555"/><line x1="${xs[1]}" y1="24" x2="${xs[1]}" y2="${H}" stroke="#555"/>`;
  out += '<defs><marker id="lh" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1a1a1a"/></marker></defs>';
  const paired = new Set();
  for (const p of pairs) { paired.add(p.from); paired.add(p.to); }
  const segment = (x1, y1, x2, y2, l) => {
    const label = `${(l.flags || []).join(',') || '-'} seq=${l.seq} ack=${l.ack} len=${l.len}`;
    return `<g class="seg"><line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#1a1a1a" stroke-width="1.3" marker-end="url(#lh)"/>` +
      `<text x="${(xs[0] + xs[1]) / 2}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle" paint-order="stroke" stroke="#fff" stroke-width="3">${esc(label)}</text></g>`;
  };
  for (const p of pairs) {
    const sender = rows[p.from].side;
    out += segment(xs[sender], y(p.from), xs[1 - sender], y(p.to), p.l);
  }
  rows.forEach((r, k) => {
    const l = r.l;
    if (l.kind === 'segment') {
      // A segment whose other end was not seen: drawn from this side's
      // lifeline, shown on the chosen connection's side only.
      if (paired.has(k) || (r.side === 1 && c.segments > 0)) return;
      const sends = l.dir === 'out';
      const [x1, x2] = sends ? [xs[r.side], xs[1 - r.side]] : [xs[1 - r.side], xs[r.side]];
      out += segment(x1, y(k) - 6, x2, y(k) + 6, l);
      return;
    }
    const x = xs[r.side];
    const anchor = r.side === 0 ? 'start' : 'end';
    const dx = r.side === 0 ? 9 : -9;
    out += `<g class="ladder-state" data-state="${esc(l.to)}"><rect x="${x - 5}" y="${y(k) - 7}" width="10" height="10" fill="${colours[r.side]}"/>` +
      `<text x="${x + dx}" y="${y(k) + 2}" text-anchor="${anchor}"><tspan font-weight="bold">${esc(l.to)}</tspan> <tspan fill="#555">${esc(l.event)}</tspan></text></g>`;
  });
  out += '</svg>';
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
  box.innerHTML = out;
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// ---- Playback of a trace ----------------------------------------------

function openPlayback(name, lines, stats) {
  stopPlay();
  playback = { name, lines, cursor: 0, timer: null, stats };
  chosen = null;
  sides = [];
  $('trace-name').textContent = name;
  renderWatch();
}

function step(d) {
  if (!playback) return;
  playback.cursor = Math.max(0, Math.min(playback.lines.length, playback.cursor + d));
  renderWatch();
}

function stopPlay() {
  if (playback && playback.timer) { clearInterval(playback.timer); playback.timer = null; }
}

function togglePlay() {
  if (!playback) return;
  if (playback.timer) { stopPlay(); renderWatch(); return; }
  if (playback.cursor >= playback.lines.length) playback.cursor = 0;
  playback.timer = setInterval(() => {
    if (playback.cursor >= playback.lines.length) { stopPlay(); renderWatch(); return; }
    step(1);
  }, 700);
  renderWatch();
}

$('pb-first').onclick = () => { playback.cursor = 0; renderWatch(); };
$('pb-prev').onclick = () => step(-1);
$('pb-next').onclick = () => step(1);
$('pb-last').onclick = () => { playback.cursor = playback.lines.length; renderWatch(); };
$('pb-play').onclick = togglePlay;
$('pb-live').onclick = () => {
  stopPlay();
  playback = null;
  chosen = null;
  sides = [];
  $('trace-name').textContent = '';
  renderWatch();
};
$('pb-live').hidden = !SERVE;

$('trace-file').onchange = async (e) => {
  const f = e.target.files[0];
  if (!f) return;
  const text = await f.text();
  const trimmed = text.trim();
  if (trimmed.startsWith('{') && trimmed.includes('"sequences"')) {
    try { openTour(JSON.parse(trimmed)); return; } catch (_) { /* a trace, then */ }
  }
  try {
    const r = await fetch('/api/annotate', { method: 'POST', body: text });
    const a = await r.json();
    if (!r.ok) { status('trace: ' + a.error, true); return; }
    openPlayback(f.name, a.lines, a.stats);
  } catch (err) { status('the server does not answer', true); }
};

// ---- Start ------------------------------------------------------------

function connectEvents() {
  const es = new EventSource('/events');
  es.addEventListener('spec', (e) => {
    const s = JSON.parse(e.data);
    if (!spec || s.version !== spec.version) applySpec(s);
  });
  es.addEventListener('watch', (e) => {
    const d = JSON.parse(e.data);
    live.stats = d.stats;
    if (d.line) live.lines.push(d.line);
    // While a trace is on show, live lines wait for the return to live.
    if (!playback) renderWatch();
  });
  es.onerror = () => status('reconnecting to the server…', true);
  es.onopen = () => { if (spec) status(spec.ok ? 'live: redrawn at each save' : 'the spec has errors: the last good figure is shown', !spec.ok); };
}

if (SERVE) {
  loadSpec().then(async () => {
    connectEvents();
    try {
      const r = await fetch('/api/trace');
      if (r.ok) { const a = await r.json(); openPlayback(a.name, a.lines, a.stats); }
    } catch (_) { /* no trace */ }
  });
} else {
  $('trace-controls').hidden = true;
  $('diag-pane').hidden = true;
  applySpec(DATA.spec);
  openPlayback(DATA.trace.name, DATA.trace.lines, DATA.trace.stats);
  togglePlay();
}
