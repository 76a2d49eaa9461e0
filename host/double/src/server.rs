//! The loopback server: one thread per connection (kept alive), routing
//! `POST /v1/chat/completions` to the OpenAI shape, `POST /v1/messages` to the Anthropic
//! shape, and `/double/*` to the control endpoints:
//!
//! - `GET /double/requests`: every request received, as a JSON array of records;
//! - `POST /double/mode` with `{"mode": "rpm:1500"}` and/or `{"script": ["auth", "ok"]}`:
//!   the default mode, and modes for the next requests (each used once);
//! - `POST /double/reset`: forget the records and the enforced limits' counts.
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{self, Request, Response};
use crate::mode::{self, Mode};
use crate::state::{Enforced, Record, State};
use crate::time::now_ms;
use crate::{anthropic, openai};

/// What a request asked for, read from either shape.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The API key sent.
    pub key: Option<String>,
    /// The model named.
    pub model: Option<String>,
    /// The last user message.
    pub prompt: String,
    /// How many user messages the conversation holds.
    pub turn: usize,
    /// The answer's token limit, when given.
    pub max_tokens: Option<u64>,
}

/// The limits to report in headers and messages.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    /// Requests per minute.
    pub rpm: u64,
    /// Tokens per minute.
    pub tpm: u64,
    /// Requests left in the current minute.
    pub remaining_requests: u64,
    /// Tokens left in the current minute.
    pub remaining_tokens: u64,
}

/// Which HTTP shape a request used.
#[derive(Debug, Clone, Copy)]
enum Api {
    OpenAi,
    Anthropic,
}

/// Serves on `listener` until the process ends.
pub fn serve(listener: TcpListener, state: State) {
    let state = Arc::new(Mutex::new(state));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let state = Arc::clone(&state);
        std::thread::spawn(move || {
            if let Err(error) = connection(stream, &state) {
                // A client hanging up mid-request is routine (timeouts, killed callers).
                if error.kind() == std::io::ErrorKind::InvalidData {
                    eprintln!("baton-double: bad request: {error}");
                }
            }
        });
    }
}

fn connection(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = http::read_request(&mut reader)? {
        let (response, delay) = route(&request, state);
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let close = request.wants_close();
        http::write_response(&mut writer, &response, close)?;
        if close || response.cut {
            return Ok(());
        }
    }
    Ok(())
}

/// The response to one request, and how long to wait before sending it.
fn route(request: &Request, state: &Mutex<State>) -> (Response, Option<Duration>) {
    let api = match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v1/chat/completions") => Api::OpenAi,
        ("POST", "/v1/messages") => Api::Anthropic,
        ("GET", "/double/requests") => {
            let records: Vec<Value> = lock(state).records.iter().map(Record::to_json).collect();
            return (Response::json(200, &Value::Array(records)), None);
        }
        ("POST", "/double/mode") => return (control(request, state), None),
        ("POST", "/double/reset") => {
            let mut state = lock(state);
            state.records.clear();
            let limits = state.limits.clone();
            let fresh = State::new(state.default, Vec::new(), state.key.clone(), limits);
            let record_file = state.record_file.take();
            *state = fresh;
            state.record_file = record_file;
            return (Response::json(200, &json!({"reset": true})), None);
        }
        (_, "/v1/chat/completions" | "/v1/messages") => {
            return (
                Response::json(405, &json!({"error": "use POST"})).with("allow", "POST"),
                None,
            );
        }
        (_, path) => {
            return (
                Response::json(404, &json!({"error": format!("no route {path}")})),
                None,
            );
        }
    };
    answer(api, request, state)
}

/// `POST /double/mode`.
fn control(request: &Request, state: &Mutex<State>) -> Response {
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(error) => return Response::json(400, &json!({"error": error.to_string()})),
    };
    let mode = match body["mode"].as_str().map(Mode::parse).transpose() {
        Ok(mode) => mode,
        Err(error) => return Response::json(400, &json!({"error": error})),
    };
    let script = match body["script"].as_array() {
        Some(items) => {
            let parsed: Result<Vec<Mode>, String> = items
                .iter()
                .map(|item| Mode::parse(item.as_str().unwrap_or("")))
                .collect();
            match parsed {
                Ok(script) => Some(script),
                Err(error) => return Response::json(400, &json!({"error": error})),
            }
        }
        None => None,
    };
    let mut state = lock(state);
    if let Some(mode) = mode {
        state.default = mode;
    }
    if let Some(script) = script {
        state.script = script.into();
    }
    Response::json(
        200,
        &json!({
            "mode": state.default.to_string(),
            "script": state.script.iter().map(Mode::to_string).collect::<Vec<_>>(),
        }),
    )
}

/// Answers an API request in its mode, recording it.
fn answer(api: Api, request: &Request, state: &Mutex<State>) -> (Response, Option<Duration>) {
    type Read = fn(&Request) -> Result<Asked, Response>;
    let (name, read): (&'static str, Read) = match api {
        Api::OpenAi => ("openai", openai::read),
        Api::Anthropic => ("anthropic", anthropic::read),
    };
    let asked = match read(request) {
        Ok(asked) => asked,
        Err(response) => {
            let mut state = lock(state);
            let status = i64::from(response.status);
            state.record(Record {
                at_ms: now_ms(),
                api: name,
                key: None,
                model: None,
                mode: Mode::BadRequest,
                status,
                prompt: String::new(),
                turn: 0,
            });
            return (response, None);
        }
    };
    let marker = match Mode::from_marker(&asked.prompt) {
        Ok(marker) => marker,
        Err(message) => {
            let response = match api {
                Api::OpenAi => openai::error(400, &message, "invalid_request_error", None),
                Api::Anthropic => anthropic::error(400, "invalid_request_error", &message),
            };
            return (response, None);
        }
    };
    let mut guard = lock(state);
    let mut mode = guard.next_mode(marker);
    let wrong_key = guard
        .key
        .as_ref()
        .is_some_and(|accepted| asked.key.as_ref() != Some(accepted));
    if wrong_key {
        mode = Mode::Auth;
    }
    if answers(mode) {
        let tokens = mode::tokens(&asked.prompt) + mode::tokens(&mode::answer(&asked.prompt, 1));
        match guard.admit(tokens) {
            Ok(()) => {}
            Err(Enforced::Requests(reset_ms)) => mode = Mode::Rpm { reset_ms },
            Err(Enforced::Tokens(reset_ms)) => mode = Mode::Tpm { reset_ms },
            Err(Enforced::Day(reset_ms)) => mode = Mode::Quota { reset_ms },
        }
    }
    let (reported_rpm, reported_tpm) = openai::reported_limits();
    let (remaining_requests, remaining_tokens) = guard.remaining();
    let limited = Limited {
        rpm: guard.limits.rpm.unwrap_or(reported_rpm),
        tpm: guard.limits.tpm.unwrap_or(reported_tpm),
        remaining_requests: remaining_requests.unwrap_or(reported_rpm - 1),
        remaining_tokens: remaining_tokens.unwrap_or(reported_tpm),
    };
    let response = match api {
        Api::OpenAi => openai::reply(mode, &asked, &limited),
        Api::Anthropic => anthropic::reply(mode, &asked, &limited),
    };
    guard.record(Record {
        at_ms: now_ms(),
        api: name,
        key: asked.key.clone(),
        model: asked.model.clone(),
        mode,
        status: i64::from(response.status),
        prompt: asked.prompt.clone(),
        turn: asked.turn,
    });
    let delay = match mode {
        Mode::Slow { ms } | Mode::Hang { ms } => Some(Duration::from_millis(ms)),
        _ => None,
    };
    (response, delay)
}

/// Whether a mode produces an answer (and so counts against the enforced limits).
fn answers(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Ok | Mode::Slow { .. } | Mode::Length | Mode::Truncated | Mode::Hang { .. }
    )
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
