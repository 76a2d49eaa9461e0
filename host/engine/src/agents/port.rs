//! The engine's view of an agent adapter: open a conversation, send prompts, get an answer
//! or one classified failure. The runtime's agent sessions implement it ([`RuntimePort`]);
//! the rest of the engine never sees wasmtime or a WIT version.

use baton_runtime::Runtime;
use baton_runtime::bindings::types;
use baton_runtime::plugin::Plugin;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future that can cross threads.
pub type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One prompt with its options.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// The rendered prompt.
    pub prompt: String,
    /// `temperature`, `max-tokens`, ... as a JSON object (keys the prompt does not give are
    /// left out).
    pub options: serde_json::Value,
}

/// An answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// The text.
    pub text: String,
    /// Input (prompt) tokens, when the adapter reports them.
    pub input_tokens: u64,
    /// Output tokens, when the adapter reports them.
    pub output_tokens: u64,
    /// The model that answered, as the provider names it.
    pub model: Option<String>,
    /// Why the answer ended, as the provider says (`stop`, `length`, `max_tokens`, ...).
    pub finish_reason: Option<String>,
}

impl Answer {
    /// Whether the provider cut the answer at its token limit (OpenAI's `length`,
    /// Anthropic's `max_tokens`).
    pub fn truncated(&self) -> bool {
        matches!(
            self.finish_reason.as_deref(),
            Some("length" | "max_tokens" | "max-tokens")
        )
    }
}

/// Which provider limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Requests per minute (or another short window).
    Requests,
    /// Tokens per minute.
    Tokens,
    /// A daily or monthly allowance.
    Quota,
}

/// A provider limit that was hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    /// Which limit.
    pub scope: Scope,
    /// The provider's message (never a credential).
    pub message: String,
    /// When it resets, Unix milliseconds, when the provider said.
    pub reset_at_ms: Option<i64>,
}

/// Why a call gave no answer: the classification every adapter returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A rate limit: wait until it resets (no attempt used).
    RateLimited(LimitHit),
    /// An allowance is spent: the key is parked until it resets.
    QuotaExhausted(LimitHit),
    /// The credential was refused; the message names the variable or login that fixes it.
    AuthFailed(String),
    /// The provider is overloaded (529/503); `after_ms` when it said how long.
    Overloaded {
        /// The provider's wait, milliseconds.
        after_ms: Option<u64>,
        /// What it said.
        message: String,
    },
    /// No answer in time.
    Timeout(String),
    /// The request can never succeed as sent.
    BadRequest(String),
    /// Anything else that another attempt will not fix.
    Fatal(String),
}

impl Refusal {
    /// One line for logs and job failures: `rate-limited: ...`.
    pub fn line(&self) -> String {
        match self {
            Refusal::RateLimited(hit) => format!("rate-limited: {}", hit.message),
            Refusal::QuotaExhausted(hit) => format!("quota exhausted: {}", hit.message),
            Refusal::AuthFailed(message) => format!("authentication failed: {message}"),
            Refusal::Overloaded { message, .. } => format!("overloaded: {message}"),
            Refusal::Timeout(message) => format!("timeout: {message}"),
            Refusal::BadRequest(message) => format!("bad request: {message}"),
            Refusal::Fatal(message) => format!("fatal: {message}"),
        }
    }
}

/// A live conversation with an agent.
pub trait Conversation: Send {
    /// Sends one prompt.
    fn send(&mut self, ask: Ask) -> Boxed<'_, Result<Answer, Refusal>>;
}

/// What opens conversations with the agent adapters of a run.
pub trait AgentPort: Send + Sync {
    /// Opens a conversation with adapter `adapter` for `model` (the adapter's default when
    /// `None`).
    fn open<'a>(
        &'a self,
        adapter: &'a str,
        model: Option<String>,
    ) -> Boxed<'a, Result<Box<dyn Conversation>, Refusal>>;
}

/// Agent adapters loaded in the plugin runtime, by name.
pub struct RuntimePort {
    /// The runtime that instantiates them.
    pub runtime: Arc<Runtime>,
    /// The loaded adapters, by configured name.
    pub adapters: std::collections::HashMap<String, Arc<Plugin>>,
}

impl AgentPort for RuntimePort {
    fn open<'a>(
        &'a self,
        adapter: &'a str,
        model: Option<String>,
    ) -> Boxed<'a, Result<Box<dyn Conversation>, Refusal>> {
        Box::pin(async move {
            let plugin = self
                .adapters
                .get(adapter)
                .ok_or_else(|| Refusal::Fatal(format!("agent `{adapter}` is not loaded")))?;
            let session = self
                .runtime
                .open_session(plugin, model)
                .await
                .map_err(host_error)?;
            Ok(Box::new(RuntimeConversation(session)) as Box<dyn Conversation>)
        })
    }
}

/// A host error (trap, deadline, limits): a trap or a refused capability never heals by
/// itself; a deadline may.
fn host_error(error: baton_runtime::error::PluginError) -> Refusal {
    let message = error.to_string();
    if matches!(error.kind.code(), "deadline-exceeded" | "wall-timeout") {
        Refusal::Timeout(message)
    } else {
        Refusal::Fatal(message)
    }
}

/// An open runtime session.
struct RuntimeConversation(baton_runtime::call::AgentSession);

impl Conversation for RuntimeConversation {
    fn send(&mut self, ask: Ask) -> Boxed<'_, Result<Answer, Refusal>> {
        Box::pin(async move {
            let request = types::AgentRequest {
                prompt: ask.prompt,
                options: ask.options.to_string(),
            };
            let report = self.0.send(request).await.map_err(host_error)?;
            match report.value {
                Ok(reply) => Ok(Answer {
                    text: reply.text,
                    input_tokens: reply.usage.as_ref().map_or(0, |u| u.input_tokens),
                    output_tokens: reply.usage.as_ref().map_or(0, |u| u.output_tokens),
                    model: reply.model,
                    finish_reason: reply.finish_reason,
                }),
                Err(failure) => Err(classify(failure)),
            }
        })
    }
}

/// The adapter's classification as the engine's (0.1.0 adapters reach here already mapped
/// by the runtime: retry → overloaded, skip/fatal → fatal).
fn classify(failure: types::AgentFailure) -> Refusal {
    let hit = |hit: types::LimitHit| LimitHit {
        scope: match hit.scope {
            types::LimitScope::Requests => Scope::Requests,
            types::LimitScope::Tokens => Scope::Tokens,
            types::LimitScope::Quota => Scope::Quota,
        },
        message: hit.message,
        reset_at_ms: hit
            .reset_at_ms
            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
    };
    match failure {
        types::AgentFailure::RateLimited(h) => Refusal::RateLimited(hit(h)),
        types::AgentFailure::QuotaExhausted(h) => Refusal::QuotaExhausted(hit(h)),
        types::AgentFailure::AuthFailed(message) => Refusal::AuthFailed(message),
        types::AgentFailure::Overloaded(retry) => Refusal::Overloaded {
            after_ms: retry.after_ms,
            message: retry.reason,
        },
        types::AgentFailure::Timeout(message) => Refusal::Timeout(message),
        types::AgentFailure::BadRequest(message) => Refusal::BadRequest(message),
        types::AgentFailure::Fatal(message) => Refusal::Fatal(message),
    }
}
