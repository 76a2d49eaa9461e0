//! `baton serve [--listen 127.0.0.1:8080] [--admin-token-file FILE]`: the web dashboard —
//! the terminal dashboard's views (`GET /`, data at `GET /api/snapshot`), a job page
//! (`GET /job?key=K`, data at `GET /api/job?key=K`: payload, attempts, ledger events, the
//! job's log when there is one), Prometheus metrics (`GET /metrics`) and, only with an admin
//! token, actions (`POST /api/action`: retry, cancel or recover one job, a list, or every
//! job matching a filter). The page is plain HTML and JavaScript written for Baton and
//! embedded in the binary; it refreshes itself every two seconds.
//!
//! Safety: loopback only unless `--listen` says otherwise; requests whose `Host` is not the
//! address served are refused (DNS rebinding); actions need `Authorization: Bearer TOKEN`
//! (a header a cross-site form cannot send, and no cookie), compared in constant time, and
//! each is one line in the audit log under the token's name.

mod metrics;

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, Format, INFO};
use anyhow::{Context, anyhow};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use baton_core::clock::now_ms;
use baton_core::model::JobState;
use baton_core::store::{Store, commit};
use baton_engine::audit::{Actor, AuditLog};
use baton_engine::dashboard;
use baton_engine::recover::{self, Selection};
use baton_engine::settings::Settings;
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const INDEX_HTML: &str = include_str!("index.html");
const JOB_HTML: &str = include_str!("job.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Most jobs one filtered action touches.
const MAX_ACTION_JOBS: usize = 10_000;
/// The tail of a job log the job page shows, in bytes.
const LOG_TAIL_BYTES: u64 = 64 << 10;

pub const AFTER_HELP: &str = "\
Examples:
  baton serve                                        # read-only, http://127.0.0.1:8080/
  baton serve --listen 127.0.0.1:9000 --admin-token-file ~/.config/baton/admin.token
  curl -s http://127.0.0.1:8080/metrics              # Prometheus text format

The token file holds one line (at least 16 characters) and must not be readable by others
(chmod 600). The page asks for the token once per tab and sends it as
`Authorization: Bearer TOKEN`; actions are recorded in .baton/audit/ as `token:NAME`.";

/// `serve`'s arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; loopback unless you choose otherwise (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Enables the retry, cancel and recover actions for holders of the token in FILE.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// The token's name in the audit log.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    admin_token_name: String,
}

/// An admin token and its name.
struct Admin {
    name: String,
    token: String,
}

/// What every request handler shares.
struct App {
    store: Mutex<Box<dyn Store>>,
    settings: Settings,
    admin: Option<Admin>,
    metrics: Mutex<metrics::Metrics>,
    /// `Host` values accepted (empty: any, when not listening on loopback).
    hosts: Vec<String>,
}

type Shared = Arc<App>;

/// Reads and checks the admin token file.
fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the admin token file {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(anyhow!(
            "the admin token file {} is readable by others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the admin token file {}", path.display()))?;
    let token = text.trim().to_string();
    if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(anyhow!(
            "the admin token in {} must be one line of at least 16 characters without spaces \
             (e.g. `openssl rand -hex 24 > {}`)",
            path.display(),
            path.display()
        ));
    }
    Ok(token)
}

pub async fn run(args: &ServeArgs, settings: &Settings, format: Format) -> CliResult {
    let admin = match &args.admin_token_file {
        Some(path) => Some(Admin {
            name: args.admin_token_name.clone(),
            token: read_token(&settings.cwd.join(path)).map_err(usage)?,
        }),
        None => None,
    };
    let store = crate::open::store(settings)?;
    let seq = store.last_seq().map_err(runtime)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| runtime(anyhow!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener.local_addr().map_err(runtime)?;
    let port = local.port();
    let hosts = if local.ip().is_loopback() {
        vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            local.to_string(),
        ]
    } else {
        Vec::new()
    };
    let app = Arc::new(App {
        store: Mutex::new(store),
        settings: settings.clone(),
        admin,
        metrics: Mutex::new(metrics::Metrics::new(seq)),
        hosts,
    });
    let url = format!("http://{local}/");
    if format == Format::Json {
        output::json(&json!({"listening": local.to_string(), "url": url,
                             "admin": app.admin.is_some()}));
    } else {
        println!(
            "{INFO} serving the dashboard at {url} ({}); Ctrl-C stops",
            if app.admin.is_some() {
                "actions enabled for the admin token"
            } else {
                "read-only"
            }
        );
    }
    let router = Router::new()
        .route("/", get(|| async { html(INDEX_HTML) }))
        .route("/job", get(|| async { html(JOB_HTML) }))
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    APP_JS,
                )
            }),
        )
        .route(
            "/style.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    STYLE_CSS,
                )
            }),
        )
        .route("/api/snapshot", get(snapshot))
        .route("/api/job", get(job))
        .route("/api/action", post(action))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            check_host,
        ))
        .with_state(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| runtime(anyhow!("the dashboard server failed: {e}")))?;
    Ok(Exit::Success)
}

fn html(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// Refuses requests for another host name (a DNS rebinding page) when serving loopback.
async fn check_host(
    State(app): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !app.hosts.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !app.hosts.iter().any(|h| h == host) {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                format!("this server answers only for {}", app.hosts.join(", ")),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// A JSON error reply.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// Runs `work` on the store off the async threads.
async fn with_store<R: Send + 'static>(
    app: &Shared,
    work: impl FnOnce(&mut dyn Store, &Settings) -> anyhow::Result<R> + Send + 'static,
) -> Result<R, Response> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = app.store.lock().unwrap_or_else(|p| p.into_inner());
        work(&mut **store, &app.settings)
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")))
}

#[derive(Deserialize)]
struct FilterQuery {
    #[serde(default)]
    filter: String,
}

async fn snapshot(State(app): State<Shared>, Query(query): Query<FilterQuery>) -> Response {
    let admin = app.admin.is_some();
    match with_store(&app, move |store, settings| {
        Ok(dashboard::snapshot(&*store, settings, now_ms())?.filtered(&query.filter))
    })
    .await
    {
        Ok(snap) => {
            let mut value = serde_json::to_value(&snap).unwrap_or(Value::Null);
            value["admin"] = json!(admin);
            axum::Json(value).into_response()
        }
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}

/// The last 64 KiB or so of the job's log (`.baton/logs/<job>.log`, or its run's stage log for
/// a stage job; see `baton_engine::logfile`), when it exists.
fn job_log(settings: &Settings, job: &baton_core::model::Job) -> Option<Value> {
    use std::io::{Read, Seek, SeekFrom};
    let path = baton_engine::logfile::log_path_of(&settings.state_dir, job);
    let mut file = std::fs::File::open(&path).ok()?;
    let size = file.metadata().ok()?.len();
    let start = size.saturating_sub(LOG_TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(json!({
        "path": path.display().to_string(),
        "size": size,
        "cut": start > 0,
        "text": String::from_utf8_lossy(&bytes),
    }))
}

async fn job(State(app): State<Shared>, Query(query): Query<KeyQuery>) -> Response {
    let result = with_store(&app, move |store, settings| {
        let key = baton_engine::queue::doi::idempotency_key(&query.key);
        let Some(job) = store.job(&key)? else {
            return Ok(None);
        };
        let attempts = store.attempts(job.id)?;
        let events = store.job_events(job.id, 200)?;
        let log = job_log(settings, &job);
        let wait = crate::job::wait_reason(&job, now_ms());
        let rerun = (job.state == JobState::Failed).then(|| dashboard::rerun_command(&job));
        Ok(Some(json!({
            "job": job, "wait_reason": wait, "attempts": attempts, "events": events,
            "log": log, "rerun": rerun,
        })))
    })
    .await;
    match result {
        Ok(Some(value)) => axum::Json(value).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such job"),
        Err(response) => response,
    }
}

async fn metrics(State(app): State<Shared>) -> Response {
    let app2 = app.clone();
    let result = with_store(&app, move |store, _| {
        let mut metrics = app2.metrics.lock().unwrap_or_else(|p| p.into_inner());
        metrics.render(&*store, now_ms())
    })
    .await;
    match result {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(response) => response,
    }
}

/// `POST /api/action`'s body: what to do, to which jobs.
#[derive(Debug, Deserialize)]
struct ActionRequest {
    /// `retry`, `cancel` or `recover`.
    action: String,
    /// These jobs …
    #[serde(default)]
    keys: Vec<String>,
    /// … or every job in `state` (default: the states the action applies to) whose key
    /// contains `filter`.
    filter: Option<String>,
    state: Option<String>,
    /// `recover` only: also jobs whose holder looks alive.
    #[serde(default)]
    force: bool,
}

/// Whether `given` equals `want`, in time independent of where they differ.
fn same_token(given: &str, want: &str) -> bool {
    let (a, b) = (given.as_bytes(), want.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, byte) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ byte);
    }
    diff == 0
}

async fn action(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(admin) = &app.admin else {
        return error(
            StatusCode::FORBIDDEN,
            "this dashboard is read-only: start `baton serve` with --admin-token-file",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_token(given, &admin.token) {
        return error(
            StatusCode::UNAUTHORIZED,
            "the admin token is missing or wrong (send Authorization: Bearer TOKEN)",
        );
    }
    let request: ActionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad request body: {e}")),
    };
    if !matches!(request.action.as_str(), "retry" | "cancel" | "recover") {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown action `{}` (retry, cancel, recover)",
                request.action
            ),
        );
    }
    let state = match request.state.as_deref().map(str::parse::<JobState>) {
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
        Some(Ok(state)) => Some(state),
        None => None,
    };
    if request.keys.is_empty() && request.filter.is_none() {
        return error(StatusCode::BAD_REQUEST, "name `keys` or a `filter`");
    }
    let who = Actor::Token(admin.name.clone());
    let result = with_store(&app, move |store, settings| {
        let results = act(store, settings, &request, state)?;
        let summary = json!({
            "action": request.action,
            "matched": results.len(),
            "changed": results.iter().filter(|r| r["ok"] == true).count(),
            "results": results,
        });
        AuditLog::new(&settings.state_dir).record(
            &who,
            &format!("dashboard.{}", request.action),
            json!({"keys": request.keys, "filter": request.filter,
                   "state": request.state, "force": request.force}),
            json!({"matched": summary["matched"], "changed": summary["changed"]}),
        )?;
        Ok(summary)
    })
    .await;
    match result {
        Ok(summary) => axum::Json(summary).into_response(),
        Err(response) => response,
    }
}

/// Applies an action; one result per job: `{"key", "ok", "detail"}`.
fn act(
    store: &mut dyn Store,
    settings: &Settings,
    request: &ActionRequest,
    state: Option<JobState>,
) -> anyhow::Result<Vec<Value>> {
    let keys: Vec<String> = if request.keys.is_empty() {
        let needle = request.filter.clone().unwrap_or_default().to_lowercase();
        let states: Vec<JobState> = match (state, request.action.as_str()) {
            (Some(state), _) => vec![state],
            (None, "retry") => vec![JobState::Failed, JobState::Cancelled],
            (None, "recover") => vec![JobState::Running],
            (None, _) => vec![JobState::Blocked, JobState::Queued, JobState::Running],
        };
        let mut keys = Vec::new();
        for state in states {
            for job in store.list(Some(state), MAX_ACTION_JOBS)? {
                if job.key.to_lowercase().contains(&needle) {
                    keys.push(job.key);
                }
            }
        }
        keys
    } else {
        request
            .keys
            .iter()
            .map(|k| baton_engine::queue::doi::idempotency_key(k))
            .collect()
    };
    let now = now_ms();
    let mut results = Vec::with_capacity(keys.len());
    match request.action.as_str() {
        "retry" => {
            for key in keys {
                let before = commit(store, now, |tx| tx.retry(&key))?;
                let ok = matches!(before, Some(JobState::Failed | JobState::Cancelled));
                let detail = match before {
                    None => "no such job".to_string(),
                    Some(state) if ok => format!("was {state}; queued again"),
                    Some(state) => format!("is {state}: only failed or cancelled jobs retry"),
                };
                results.push(json!({"key": key, "ok": ok, "detail": detail}));
            }
        }
        "cancel" => {
            for key in keys {
                let before = commit(store, now, |tx| tx.cancel(&key))?;
                let ok = before.is_some_and(|s| !s.is_final());
                let detail = match before {
                    None => "no such job".to_string(),
                    Some(state) if ok => format!("was {state}; cancelled"),
                    Some(state) => format!("is {state}: it has ended"),
                };
                results.push(json!({"key": key, "ok": ok, "detail": detail}));
            }
        }
        _ => {
            let lease_ms = settings.queue.lease.as_millis() as i64;
            for key in keys {
                let selection = Selection::One(key.clone());
                let Some(mut plan) =
                    recover::plan(&*store, &selection, request.force, now, lease_ms)?
                else {
                    results.push(json!({"key": key, "ok": false, "detail": "no such job"}));
                    continue;
                };
                if let Some(idle) = &plan.not_running {
                    results.push(json!({"key": key, "ok": false,
                        "detail": format!("is {}, not running", idle.state)}));
                    continue;
                }
                recover::apply(store, &mut plan, now)?;
                for c in &plan.candidates {
                    let ok = c.applied == Some(true);
                    let detail = if ok {
                        format!("recovered: {}", c.holder.describe())
                    } else if !c.recover {
                        format!("left: {} (force to take it)", c.holder.describe())
                    } else {
                        "it ended meanwhile".to_string()
                    };
                    results.push(json!({"key": c.key, "ok": ok, "detail": detail}));
                }
            }
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("0123456789abcdef", "0123456789abcdef"));
        assert!(!same_token("0123456789abcdeX", "0123456789abcdef"));
        assert!(!same_token("0123456789abcdef0", "0123456789abcdef"));
        assert!(!same_token("", "0123456789abcdef"));
    }
}
