//! `anthropic`: an agent adapter for the Anthropic Messages API
//! (`POST {base-url}/v1/messages`), over wasi:http.
//!
//! Settings: `{"base-url": "https://api.anthropic.com", "model": "claude-sonnet-4-5",
//! "temperature": 0.2, "max-tokens": 1024, "system": "...", "timeout-ms": 120000,
//! "anthropic-version": "2023-06-01"}`; only a model (here or from the session) is required;
//! `max-tokens` defaults to 1024 (the API requires one). The API key is read from the granted
//! environment variable `ANTHROPIC_API_KEY` (grant `env = ["ANTHROPIC_API_KEY"]`); it is sent
//! as `x-api-key` and never logged or quoted. The session keeps the conversation and resends
//! it with every prompt. Every failure is classified from the status, the error body and the
//! `retry-after`/`anthropic-ratelimit-*` headers (see [`classify`]).
mod classify;

use core::cell::RefCell;
use core::time::Duration;

use baton_agent_support::conversation::{Conversation, Options};
use baton_agent_support::failure::AgentError;
use baton_agent_support::wit::{api_key, failure, now_ms, reply, transport};
use baton_sdk::agent::{GuestSession, Session};
use baton_sdk::http::{Method, Request};
use baton_sdk::json::Object;
use baton_sdk::types::{
    AgentFailure, AgentReply, AgentRequest, Capabilities, Description, PluginKind, SessionConfig,
};
use serde_json::{json, Value};

use classify::{classify, Received};

/// Where the key comes from.
const KEY_VARIABLE: &str = "ANTHROPIC_API_KEY";
/// The public API.
const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version sent unless the settings name another.
const DEFAULT_VERSION: &str = "2023-06-01";
/// The answer's token limit unless the settings or the prompt say otherwise.
const DEFAULT_MAX_TOKENS: u64 = 1024;
/// How long an answer may take unless the settings or the prompt say otherwise.
const DEFAULT_TIMEOUT_MS: u64 = 600_000;
/// The largest answer read.
const MAX_RESPONSE_BYTES: usize = 16 << 20;

struct Anthropic;

struct ChatSession {
    url: String,
    version: String,
    model: String,
    key: String,
    defaults: Options,
    conversation: RefCell<Conversation>,
}

impl baton_sdk::Metadata for Anthropic {
    fn describe() -> Description {
        Description {
            name: "anthropic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Agent,
            summary: "Sends prompts to the Anthropic Messages API".into(),
            capabilities: Capabilities {
                // The base URL is configurable: the operator grants the actual host.
                http: vec!["*".into()],
                env: vec![KEY_VARIABLE.into()],
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Agent for Anthropic {
    type Session = ChatSession;
}

impl GuestSession for ChatSession {
    fn open(config: SessionConfig) -> Result<Session, AgentFailure> {
        let settings = Object::parse("settings", &config.settings)?;
        let base = baton_sdk::api::base_url(&settings, DEFAULT_BASE_URL)?;
        let model = match (config.model, settings.str("model")?) {
            (Some(model), _) => model,
            (None, Some(model)) => model.to_string(),
            (None, None) => {
                return Err(AgentFailure::Fatal(
                    "no model: give one with the prompt (`model`) or in settings.model (e.g. \"claude-sonnet-4-5\")".into(),
                ));
            }
        };
        let defaults = Options::parse(&settings_options(&settings)).map_err(AgentFailure::Fatal)?;
        let key = api_key(KEY_VARIABLE).map_err(|error| failure(&error))?;
        Ok(Session::new(ChatSession {
            url: format!("{base}/v1/messages"),
            version: settings
                .str("anthropic-version")?
                .unwrap_or(DEFAULT_VERSION)
                .to_string(),
            model,
            key,
            defaults,
            conversation: RefCell::new(Conversation::default()),
        }))
    }

    fn send(&self, request: AgentRequest) -> Result<AgentReply, AgentFailure> {
        let options = Options::parse(&request.options)
            .map_err(|message| failure(&AgentError::BadRequest(message)))?
            .or(&self.defaults);
        self.conversation.borrow_mut().seed(&options.history);
        let body = self.body(&request.prompt, &options);
        let timeout_ms = options.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        let timeout = Duration::from_millis(timeout_ms);
        let response = Request::new(Method::Post, self.url.clone())
            .header("x-api-key", self.key.clone())
            .header("anthropic-version", self.version.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("baton-anthropic/", env!("CARGO_PKG_VERSION")),
            )
            .body(body.to_string())
            .timeout(timeout)
            .max_response_bytes(MAX_RESPONSE_BYTES)
            .send()
            .map_err(|error| failure(&transport(&error, timeout_ms)))?;
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), String::from_utf8_lossy(value).into_owned()))
            .collect();
        let now = now_ms();
        let answer = classify(
            &Received {
                status: response.status,
                headers: &headers,
                body: &response.body,
            },
            now,
            KEY_VARIABLE,
            Some(&self.key),
        )
        .map_err(|error| failure(&error))?;
        let mut conversation = self.conversation.borrow_mut();
        conversation.answered(request.prompt, answer.text.clone());
        let turn = conversation.turns();
        Ok(reply(answer, json!({ "turn": turn })))
    }
}

impl ChatSession {
    /// The request body: the conversation so far and this prompt.
    fn body(&self, prompt: &str, options: &Options) -> Value {
        let conversation = self.conversation.borrow();
        let messages: Vec<Value> = conversation
            .with_prompt(prompt)
            .into_iter()
            .map(|(role, text)| json!({"role": role.name(), "content": text}))
            .collect();
        let mut body = json!({
            "model": self.model,
            "max_tokens": options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": messages,
        });
        if let Some(system) = &options.system {
            body["system"] = json!(system);
        }
        if let Some(temperature) = options.temperature {
            body["temperature"] = json!(temperature);
        }
        body
    }
}

/// The prompt options the settings give as defaults, as options JSON.
fn settings_options(settings: &Object) -> String {
    let mut options = serde_json::Map::new();
    for key in ["temperature", "max-tokens", "system", "timeout-ms"] {
        if let Some(value) = settings.get(key) {
            options.insert(key.into(), value.clone());
        }
    }
    Value::Object(options).to_string()
}

baton_sdk::export_agent!(Anthropic);
