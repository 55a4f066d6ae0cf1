// Daub's label-map painter: runs as gr.HTML's js_on_load (element, trigger, props, watch are given).
// The picture is an array of class ids at the model's resolution; the canvas shows it in exact paint
// colours (no anti-aliasing). One value is sent per finished stroke / fill / clear / undo / redo: a
// lossless colour PNG of the whole map. Undo history lives here; the server never loses a stroke.
// Objects mode (O): every stroke or fill of a *thing* class (people, cars, windows) starts a new object;
// the object ids travel beside the map as a second PNG (id = G * 256 + B), so two people painted next to
// each other stay two people.
const root = element.querySelector('.daub-painter');
root.innerHTML = `
  <div class="dp-main">
    <div class="dp-bar">
      <span class="dp-group" role="group" aria-label="tool">
        <button type="button" data-tool="brush" class="on" title="Brush (B)">Brush</button>
        <button type="button" data-tool="fill" title="Fill a region (F)">Fill</button>
        <button type="button" data-tool="eraser" title="Eraser: uncovers the starting map (E)">Eraser</button>
      </span>
      <label class="dp-sizebox" title="Brush size in label pixels ([ and ])">Size
        <input type="range" class="dp-size" min="1" max="64" value="12"><span class="dp-size-val">12</span></label>
      <span class="dp-group">
        <button type="button" data-action="undo" title="Undo (Ctrl+Z)">Undo</button>
        <button type="button" data-action="redo" title="Redo (Ctrl+Shift+Z)">Redo</button>
        <button type="button" data-action="clear" title="Clear to the fill class">Clear</button>
      </span>
      <button type="button" data-action="objects" class="dp-objects" aria-pressed="false"
        title="Objects mode (O): each stroke of a thing class (person, car, window…) is a new object">Objects</button>
    </div>
    <div class="dp-stage"><canvas class="dp-canvas"></canvas><div class="dp-cursor"></div></div>
    <div class="dp-status" aria-live="polite"></div>
  </div>
  <div class="dp-side">
    <input type="search" class="dp-search" placeholder="Find a class…" title="Type to filter, Enter picks the first" aria-label="find a class">
    <div class="dp-swatches" role="listbox" aria-label="classes"></div>
  </div>`;

const canvas = root.querySelector('.dp-canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true });
const stage = root.querySelector('.dp-stage');
const cursor = root.querySelector('.dp-cursor');
const sizeInput = root.querySelector('.dp-size');
const sizeVal = root.querySelector('.dp-size-val');
const search = root.querySelector('.dp-search');
const swatchBox = root.querySelector('.dp-swatches');
const status = root.querySelector('.dp-status');

const HISTORY = 60;
const st = {
  w: 0, h: 0, ids: null, base: null, img: null, key: null, palette: null, histories: {}, classes: [], byColour: new Map(), colour: [],
  cls: null, tool: 'brush', size: 12, undo: [], redo: [], stroke: 0, drawing: false, last: null, fill: 0,
  objs: null, things: new Set(), objectsMode: false, nextObj: 0, obj: 0,
};
window.daubPainter = {  // for tests and curious users: read-only views of the painter's state
  ids: () => st.ids, size: () => st.size, cls: () => st.cls, tool: () => st.tool, sent: () => st.stroke,
  history: () => [st.undo.length, st.redo.length],
  objects: () => st.objs, objectsMode: () => st.objectsMode,
};

function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function setClasses(classes, fill, things) {
  st.classes = classes;
  st.things = new Set(things || []);
  st.fill = fill;
  st.byColour = new Map();
  st.colour = [];
  for (const c of classes) {
    const rgb = hexToRgb(c.hex);
    st.colour[c.id] = rgb;
    st.byColour.set((rgb[0] << 16) | (rgb[1] << 8) | rgb[2], c.id);
  }
  if (st.cls === null || !classes.some((c) => c.id === st.cls)) {
    st.cls = (classes.find((c) => c.id !== fill) || classes[0]).id;
  }
  renderSwatches();
}

function renderSwatches() {
  const q = search.value.trim().toLowerCase();
  swatchBox.innerHTML = '';
  let n = 0;
  for (const c of st.classes) {
    if (q && !c.name.toLowerCase().includes(q)) continue;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'dp-sw' + (c.id === st.cls ? ' sel' : '');
    b.dataset.classId = c.id;
    b.setAttribute('role', 'option');
    b.setAttribute('aria-selected', c.id === st.cls ? 'true' : 'false');
    const key = n < 10 ? String((n + 1) % 10) : '';
    b.title = c.name + (key ? ` (key ${key})` : '');
    if (st.things.has(c.id)) b.classList.add('thing');
    b.innerHTML = `<span class="dp-chip" style="background:${c.hex}"></span><span class="dp-name"></span>` +
      `<span class="dp-key">${key}</span>`;
    b.querySelector('.dp-name').textContent = c.name;
    swatchBox.appendChild(b);
    n += 1;
  }
}

function pick(id) {
  st.cls = id;
  if (st.tool === 'eraser') setTool('brush');
  renderSwatches();
  const sel = swatchBox.querySelector('.sel');
  if (sel) sel.scrollIntoView({ block: 'nearest' });
}

function setTool(tool) {
  st.tool = tool;
  root.querySelectorAll('[data-tool]').forEach((b) => b.classList.toggle('on', b.dataset.tool === tool));
}

function setObjectsMode(on) {
  st.objectsMode = on;
  const b = root.querySelector('.dp-objects');
  b.classList.toggle('on', on);
  b.setAttribute('aria-pressed', on ? 'true' : 'false');
  root.classList.toggle('objects-on', on);
}

// the object a new stroke or fill of the current class paints: a new one for a thing class in objects mode
function startObject() {
  st.obj = st.objectsMode && st.tool !== 'eraser' && st.things.has(st.cls) ? ++st.nextObj : 0;
}

function setSize(v) {
  st.size = Math.max(1, Math.min(64, Math.round(v)));
  sizeInput.value = st.size;
  sizeVal.textContent = st.size;
}

// -- drawing ---------------------------------------------------------------------------------------
function paintPixel(i, id, obj = 0) {
  st.ids[i] = id;
  if (st.objs) st.objs[i] = obj;
  const c = st.colour[id] || [0, 0, 0];
  const o = i * 4;
  st.img.data[o] = c[0]; st.img.data[o + 1] = c[1]; st.img.data[o + 2] = c[2]; st.img.data[o + 3] = 255;
}

function redraw() {
  for (let i = 0; i < st.ids.length; i++) paintPixel(i, st.ids[i], st.objs[i]);
  ctx.putImageData(st.img, 0, 0);
}

function stamp(cx, cy) {
  const r = st.size / 2;
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(st.w - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(st.h - 1, Math.ceil(cy + r));
  const r2 = st.size <= 1 ? 0.25 : r * r;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy > r2 && !(x === Math.floor(cx) && y === Math.floor(cy))) continue;
      const i = y * st.w + x;
      paintPixel(i, st.tool === 'eraser' ? st.base[i] : st.cls, st.tool === 'eraser' ? 0 : st.obj);
    }
  }
}

function line(a, b) {
  const d = Math.hypot(b[0] - a[0], b[1] - a[1]);
  const n = Math.max(1, Math.ceil(d / Math.max(0.5, st.size / 4)));
  for (let k = 1; k <= n; k++) stamp(a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n);
  ctx.putImageData(st.img, 0, 0);
}

function floodFill(x, y, id) {
  const w = st.w, h = st.h, ids = st.ids, objs = st.objs, from = ids[y * w + x], fromObj = objs[y * w + x];
  if (from === id && !st.obj) return false;
  const stack = [y * w + x];
  const seen = new Uint8Array(w * h);
  while (stack.length) {
    const i = stack.pop();
    if (seen[i] || ids[i] !== from || objs[i] !== fromObj) continue;
    seen[i] = 1;
    paintPixel(i, id, st.obj);
    const px = i % w;
    if (px > 0) stack.push(i - 1);
    if (px < w - 1) stack.push(i + 1);
    if (i >= w) stack.push(i - w);
    if (i < w * (h - 1)) stack.push(i + w);
  }
  ctx.putImageData(st.img, 0, 0);
  return true;
}

// picture coordinates of a pointer event, clamped to the picture (strokes may start in the margin)
function at(e) {
  const r = canvas.getBoundingClientRect();
  const x = ((e.clientX - r.left) / r.width) * st.w;
  const y = ((e.clientY - r.top) / r.height) * st.h;
  return [Math.min(st.w - 0.01, Math.max(0, x)), Math.min(st.h - 0.01, Math.max(0, y))];
}

// -- history and sending -----------------------------------------------------------------------------
function snapshot() {
  return { ids: st.ids.slice(), objs: st.objs.slice() };
}

function remember() {
  st.undo.push(snapshot());
  if (st.undo.length > HISTORY) st.undo.shift();
  st.redo = [];
}

// the object ids as a PNG data URL (G = id >> 8, B = id & 255), or null when no object was painted
function objectsPng() {
  if (!st.objs.some((v) => v > 0)) return null;
  const c = document.createElement('canvas');
  c.width = st.w; c.height = st.h;
  const cx = c.getContext('2d');
  const im = cx.createImageData(st.w, st.h);
  for (let i = 0; i < st.objs.length; i++) {
    im.data[i * 4 + 1] = st.objs[i] >> 8; im.data[i * 4 + 2] = st.objs[i] & 255; im.data[i * 4 + 3] = 255;
  }
  cx.putImageData(im, 0, 0);
  return c.toDataURL('image/png');
}

function send(why) {
  st.stroke += 1;
  // only what the server reads (the map, the objects) and the key of the map it sent
  const v = { key: st.key, image: canvas.toDataURL('image/png'), stroke: st.stroke, why };
  const objects = objectsPng();
  if (objects) v.objects = objects;
  props.value = v;
}

function step(from, to, why) {
  while (from.length && from[from.length - 1].ids.length !== st.w * st.h) from.pop();  // another canvas size
  if (!from.length) return;
  to.push(snapshot());
  const back = from.pop();
  st.ids = back.ids; st.objs = back.objs;
  redraw();
  send(why);
}

// -- loading what the server sends --------------------------------------------------------------------
function decode(url) {
  return new Promise((resolve, reject) => {
    const im = new Image();
    im.onload = () => {
      const c = document.createElement('canvas');
      c.width = im.width; c.height = im.height;
      const cx = c.getContext('2d', { willReadFrequently: true });
      cx.drawImage(im, 0, 0);
      const px = cx.getImageData(0, 0, im.width, im.height).data;
      const ids = new Uint16Array(im.width * im.height);
      for (let i = 0; i < ids.length; i++) {
        const id = st.byColour.get((px[i * 4] << 16) | (px[i * 4 + 1] << 8) | px[i * 4 + 2]);
        ids[i] = id === undefined ? st.fill : id;
      }
      resolve([ids, im.width, im.height]);
    };
    im.onerror = () => reject(new Error('could not decode the label map'));
    im.src = url;
  });
}

async function load(v) {
  if (!v || !v.image || v.key === st.key) return;
  const first = st.key === null;
  const palette = JSON.stringify(v.classes || []);
  const previous = st.palette;
  const samePalette = palette === previous;
  st.key = v.key;
  st.palette = palette;
  setClasses(v.classes || [], v.fill || 0, v.things);
  const [ids, w, h] = await decode(v.image);
  const [base] = v.base && v.base !== v.image ? await decode(v.base) : [ids.slice()];
  // a new map in the same palette and size is one more undo step; another palette starts a new history
  // (the history of each palette is kept: switching back to a model brings its undo steps back)
  if (!first && samePalette && st.ids && st.w === w && st.h === h) remember();
  else if (!first) {
    st.histories[previous] = { undo: st.undo, redo: st.redo };
    const kept = samePalette ? null : st.histories[palette];
    st.undo = kept ? kept.undo : [];
    st.redo = kept ? kept.redo : [];
  }
  st.w = w; st.h = h; st.ids = ids; st.base = base; st.objs = new Uint16Array(w * h);
  canvas.width = w; canvas.height = h;
  stage.style.setProperty('--aspect', `${w} / ${h}`);
  stage.style.setProperty('--ar', String(w / h));
  st.img = ctx.createImageData(w, h);
  redraw();
  status.textContent = v.note || '';
  // the first map asks for its photo through the painter's own change event, so that a stroke made
  // while that photo renders is queued behind it (latest wins) instead of racing it
  if (first) props.value = { key: st.key, image: canvas.toDataURL('image/png'), why: 'load' };
}

// -- events ------------------------------------------------------------------------------------------
function release() {  // painting takes the keyboard back from a text box or slider (keys then work)
  const a = document.activeElement;
  if (a && a !== document.body && typeof a.blur === 'function') a.blur();
}

stage.addEventListener('pointerdown', (e) => {
  if (!st.ids || e.button > 0) return;
  e.preventDefault();
  release();
  const p = at(e);
  startObject();
  if (st.tool === 'fill') {
    remember();
    if (floodFill(Math.floor(p[0]), Math.floor(p[1]), st.cls)) send('fill'); else st.undo.pop();
    return;
  }
  stage.setPointerCapture(e.pointerId);
  remember();
  st.drawing = true;
  st.last = p;
  line(p, p);
});
stage.addEventListener('pointermove', (e) => {
  moveCursor(e);
  if (!st.drawing) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  let last = st.last;
  for (const ev of events.length ? events : [e]) {
    const p = at(ev);
    line(last, p);
    last = p;
  }
  st.last = last;
});
function endStroke() {
  if (!st.drawing) return;
  st.drawing = false;
  send('stroke');
}
stage.addEventListener('pointerup', endStroke);
stage.addEventListener('pointercancel', endStroke);
stage.addEventListener('lostpointercapture', endStroke);
stage.addEventListener('pointerleave', () => { cursor.style.display = 'none'; });

function moveCursor(e) {
  if (!st.w || st.tool === 'fill') { cursor.style.display = 'none'; return; }
  const r = canvas.getBoundingClientRect(), s = stage.getBoundingClientRect();
  const d = (st.size * r.width) / st.w;
  const p = at(e);
  cursor.style.display = 'block';
  cursor.style.width = cursor.style.height = `${d}px`;
  cursor.style.left = `${r.left - s.left + (p[0] * r.width) / st.w - d / 2}px`;
  cursor.style.top = `${r.top - s.top + (p[1] * r.height) / st.h - d / 2}px`;
}

root.addEventListener('click', (e) => {
  const sw = e.target.closest('[data-class-id]');
  if (sw) { pick(Number(sw.dataset.classId)); return; }
  const tool = e.target.closest('[data-tool]');
  if (tool) { setTool(tool.dataset.tool); return; }
  const act = e.target.closest('[data-action]');
  if (!act || !st.ids) return;
  if (act.dataset.action === 'undo') step(st.undo, st.redo, 'undo');
  else if (act.dataset.action === 'redo') step(st.redo, st.undo, 'redo');
  else if (act.dataset.action === 'clear') { remember(); st.ids.fill(st.fill); st.objs.fill(0); redraw(); send('clear'); }
  else if (act.dataset.action === 'objects') setObjectsMode(!st.objectsMode);
});
sizeInput.addEventListener('input', () => setSize(Number(sizeInput.value)));
sizeInput.addEventListener('change', () => sizeInput.blur());
search.addEventListener('input', renderSwatches);
search.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    const first = swatchBox.querySelector('[data-class-id]');
    if (first) pick(Number(first.dataset.classId));
    search.value = '';
    renderSwatches();
    search.blur();
  } else if (e.key === 'Escape') { search.value = ''; renderSwatches(); }
});
document.addEventListener('keydown', (e) => {
  const t = e.target;
  if (!root.isConnected || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) return;
  const k = e.key;
  if ((e.ctrlKey || e.metaKey) && (k === 'z' || k === 'Z' || k === 'y')) {
    e.preventDefault();
    if (k === 'y' || e.shiftKey) step(st.redo, st.undo, 'redo'); else step(st.undo, st.redo, 'undo');
  } else if (e.ctrlKey || e.metaKey || e.altKey) {
    return;
  } else if (/^[0-9]$/.test(k)) {
    const list = swatchBox.querySelectorAll('[data-class-id]');
    const b = list[(Number(k) + 9) % 10];
    if (b) pick(Number(b.dataset.classId));
  } else if (k === '[') setSize(st.size - (st.size > 8 ? 2 : 1));
  else if (k === ']') setSize(st.size + (st.size >= 8 ? 2 : 1));
  else if (k === 'b') setTool('brush');
  else if (k === 'f') setTool('fill');
  else if (k === 'e') setTool('eraser');
  else if (k === 'o') setObjectsMode(!st.objectsMode);
});

watch('value', () => load(props.value));
load(props.value);
