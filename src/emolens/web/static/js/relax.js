// The relaxation operator panel: polls the chair's state, sends the operator's actions.
// The emergency stop (button or Escape anywhere) is sent at once and never waits for anything else.

import { ApiError, TOKEN_HINT, apiUrl } from "./api.js";

const TOKEN = new URLSearchParams(window.location.search).get("token") || "";
const POLL_MS = 300;
const MODALITIES = ["light", "sound", "vibration"];
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const $ = (id) => document.getElementById(id);

let last = null;
let alertsKey = "";
let historyKey = "";

async function call(path, { method = "GET", body } = {}) {
  const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError("Cannot reach the emolens server. Is `emolens serve` still running?");
  }
  if (response.status === 401) throw new ApiError(TOKEN_HINT, 401);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `the server answered ${response.status}`;
    throw new ApiError(detail, response.status);
  }
  return data;
}

function say(text, kind = "info") {
  const el = $("connection");
  el.textContent = text;
  el.dataset.kind = kind;
}

async function act(path, body, done = "") {
  try {
    render(await call(`api/v1/relax/${path}`, { method: "POST", body }));
    if (done) say(done, "ok");
    return true;
  } catch (e) {
    say(e.message, "error");
    return false;
  }
}

// --- the emergency stop ------------------------------------------------------------------------------

function emergencyStop() {
  $("estop").dataset.pressed = "true";
  act("estop").then((ok) => {
    if (ok) say("Emergency stop: every output off. Reset it to start again.", "error");
  });
}

$("estop").addEventListener("click", emergencyStop);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" || e.key === "Esc") {
    e.preventDefault();
    emergencyStop();
  }
});

// --- the session controls -------------------------------------------------------------------------------

$("start-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const child = $("child").value.trim();
  act("start", { child, scenario: $("scenario").value || null, source: $("source").value }, `Session of ${child} started.`);
});
$("pause").addEventListener("click", () => {
  const mode = last ? last.mode : "";
  act(mode === "paused" || mode === "safe" ? "resume" : "pause");
});
$("stop").addEventListener("click", () => act("stop", undefined, "Session stopped: the outputs fade out."));
$("reset").addEventListener("click", () =>
  act("reset", undefined, "Emergency stop reset. Nothing plays until a new start."),
);

async function loadOptions() {
  const options = await call("api/v1/relax/options");
  const scenario = $("scenario");
  for (const s of options.scenarios) {
    const o = document.createElement("option");
    o.value = s.name;
    o.textContent = `${s.name} (${s.minutes} min)`;
    o.title = s.description;
    scenario.append(o);
  }
  const source = $("source");
  for (const s of options.sources) {
    const o = document.createElement("option");
    o.value = s.name;
    o.textContent = `${s.name}: ${s.description}`;
    source.append(o);
  }
  const children = $("children");
  for (const c of options.children) {
    const o = document.createElement("option");
    o.value = c;
    children.append(o);
  }
}

// --- rendering ---------------------------------------------------------------------------------------------

function pct(x) {
  return `${Math.round(Math.max(0, Math.min(1, x)) * 100)}%`;
}

function bar(value, modality) {
  const outer = document.createElement("div");
  outer.className = "bar";
  const inner = document.createElement("span");
  inner.style.width = pct(value);
  if (modality) inner.dataset.modality = modality;
  outer.append(inner);
  return outer;
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  row.append(td);
  return td;
}

function render(s) {
  last = s;
  const mode = $("mode");
  mode.textContent = s.mode;
  mode.dataset.mode = s.mode;
  $("step").textContent = `${s.scenario} · ${s.step}`;
  $("child-now").textContent = s.child || "–";
  $("elapsed").textContent = s.elapsed_s == null ? "–" : `${Math.floor(s.elapsed_s / 60)}:${String(Math.floor(s.elapsed_s % 60)).padStart(2, "0")}`;
  const latched = s.mode === "estop" || s.devices.estop;
  $("reset").disabled = !latched;
  $("start").disabled = latched || s.mode === "running" || s.mode === "holding";
  $("pause").textContent = s.mode === "paused" || s.mode === "safe" ? "Resume" : "Pause";
  $("pause").disabled = !["running", "holding", "paused", "safe"].includes(s.mode);
  $("stop").disabled = ["idle", "estop"].includes(s.mode);
  $("estop").dataset.latched = String(latched);
  renderReading(s.reading);
  renderBody(s.body);
  renderDevices(s);
  renderAlerts(s.alerts, s.unacknowledged);
  renderTimeline(s.timeline);
  renderHistory(s.sessions);
}

/** The wristband's stress (the body's side), beside the face's valence; "stale" once the controller ignores it. */
function renderBody(b) {
  const bar = $("stress");
  if (!b) {
    bar.dataset.value = "";
    bar.dataset.fresh = "";
    bar.firstElementChild.style.width = "0";
    $("stress-text").textContent = "no wristband";
    return;
  }
  bar.dataset.value = b.stress.toFixed(3);
  bar.dataset.fresh = String(b.fresh);
  bar.setAttribute("aria-valuenow", b.stress.toFixed(2));
  bar.firstElementChild.style.width = pct(b.stress);
  $("stress-text").textContent = b.fresh ? `${Math.round(100 * b.stress)}%` : `${Math.round(100 * b.stress)}% (stale)`;
}

function renderReading(r) {
  const face = $("face");
  const valence = $("valence");
  if (!r || !r.has_face) {
    face.textContent = r ? "No face seen." : "No reading yet.";
    face.dataset.face = "false";
    valence.dataset.value = "";
    valence.firstElementChild.style.width = "0";
    $("valence-text").textContent = "–";
  } else {
    face.textContent = `Face seen ${r.age_s.toFixed(1)} s ago.`;
    face.dataset.face = "true";
    const v = r.valence ?? 0;
    valence.dataset.value = v.toFixed(3);
    valence.dataset.sign = v < 0 ? "negative" : "positive";
    valence.setAttribute("aria-valuenow", v.toFixed(2));
    valence.firstElementChild.style.width = pct((v + 1) / 2);
    $("valence-text").textContent = (v >= 0 ? "+" : "") + v.toFixed(2);
  }
  const list = $("probs");
  list.replaceChildren();
  for (const emotion of EMOTIONS) {
    const p = r && r.probs ? r.probs[emotion] ?? 0 : 0;
    const li = document.createElement("li");
    li.dataset.emotion = emotion;
    const name = document.createElement("span");
    name.textContent = emotion;
    const b = bar(p);
    b.firstElementChild.style.background = `var(--emo-${emotion})`;
    const out = document.createElement("output");
    out.textContent = pct(p);
    li.append(name, b, out);
    list.append(li);
  }
}

function renderDevices(s) {
  const d = s.devices;
  const summary = $("devices-summary");
  summary.dataset.allOff = String(d.all_off);
  summary.dataset.connected = String(d.connected);
  summary.dataset.estop = String(d.estop);
  summary.textContent = `${d.backend} devices, ${d.connected ? "connected" : "NOT CONNECTED"}; ${
    d.all_off ? "every output off" : "outputs running"
  }${d.estop ? "; emergency stop latched" : ""}.`;
  const body = $("outputs");
  body.replaceChildren();
  for (const m of MODALITIES) {
    const o = d.outputs[m];
    const row = document.createElement("tr");
    row.dataset.modality = m;
    row.dataset.commanded = String(s.intensity[m]);
    row.dataset.reported = o.reported == null ? "" : String(o.reported);
    row.dataset.off = String(o.off);
    cell(row, m);
    const c = cell(row, bar(s.intensity[m], m));
    c.append(` ${pct(s.intensity[m])}`);
    cell(row, o.reported == null ? "no report" : pct(o.reported));
    cell(row, o.reason || "–");
    body.append(row);
  }
  const faults = $("faults");
  faults.replaceChildren();
  for (const f of d.faults) {
    const li = document.createElement("li");
    li.dataset.kind = f.kind;
    li.textContent = f.message;
    faults.append(li);
  }
}

function renderAlerts(alerts, unacknowledged) {
  const badge = $("unack");
  badge.textContent = String(unacknowledged);
  badge.dataset.count = String(unacknowledged);
  const alarm = $("alarm");
  const open = alerts.filter((a) => !a.acknowledged);
  const top = ["high", "medium", "low"].map((p) => open.find((a) => a.priority === p)).find(Boolean);
  if (top) {
    alarm.hidden = false;
    alarm.dataset.priority = top.priority;
    alarm.textContent = `${top.priority.toUpperCase()} ALERT: ${top.message}`;
  } else {
    alarm.hidden = true;
    alarm.dataset.priority = "";
  }
  const key = alerts.map((a) => `${a.id}:${a.acknowledged}`).join(",");
  if (key === alertsKey) return;
  alertsKey = key;
  const list = $("alerts");
  list.replaceChildren();
  for (const a of alerts) {
    const li = document.createElement("li");
    li.className = "alert";
    li.dataset.id = String(a.id);
    li.dataset.kind = a.kind;
    li.dataset.priority = a.priority;
    li.dataset.acknowledged = String(a.acknowledged);
    const text = document.createElement("div");
    const msg = document.createElement("strong");
    msg.textContent = `${a.priority.toUpperCase()} · ${a.message}`;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${a.kind} · ${a.source} · ${a.at.replace("T", " ").replace("+00:00", " UTC")}`;
    text.append(msg, meta);
    li.append(text);
    if (!a.acknowledged) {
      const ack = document.createElement("button");
      ack.type = "button";
      ack.className = "ack";
      ack.textContent = "Acknowledge";
      ack.addEventListener("click", () => act(`alerts/${a.id}/ack`));
      li.append(ack);
    } else {
      const done = document.createElement("span");
      done.className = "meta";
      done.textContent = "acknowledged";
      li.append(done);
    }
    list.append(li);
  }
}

function renderTimeline(points) {
  const canvas = $("timeline");
  canvas.dataset.points = String(points.length);
  const rect = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(rect.width * dpr));
  const h = Math.max(1, Math.round(rect.height * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const css = getComputedStyle(document.documentElement);
  ctx.strokeStyle = css.getPropertyValue("--chart-grid");
  ctx.lineWidth = dpr;
  for (const y of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(0, y * (h - 1));
    ctx.lineTo(w, y * (h - 1));
    ctx.stroke();
  }
  if (points.length < 2) return;
  const t1 = points[points.length - 1].t;
  const t0 = Math.max(points[0].t, t1 - 120);
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * (w - 1);
  const series = [
    ["valence", (p) => (p.valence == null ? null : (p.valence + 1) / 2)],
    ["light", (p) => p.light],
    ["sound", (p) => p.sound],
    ["vibration", (p) => p.vibration],
  ];
  for (const [name, value] of series) {
    ctx.strokeStyle = css.getPropertyValue(`--${name}`);
    ctx.lineWidth = 2 * dpr;
    ctx.beginPath();
    let pen = false;
    for (const p of points) {
      if (p.t < t0) continue;
      const v = value(p);
      if (v == null) {
        pen = false;
        continue;
      }
      const y = (1 - v) * (h - 1);
      if (pen) ctx.lineTo(x(p.t), y);
      else ctx.moveTo(x(p.t), y);
      pen = true;
    }
    ctx.stroke();
  }
}

function renderHistory(sessions) {
  const key = sessions.map((s) => s.id).join(",");
  if (key === historyKey) return;
  historyKey = key;
  const body = $("history");
  body.replaceChildren();
  if (!sessions.length) {
    const row = document.createElement("tr");
    row.className = "empty";
    const td = cell(row, "No session yet.");
    td.colSpan = 8;
    body.append(row);
    return;
  }
  for (const s of sessions) {
    const row = document.createElement("tr");
    row.dataset.outcome = s.outcome || "";
    cell(row, String(s.id ?? ""));
    cell(row, s.child);
    cell(row, s.scenario);
    cell(row, s.started_at.replace("T", " ").replace("+00:00", " UTC"));
    cell(row, `${Math.round(s.duration_s)} s`);
    cell(row, s.outcome || "");
    cell(row, String(s.alerts));
    cell(row, s.reward == null ? "–" : (s.reward >= 0 ? "+" : "") + s.reward.toFixed(2));
    body.append(row);
  }
}

// --- polling ---------------------------------------------------------------------------------------------

let pollFailed = true;

async function poll() {
  try {
    render(await call("api/v1/relax"));
    if (pollFailed) say("Connected.", "ok");
    pollFailed = false;
  } catch (e) {
    say(e.message, "error");
    pollFailed = true;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

loadOptions()
  .catch((e) => say(e.message, "error"))
  .finally(poll);
