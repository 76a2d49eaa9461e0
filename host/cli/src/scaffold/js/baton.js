// What every Baton plugin written in JavaScript needs, over the bindings componentize-js
// generates from the WIT:
//
// - JSON: settings(text), payload(request) and jsonObject(text, what) read the JSON objects
//   the host sends as text, failing with a clear `fatal` when they are not objects.
// - Failures: `throw fatal(reason)`, `skip(reason)` or `retry(reason, afterMs)` from a
//   resolver or a stage; an agent throws authFailed, rateLimited, quotaExhausted, overloaded,
//   timeout, badRequest or agentFatal. A thrown value with a `payload` is how a WIT `result`
//   fails in componentize-js; any other exception is a bug the host reports.
// - Logging: trace/debug/info/warn/error(message, fields) go into the job's log.
// - HTTP: `fetch` is wasi:http underneath; getJson(url) maps an API's statuses to failures.
//   Exports may be `async` (componentize-js runs the event loop until they settle). The
//   operator must grant the hosts (`http` in describe(), `[plugins.NAME.grants]`).
//
// Type mapping (jco): records are objects with camelCase fields, variants are
// `{ tag: "kebab-name", val }`, enums are strings, `option<T>` is the value or `undefined`,
// u64 is a BigInt (e.g. `afterMs: 1500n`), lists are arrays.
import { emit } from "baton:plugin/log@0.2.0";

/** A failure a WIT `result` returns: throw it. */
export class Failure extends Error {
  constructor(payload) {
    super(`${payload.tag}: ${typeof payload.val === "string" ? payload.val : payload.val.reason ?? payload.val.message}`);
    Object.defineProperty(this, "payload", { value: payload, enumerable: true });
  }
}

const bigint = (ms) => (ms === undefined || ms === null ? undefined : BigInt(ms));

/** The input can never succeed; the job ends `failed`. */
export const fatal = (reason) => new Failure({ tag: "fatal", val: reason });
/** Nothing to do for this input; the job ends `skipped`. */
export const skip = (reason) => new Failure({ tag: "skip", val: reason });
/** Transient: tried again later; `afterMs` (e.g. a Retry-After) makes the wait a snooze. */
export const retry = (reason, afterMs) =>
  new Failure({ tag: "retry", val: { reason, afterMs: bigint(afterMs) } });

/** Agents: the credential was refused; name the variable or login command that fixes it. */
export const authFailed = (message) => new Failure({ tag: "auth-failed", val: message });
/** Agents: a per-minute limit ("requests" or "tokens"); resetAtMs is Unix epoch ms. */
export const rateLimited = (message, { scope = "requests", resetAtMs } = {}) =>
  new Failure({ tag: "rate-limited", val: { scope, message, resetAtMs: bigint(resetAtMs) } });
/** Agents: a daily or monthly allowance is used up. */
export const quotaExhausted = (message, { resetAtMs } = {}) =>
  new Failure({ tag: "quota-exhausted", val: { scope: "quota", message, resetAtMs: bigint(resetAtMs) } });
/** Agents: the provider is overloaded (529/503); afterMs when it said how long. */
export const overloaded = (reason, afterMs) =>
  new Failure({ tag: "overloaded", val: { reason, afterMs: bigint(afterMs) } });
/** Agents: the provider or program did not answer in time. */
export const timeout = (reason) => new Failure({ tag: "timeout", val: reason });
/** Agents: the request can never succeed as sent (unknown model, context too long). */
export const badRequest = (reason) => new Failure({ tag: "bad-request", val: reason });
/** Agents: anything else that cannot succeed. */
export const agentFatal = (reason) => new Failure({ tag: "fatal", val: reason });

/** Parses a JSON object sent as text (empty text is {}); throws `fatal` naming `what`. */
export function jsonObject(text, what) {
  if (!text.trim()) return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw fatal(`${what} is not JSON: ${e.message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw fatal(`${what} must be a JSON object`);
  }
  return value;
}

/** The plugin's settings from the operator's config. */
export const settings = (text) => jsonObject(text, "settings");
/** A resolver's artifact payload as an object. */
export const payload = (request) => jsonObject(request.artifact.payload, "payload");

const log = (level) => (message, fields = {}) =>
  emit(level, message, Object.entries(fields).map(([key, value]) => ({ key, value: String(value) })));
export const trace = log("trace");
export const debug = log("debug");
export const info = log("info");
export const warn = log("warn");
export const error = log("error");

/** The failure an API's status means, or undefined for 2xx: 404/410 → skip, 429 and 503 →
 * retry after Retry-After (seconds), other 5xx → retry, anything else → fatal. */
export function failureForStatus(url, status, headers) {
  if (status >= 200 && status < 300) return undefined;
  if (status === 404 || status === 410) return skip(`${url}: not found (HTTP ${status})`);
  if (status === 429 || status === 503) {
    const after = headers.get("retry-after");
    return retry(`${url}: HTTP ${status}`, after && /^\d+$/.test(after) ? Number(after) * 1000 : undefined);
  }
  if (status >= 500) return retry(`${url}: HTTP ${status}`);
  return fatal(`${url}: HTTP ${status}`);
}

/** GETs `url` asking for JSON. A status other than 2xx throws failureForStatus's failure; no
 * response at all throws `retry` (or `fatal` when the host refused the request: a grant is
 * missing). */
export async function getJson(url, headers = {}) {
  let response;
  try {
    response = await fetch(url, { headers: { accept: "application/json", ...headers } });
  } catch (e) {
    const reason = `${url}: ${e.message ?? e}`;
    throw /denied|not allowed/i.test(reason) ? fatal(`${reason} (grant the host in [plugins.NAME.grants] http)`) : retry(reason);
  }
  const failure = failureForStatus(url, response.status, response.headers);
  if (failure) throw failure;
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fatal(`${url} did not answer JSON: ${e.message}`);
  }
}
