// conceptd dashboard: polls the /v1 JSON API and draws it. No libraries, no CDN.
"use strict";

const token = (() => {
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) { sessionStorage.setItem("conceptd-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
  return sessionStorage.getItem("conceptd-token");
})();
const headers = token ? { Authorization: "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(Number(v))) ? "–" : Number(v).toFixed(d);
const pct = (v) => (v === null || v === undefined) ? "–" : (100 * v).toFixed(1) + "%";
const dur = (s) => { s = Math.round(s); if (s < 60) return s + "s"; if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor(s % 3600 / 60) + "m"; return Math.floor(s / 86400) + "d " + Math.floor(s % 86400 / 3600) + "h"; };

const errors = new Map();
function setError(key, message) {
  if (message) errors.set(key, message); else errors.delete(key);
  const box = $("error");
  box.hidden = errors.size === 0;
  box.textContent = [...errors.values()].join(" · ");
}

async function getJSON(path) {
  const r = await fetch(path, { headers, cache: "no-store" });
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((body && body.error && body.error.message) || (r.status + " " + r.statusText) + " on " + path);
  return body;
}

const objectURLs = new Map();
async function loadImage(img, path) {
  const r = await fetch(path, { headers, cache: "no-store" });
  if (!r.ok) return false;
  const url = URL.createObjectURL(await r.blob());
  const old = objectURLs.get(img); if (old) URL.revokeObjectURL(old);
  objectURLs.set(img, url);
  img.src = url;
  return true;
}

// ---- charts -------------------------------------------------------------------------------------------------
const palette = ["#f0a030", "#4aa3ff", "#ff6b6b", "#5cd08a", "#c08cff", "#ffd84a", "#4ae0d0", "#ff9ad5"];

/** A line chart: series = [{name, points: [[x, y], ...]}]. Sets data-points on the canvas (what the tests read). */
function lineChart(container, key, title, series, opts = {}) {
  let box = container.querySelector(`[data-key="${key}"]`);
  if (!box) {
    box = el("div", "chart"); box.dataset.key = key;
    const t = el("div", "title"); t.append(el("span", "", title), el("b")); box.append(t);
    const c = el("canvas", "chart-canvas"); box.append(c); container.append(box);
  }
  const canvas = box.querySelector("canvas"), label = box.querySelector(".title b");
  const all = series.flatMap((s) => s.points.filter((p) => Number.isFinite(p[1])));
  canvas.dataset.points = String(all.length);
  const last = series.length && series[0].points.length ? series[0].points[series[0].points.length - 1][1] : null;
  label.textContent = opts.valueText ? opts.valueText(last) : fmt(last);
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 260, h = canvas.clientHeight || 120;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, h);
  if (all.length === 0) { g.fillStyle = "#8b96a3"; g.font = "12px sans-serif"; g.fillText("no data yet", 8, h / 2); return; }
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = opts.yMin !== undefined ? opts.yMin : Math.min(...all.map((p) => p[1]));
  let y1 = opts.yMax !== undefined ? opts.yMax : Math.max(...all.map((p) => p[1]));
  if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y1 += 0.5; y0 -= 0.5; }
  const pad = { l: 34, r: 6, t: 6, b: 16 };
  const X = (x) => pad.l + (x - x0) / (x1 - x0) * (w - pad.l - pad.r), Y = (y) => h - pad.b - (y - y0) / (y1 - y0) * (h - pad.t - pad.b);
  g.strokeStyle = "#2a323b"; g.fillStyle = "#8b96a3"; g.font = "10px sans-serif"; g.lineWidth = 1;
  for (const f of [0, 0.5, 1]) { const y = y0 + f * (y1 - y0); g.beginPath(); g.moveTo(pad.l, Y(y)); g.lineTo(w - pad.r, Y(y)); g.stroke(); g.fillText(fmt(y, Math.abs(y1 - y0) < 0.1 ? 3 : 2), 2, Y(y) + 3); }
  g.fillText(String(Math.round(x0)), pad.l, h - 3); g.fillText(String(Math.round(x1)), w - pad.r - 30, h - 3);
  series.forEach((s, i) => {
    g.strokeStyle = s.color || palette[i % palette.length]; g.lineWidth = 1.5; g.beginPath();
    s.points.filter((p) => Number.isFinite(p[1])).forEach((p, j) => { if (j === 0) g.moveTo(X(p[0]), Y(p[1])); else g.lineTo(X(p[0]), Y(p[1])); });
    g.stroke();
  });
  if (series.length > 1) {
    series.forEach((s, i) => { g.fillStyle = s.color || palette[i % palette.length]; g.fillText(s.name, pad.l + 4 + (i % 4) * 56, pad.t + 10 + Math.floor(i / 4) * 11); });
  }
}

// ---- sections -----------------------------------------------------------------------------------------------
function renderStatus(s) {
  const t = s.training;
  const line = $("statusline"); line.textContent = "";
  const add = (label, value) => { line.append(label + " "); line.append(el("b", "", value)); line.append("   "); };
  add("state", s.state); add("step", String(t.step)); add("loss", fmt(t.lossAverage.total));
  add("clips/s", fmt(t.clipsPerSecond, 1)); add("sources", s.sources.live + "/" + s.sources.total + " live");
  add("replay", t.replayFill + "/" + t.replayCapacity);
  add("snapshot", s.snapshot.step === null || s.snapshot.step === undefined ? "none" : "step " + s.snapshot.step + (s.snapshot.ageSeconds != null ? ", " + dur(s.snapshot.ageSeconds) + " ago" : ""));
  add("up", dur(s.uptimeSeconds)); add("model", s.model.preset + " Ks " + s.model.ks + " Kd " + s.model.kd);
  setError("snapshot", s.snapshot.error ? "last snapshot failed: " + s.snapshot.error : null);
  $("training-sub").textContent = t.localLossOn ? "L_loc on" : "warm-up: L_loc joins at step " + t.warmupSteps;
  renderCluster(s.cluster);
}

// A data-parallel job: every rank's numbers as of rank 0's last step (absent in one process).
function renderCluster(c) {
  const section = $("cluster-section");
  section.hidden = !c;
  if (!c) return;
  $("cluster-sub").textContent = c.worldSize + " ranks, one model";
  const box = $("cluster-table"); box.textContent = "";
  const t = el("table"), head = el("tr");
  for (const h of ["rank", "step", "clips/s", "sources live", "replay", "last allreduce", "data"]) head.append(el("th", "", h));
  t.append(head);
  for (const r of c.ranks) {
    const row = el("tr");
    row.append(el("td", "", String(r.rank)), el("td", "", String(r.step)), el("td", "", fmt(r.clipsPerSecond, 1)),
      el("td", "", r.sourcesLive + "/" + r.sources), el("td", "", String(r.replayFill)),
      el("td", "", fmt(r.lastAllreduceSeconds * 1000, 1) + " ms"), el("td", "", r.hasData ? "yes" : "waiting"));
    t.append(row);
  }
  box.append(t);
}

const lossTerms = [["total", "total loss"], ["aln", "L_aln"], ["loc", "L_loc"], ["fid", "L_fid"], ["div", "L_div"], ["nce", "InfoNCE v↔d"], ["nceStatic", "InfoNCE v↔s"], ["consistency", "static consistency"]];
function renderTraining(tr) {
  const points = Adapt.historyPoints(tr.history);
  const box = $("loss-charts");
  for (const [term, title] of lossTerms) {
    lineChart(box, "loss-" + term, title, [{ name: term, points: points.map((p) => [p.step, p.losses[term]]) }]);
  }
  lineChart(box, "clips", "clips/s", [{ name: "clips/s", points: points.filter((p) => p.clipsPerSecond != null).map((p) => [p.step, p.clipsPerSecond]) }], { valueText: (v) => fmt(v, 1) });
}

function renderProbe(p) {
  const table = $("probe-table"), charts = $("probe-charts");
  table.textContent = "";
  if (!p.configured) { $("probe-sub").textContent = "not configured ([probe] in the configuration)"; return; }
  const latest = p.latest;
  $("probe-sub").textContent = (latest ? "step " + latest.step + ", " + new Date(latest.time).toLocaleTimeString() : "waiting for the first probe")
    + (p.running ? " · running now" : "") + (p.lastError ? " · last error: " + p.lastError : "");
  setError("probe", p.lastError ? "probe failed: " + p.lastError : null);
  if (!latest) return;
  const rows = Adapt.probeRows(latest, p.baseline);
  const labels = [...new Set(rows.map((r) => r.label))];
  const t = el("table"), head = el("tr");
  head.append(el("th", "", "representation"));
  for (const l of labels) { head.append(el("th", "", l + " acc"), el("th", "", "gain"), el("th", "", "R@1"), el("th", "", "R@5")); }
  t.append(head);
  for (const rep of [...new Set(rows.map((r) => r.representation))]) {
    const tr = el("tr"); tr.append(el("td", "", rep));
    for (const l of labels) {
      const r = rows.find((x) => x.label === l && x.representation === rep) || {};
      const gain = r.gain;
      tr.append(el("td", "", pct(r.accuracy)), el("td", gain == null ? "" : gain >= 0 ? "gain-pos" : "gain-neg", gain == null ? "–" : (gain >= 0 ? "+" : "") + (100 * gain).toFixed(1)),
                el("td", "", pct(r.r1)), el("td", "", pct(r.r5)));
    }
    t.append(tr);
  }
  table.append(t);
  const history = p.history || [];
  for (const l of labels) {
    const reps = [...new Set(rows.map((r) => r.representation))];
    lineChart(charts, "probe-" + l, "linear probe: " + l, reps.map((rep) => ({ name: rep,
      points: history.map((h) => { const r = Adapt.probeRows(h, null).find((x) => x.label === l && x.representation === rep); return [h.step, r ? r.accuracy : NaN]; }) })),
      { yMin: 0, yMax: 1, valueText: (v) => pct(v) });
  }
}

function renderSources(list) {
  const box = $("sources");
  const seen = new Set();
  for (const s of list) {
    seen.add(s.name);
    let card = box.querySelector(`[data-source="${CSS.escape(s.name)}"]`);
    if (!card) {
      card = el("div", "card"); card.dataset.source = s.name;
      const h = el("h3"); h.append(el("span", "name"), el("span", "state")); card.append(h);
      const img = el("img"); img.alt = "attention overlay of " + s.name; card.append(img);
      const legend = el("div", "legend"); legend.append(el("span", "static", "top static concept's attention"), el("span", "dynamic", "top dynamic concept's attention")); card.append(legend);
      card.append(el("div", "tags static"), el("div", "tags dynamic"), el("div", "kv"));
      box.append(card);
    }
    const st = s.statistics;
    card.querySelector(".name").textContent = s.name + " (" + s.kind + ")";
    const state = card.querySelector(".state"); state.textContent = st.state; state.className = "state " + st.state;
    const tags = (cls, items) => { const t = card.querySelector(".tags." + cls); t.textContent = "";
      t.append(el("span", "kv", cls + ":"));
      for (const c of items) t.append(el("span", "tag " + cls, "#" + c.index + " " + fmt(c.activation, 2))); };
    const concepts = Adapt.sourceConcepts(s.concepts);
    tags("static", concepts.static); tags("dynamic", concepts.dynamic);
    card.querySelector(".kv:last-child").textContent = `${fmt(st.measuredFPS, 1)} fps · ${st.clipsMade} clips · ${st.clipsDropped} dropped · ${st.reconnects} reconnects · ${s.replayClips} in replay` + (st.lastError ? " · " + st.lastError : "");
    const img = card.querySelector("img");
    if (s.attentionPath) loadImage(img, s.attentionPath).then((ok) => { img.dataset.loaded = ok ? "1" : "0"; });
  }
  for (const card of [...box.children]) if (!seen.has(card.dataset.source)) card.remove();
  if (list.length === 0) box.textContent = "no sources configured";
}

let selected = null;
function heat(v) { // 0..1 -> dark blue .. orange
  const a = Math.max(0, Math.min(1, v));
  return `rgb(${Math.round(30 + 210 * a)}, ${Math.round(50 + 110 * a)}, ${Math.round(90 - 40 * a)})`;
}
function renderConcepts(c) {
  const box = $("concepts"); box.textContent = "";
  const branches = Adapt.branches(c);
  $("concepts-sub").textContent = branches.map((b) => `${b.name}: perplexity ${fmt(b.perplexity, 1)} of ${b.concepts.length}, ${b.concepts.filter((x) => x.dead).length} dead`).join(" · ");
  for (const b of branches) {
    box.append(el("div", "grid-title", b.name + " concepts (colour: how often in the top-K)"));
    const grid = el("div", "grid"); grid.dataset.branch = b.name;
    const maxUse = Math.max(1e-9, ...b.concepts.map((x) => x.usage));
    for (const k of b.concepts) {
      const cell = el("div", "cell" + (k.dead ? " dead" : "") + (selected && selected.branch === b.name && selected.index === k.index ? " selected" : ""));
      cell.style.background = heat(k.usage / maxUse);
      cell.append(el("span", "", "#" + k.index), el("span", "", pct(k.usage)));
      cell.title = `${b.name} #${k.index}: top-K ${pct(k.usage)}, mean activation ${fmt(k.meanActivation)}, target mass ${fmt(k.targetMass)}${k.dead ? ", dead" : ""}`;
      cell.onclick = () => { selected = { branch: b.name, index: k.index }; showConcept(); renderConcepts(c); };
      grid.append(cell);
    }
    box.append(grid);
  }
}

async function showConcept() {
  if (!selected) return;
  const box = $("concept-detail"); box.hidden = false;
  try {
    const d = await getJSON(`/v1/concepts/${selected.branch}/${selected.index}`);
    box.textContent = "";
    box.append(el("div", "grid-title", `${selected.branch} concept #${selected.index}: ` + Adapt.conceptSummary(d)));
    const gallery = el("div", "gallery");
    for (const item of Adapt.gallery(d)) {
      const img = el("img"); img.alt = "clip"; img.title = item.title; gallery.append(img);
      loadImage(img, `/v1/concepts/${selected.branch}/${selected.index}/gallery/${item.item}.png`);
    }
    if (!gallery.children.length) gallery.append(el("span", "kv", "no clips have activated it yet"));
    box.append(gallery);
  } catch (e) { box.textContent = String(e.message || e); }
}

// ---- adapters from the API's JSON to what the renderers draw --------------------------------------------------
const Adapt = {
  historyPoints: (h) => (h && h.points) || [],
  probeRows: (result, baseline) => ((result && result.rows) || []).map((r) => ({
    label: r.label, representation: r.representation, accuracy: r.accuracy, chance: r.chance,
    gain: r.gain ? r.gain.accuracy : null, r1: r.recall.r1, r5: r.recall.r5 })),
  sourceConcepts: (c) => ({ static: (c && c.static) || [], dynamic: (c && c.dynamic) || [] }),
  branches: (c) => c ? [c.static, c.dynamic].map((b) => ({
    name: b.branch, perplexity: b.perplexity,
    concepts: b.concepts.map((k) => ({ index: k.index, usage: k.frequency, meanActivation: k.meanActivation, targetMass: k.targetMass, dead: k.dead })),
  })) : [],
  conceptSummary: (d) => `top-K ${pct(d.stats.frequency)}, mean activation ${fmt(d.stats.meanActivation)}, target mass ${fmt(d.stats.targetMass)}, ${d.stats.hits} hits${d.stats.dead ? ", dead" : ""}`,
  gallery: (d) => (d.gallery || []).map((g) => ({ item: g.item, title: `${g.source} · step ${g.step} · activation ${fmt(g.activation, 2)}` })),
};

// ---- polling ------------------------------------------------------------------------------------------------
async function poll(key, path, render) {
  try { render(await getJSON(path)); setError(key, null); return true; }
  catch (e) { setError(key, key + ": " + (e.message || e)); return false; }
}

async function tick() {
  const results = await Promise.all([
    poll("status", "/v1/status", renderStatus),
    poll("training", "/v1/training", renderTraining),
    poll("sources", "/v1/sources", renderSources),
    poll("concepts", "/v1/concepts", renderConcepts),
    poll("probe", "/v1/probe", renderProbe),
  ]);
  document.body.dataset.ready = results.every(Boolean) ? "1" : "0";
  document.body.dataset.updated = String(Date.now());
}

tick();
setInterval(tick, 3000);
