// Baton's web dashboard: plain JavaScript, no build step. The page polls the JSON API every
// two seconds and draws tables with textContent only (never HTML from data). Actions send
// the admin token in the Authorization header; the token is asked for once and kept in this
// tab's sessionStorage.
"use strict";

const REFRESH_MS = 2000;
let paused = false;
let admin = false;

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

function fill(table, header, rows) {
  table.replaceChildren();
  const head = el("tr");
  for (const name of header) head.append(el("th", name));
  table.append(head);
  if (rows.length === 0) {
    const row = el("tr");
    row.append(el("td", "(none)", { class: "empty", colspan: String(header.length) }));
    table.append(row);
    return;
  }
  for (const cells of rows) {
    const row = el("tr");
    for (const cell of cells) {
      const td = el("td");
      if (cell instanceof Node) td.append(cell); else td.textContent = cell ?? "";
      row.append(td);
    }
    table.append(row);
  }
}

function time(ms) { return ms ? new Date(ms).toISOString() : "-"; }
function secs(ms) { return (ms / 1000).toFixed(1) + " s"; }
function jobLink(key) { return el("a", key, { href: "/job?key=" + encodeURIComponent(key) }); }

function token() {
  let value = sessionStorage.getItem("baton-admin-token");
  if (!value) {
    value = window.prompt("Admin token (see baton serve --admin-token-file)");
    if (value) sessionStorage.setItem("baton-admin-token", value.trim());
  }
  return value ? value.trim() : null;
}

async function act(body) {
  const result = document.getElementById("result");
  const secret = token();
  if (!secret) { result.textContent = "no token given"; return; }
  const response = await fetch("/api/action", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": "Bearer " + secret },
    body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({ error: response.statusText }));
  if (response.status === 401) sessionStorage.removeItem("baton-admin-token");
  result.textContent = response.ok
    ? `${reply.action}: ${reply.changed} of ${reply.matched} changed` +
      (reply.results.length ? " · " + reply.results.map((r) => `${r.key}: ${r.detail}`).join(" · ") : "")
    : "refused: " + reply.error;
  refresh();
}

function actionButton(label, body) {
  const button = el("button", label, { type: "button" });
  button.addEventListener("click", () => act(body));
  return button;
}

async function refreshDashboard() {
  const filter = document.getElementById("filter").value;
  const response = await fetch("/api/snapshot?filter=" + encodeURIComponent(filter));
  const snap = await response.json();
  if (!response.ok) throw new Error(snap.error || response.statusText);
  admin = snap.admin;
  document.getElementById("admin").hidden = !admin;
  document.getElementById("mode").textContent = admin ? "admin actions enabled" : "read-only";
  const states = Object.entries(snap.counts.states).map(([s, n]) => `${s} ${n}`).join(" · ");
  document.getElementById("counts").textContent =
    `jobs ${snap.counts.total} · ${states} · ${snap.counts.jobs_per_second.toFixed(1)}/s · store ${snap.store_ms.toFixed(1)} ms`;
  fill(document.getElementById("running"), ["job", "kind", "age", "holder", "attempt", ""],
    snap.running.map((r) => [jobLink(r.key), r.kind, secs(r.age_ms), r.holder, r.attempt,
      admin ? actionButton("Recover", { action: "recover", keys: [r.key] }) : ""]));
  fill(document.getElementById("waiting"), ["job", "state", "reason", ""],
    snap.waiting.map((w) => [jobLink(w.key), w.state, w.reason_text,
      admin ? actionButton("Cancel", { action: "cancel", keys: [w.key] }) : ""]));
  fill(document.getElementById("failures"), ["job", "failed", "error", "rerun", ""],
    snap.failures.map((f) => [jobLink(f.key), time(f.at), f.error, el("code", f.rerun),
      admin ? actionButton("Retry", { action: "retry", keys: [f.key] }) : ""]));
  fill(document.getElementById("workers"), ["host", "role", "last heartbeat", "state", "owner"],
    snap.workers.map((w) => [w.host, w.role, secs(snap.at - w.last_beat) + " ago", w.state, w.owner]));
  fill(document.getElementById("limits"), ["key", "held", "cap", "today", "quota", "left", "parked until"],
    snap.limits.map((l) => [l.key, l.held, l.cap ?? "-", l.used_today, l.quota ?? "-", l.left_today ?? "-",
      l.parked ? time(l.parked.until) + " (" + l.parked.reason + ")" : "-"]));
}

async function refreshJob() {
  const key = new URLSearchParams(location.search).get("key") || "";
  document.getElementById("key").textContent = key;
  const [jobResponse, snapResponse] = await Promise.all([
    fetch("/api/job?key=" + encodeURIComponent(key)),
    fetch("/api/snapshot?filter=%00"),
  ]);
  const data = await jobResponse.json();
  if (!jobResponse.ok) throw new Error(data.error || jobResponse.statusText);
  admin = (await snapResponse.json()).admin;
  document.getElementById("admin").hidden = !admin;
  const job = data.job;
  fill(document.getElementById("fields"), ["field", "value"], [
    ["state", job.state], ["kind", job.kind], ["plugin", job.plugin ?? "(configured chain)"],
    ["attempts", `${job.attempts}/${job.max_attempts} · recoveries ${job.recoveries}`],
    ["holder", job.lease_owner ?? "-"], ["waiting", data.wait_reason ?? "-"],
    ["error", job.last_error ?? "-"], ["rerun", data.rerun ?? "-"],
    ["created", time(job.created_at)], ["changed", time(job.updated_at)],
  ]);
  document.getElementById("payload").textContent = JSON.stringify(job.payload, null, 2);
  fill(document.getElementById("attempts"), ["attempt", "started", "finished", "outcome", "detail"],
    data.attempts.map((a) => [a.attempt, time(a.started_at), time(a.finished_at), a.outcome ?? "running", a.detail ?? ""]));
  document.getElementById("events").textContent = data.events.map((e) => JSON.stringify(e)).join("\n");
  document.getElementById("log").textContent = data.log
    ? `${data.log.path}${data.log.cut ? " (last 64 KiB)" : ""}\n\n${data.log.text}`
    : "(no log for this job)";
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    if (document.body.dataset.page === "job") await refreshJob(); else await refreshDashboard();
    status.textContent = paused ? "paused" : "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    status.textContent = "cannot refresh: " + error.message;
  }
}

function start() {
  const pause = document.getElementById("pause");
  if (pause) {
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      pause.classList.toggle("paused", paused);
      if (!paused) refresh();
    });
  }
  const filter = document.getElementById("filter");
  if (filter) filter.addEventListener("input", () => refresh());
  for (const button of document.querySelectorAll("[data-bulk]")) {
    button.addEventListener("click", () =>
      act({ action: button.dataset.bulk, filter: document.getElementById("filter").value }));
  }
  for (const button of document.querySelectorAll("[data-one]")) {
    button.addEventListener("click", () =>
      act({ action: button.dataset.one, keys: [new URLSearchParams(location.search).get("key")] }));
  }
  refresh();
  setInterval(() => { if (!paused) refresh(); }, REFRESH_MS);
}

start();
