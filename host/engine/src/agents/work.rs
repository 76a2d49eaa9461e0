//! The work of one prompt job: render the prompt, skip it when its completion marker
//! matches, wait for parks, breakers, limits and its wave's concurrency, call the adapter
//! (in the prompt's named session, or a conversation of its own), and on an answer write it
//! with its marker, promote the output directory, charge its tokens and record it in the
//! stage cache and the day's manifest. A refusal becomes the scheduler's verdict: a rate
//! limit or a spent quota snoozes the job past the reset (no attempt used), an
//! authentication failure waits 1 s, 2 s, then fails the job as the breaker opens,
//! overloads and timeouts retry with backoff, the rest fail.

use super::guard::{self, AuthStep, Guard, Hold, jitter_ms};
use super::marker::{self, Entry, Manifests, Marker};
use super::port::{AgentPort, Answer, Ask, Conversation, Refusal, Scope};
use super::stage;
use crate::pipeline::cache;
use crate::pipeline::events::{StageResult, StageStatus};
use crate::pipeline::exec::{Owner, StageWorker, promote, refused};
use crate::pipeline::model::StageDef;
use crate::pipeline::outdir;
use crate::pipeline::realpath::RealPaths;
use crate::scheduler::verdict::Verdict;
use crate::scheduler::worker::Worked;
use baton_core::clock::{format_ms, now_ms};
use baton_core::digest::{file_digest, sha256_hex};
use baton_core::model::{Claimed, Failure};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::Semaphore;

/// Rate limits one prompt may meet in a row before it fails: the provider keeps refusing
/// what Baton's own limits let through, so they need lowering.
pub const MAX_RATE_LIMITED: u32 = 30;

/// How prompts that failed transiently (overloaded, timed out) are retried: 1 s doubling up
/// to a minute, with ±20% jitter.
pub const AGENT_RETRY: crate::scheduler::retry::RetryPolicy =
    crate::scheduler::retry::RetryPolicy {
        backoff: crate::scheduler::retry::Backoff {
            base: std::time::Duration::from_secs(1),
            max: std::time::Duration::from_secs(60),
        },
    };

/// Counts over a run's prompts, for its summary.
#[derive(Debug, Default)]
pub struct Tally {
    tokens: AtomicU64,
    retries: AtomicU64,
    calls: AtomicU64,
    limits: std::sync::Mutex<BTreeMap<String, String>>,
}

/// The agent part of a run's summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentSummary {
    /// Calls made to adapters.
    pub calls: u64,
    /// Tokens in and out, over every answer.
    pub tokens: u64,
    /// Attempts that will be (or were) tried again: transient failures and authentication
    /// retries.
    pub retries: u64,
    /// Limits hit, by key: the last reason seen (`rate-limited: ... until T`).
    pub limits_hit: BTreeMap<String, String>,
}

impl Tally {
    fn limit(&self, key: &str, reason: &str) {
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), reason.to_string());
    }

    /// The summary so far.
    pub fn summary(&self) -> AgentSummary {
        AgentSummary {
            calls: self.calls.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            limits_hit: self
                .limits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// What the prompt jobs of one run share.
pub struct Agents {
    /// Opens conversations with the adapters.
    pub port: Arc<dyn AgentPort>,
    /// Parks, breakers and limits.
    pub guard: Guard,
    /// The day's manifests.
    pub manifests: Manifests,
    /// The run's counts.
    pub tally: Tally,
    /// Open conversations of named sessions.
    sessions: tokio::sync::Mutex<HashMap<String, OpenSession>>,
    /// Credentials whose half-open breaker's probe failed in this run, with the message:
    /// the run's other prompts of that adapter fail at once instead of each waiting out a
    /// longer cool-down to probe again.
    refused: std::sync::Mutex<HashMap<String, String>>,
    /// Rate limits each prompt met in a row (reset by an answer).
    rate_limited: std::sync::Mutex<HashMap<String, u32>>,
    /// Each wave's concurrency (prompts without a wave share `None`).
    waves: HashMap<Option<u32>, Arc<Semaphore>>,
}

impl Agents {
    /// The agent side of a run of `stages`.
    pub fn new(
        port: Arc<dyn AgentPort>,
        guard: Guard,
        manifests: Manifests,
        stages: &[crate::pipeline::model::Located<StageDef>],
    ) -> Agents {
        let waves = stage::wave_permits(stages)
            .into_iter()
            .map(|(wave, permits)| (wave, Arc::new(Semaphore::new(permits))))
            .collect();
        Agents {
            port,
            guard,
            manifests,
            tally: Tally::default(),
            sessions: tokio::sync::Mutex::new(HashMap::new()),
            refused: std::sync::Mutex::new(HashMap::new()),
            rate_limited: std::sync::Mutex::new(HashMap::new()),
            waves,
        }
    }
}

/// A named session's conversation in this process, and the prompts sent in it so far.
struct OpenSession {
    conversation: Box<dyn Conversation>,
    sent: Vec<String>,
}

/// What a prompt produced.
struct Produced {
    result: StageResult,
    tokens: u64,
    /// What the line of a finished prompt should add (an answer cut at its token limit).
    note: String,
}

/// Works one prompt job of `worker`'s run.
pub async fn work(
    worker: &StageWorker,
    agents: &Agents,
    stage: &StageDef,
    job: &Claimed,
) -> Worked {
    let started = Instant::now();
    let outcome = execute(worker, agents, stage).await;
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(Produced {
            result,
            tokens,
            note,
        }) => {
            let status = if result.cached {
                StageStatus::Cached
            } else {
                StageStatus::Done
            };
            worker.announce_with(job, &stage.id, status, seconds, &note, Some(tokens));
            Worked::verdict(Verdict::Done(
                serde_json::to_value(&result).unwrap_or_default(),
            ))
        }
        Err(verdict) => {
            let (status, detail) = match &verdict {
                Verdict::Snooze { wait, .. } => (StageStatus::Retrying, wait.clone()),
                Verdict::Transient(f) if job.attempt < job.max_attempts => {
                    agents.tally.retries.fetch_add(1, Ordering::Relaxed);
                    (StageStatus::Retrying, f.message.clone())
                }
                Verdict::Transient(f) | Verdict::Fatal(f) | Verdict::Halt(f) => {
                    (StageStatus::Failed, f.message.clone())
                }
                Verdict::Done(_) | Verdict::Skipped(_) => (StageStatus::Done, String::new()),
            };
            if status == StageStatus::Failed {
                record(agents, worker, stage, "failed", None, None, 0, &detail);
            }
            worker.announce_with(job, &stage.id, status, seconds, &detail, None);
            Worked::verdict(verdict)
        }
    }
}

/// A job that waits for `hold` without using its attempt, coming back a little after it.
fn snooze(hold: Hold, cause: &str) -> Verdict {
    let now = now_ms();
    let until = hold.until.max(now) + jitter_ms(hold.until - now);
    Verdict::Snooze {
        until,
        failure: Failure::coded("agent-wait", format!("{cause}: {}", hold.reason)),
        wait: hold.reason,
    }
}

/// Records the prompt's line in the day's manifest (a manifest that cannot be written is
/// logged in the run's log, never fails the prompt).
#[allow(clippy::too_many_arguments)]
fn record(
    agents: &Agents,
    worker: &StageWorker,
    stage: &StageDef,
    status: &str,
    prompt_sha256: Option<String>,
    output_sha256: Option<String>,
    tokens: u64,
    detail: &str,
) {
    let entry = Entry {
        pipeline: worker.graph.name.clone(),
        prompt: stage.id.clone(),
        run: worker.run_id.clone(),
        status: status.to_string(),
        output: Some(format!(
            "{}/{}",
            stage.output_dir(),
            stage::output_file(stage)
        )),
        prompt_sha256,
        output_sha256,
        tokens,
        detail: detail.to_string(),
        at: format_ms(now_ms()),
    };
    if let Err(e) = agents.manifests.record(entry) {
        worker.log_line(serde_json::json!({"event": "manifest-error", "stage": stage.id, "error": format!("{e:#}")}));
    }
}

/// The options the adapter receives: what the prompt sets.
fn options(stage: &StageDef) -> serde_json::Value {
    let mut options = serde_json::Map::new();
    if let Some(t) = stage.temperature {
        options.insert("temperature".into(), t.into());
    }
    if let Some(m) = stage.max_tokens {
        options.insert("max-tokens".into(), m.into());
    }
    serde_json::Value::Object(options)
}

async fn execute(
    worker: &StageWorker,
    agents: &Agents,
    stage: &StageDef,
) -> Result<Produced, Verdict> {
    let fatal = |e: anyhow::Error| Verdict::Fatal(Failure::new(format!("{e:#}")));
    let adapter = stage
        .agent
        .clone()
        .ok_or_else(|| Verdict::Fatal(Failure::new("not a prompt stage")))?;
    let fingerprint = fingerprint(worker, stage).map_err(fatal)?;
    let prompt = render(worker, stage, &fingerprint)
        .map_err(|e| Verdict::Fatal(Failure::coded("prompt-template", format!("{e:#}"))))?;
    let prompt_sha256 = sha256_hex(prompt.as_bytes());
    // A later turn of a session also depends on the turns before it: its key follows the
    // previous turn's key and answer, so a rerun earlier turn reruns the rest.
    let earlier = stage::earlier_turns(&worker.graph.stages, stage);
    let chain = match earlier.last() {
        None => String::new(),
        Some(previous) => {
            let dir = worker.root.join(previous.output_dir());
            match marker::read(&dir, &stage::output_file(previous)) {
                Some(m) => format!("\nafter {} {}", m.key, m.output_sha256),
                None => format!("\nafter `{}` without an answer", previous.id),
            }
        }
    };
    let key = sha256_hex(format!("{}\n{prompt_sha256}{chain}", fingerprint.key()).as_bytes());
    let dir = stage.output_dir();
    let output = stage::output_file(stage);
    if !worker.forced(&stage.id)
        && let Some(done) = marker::matching(&worker.root.join(&dir), &output, &key)
    {
        record(
            agents,
            worker,
            stage,
            "cached",
            Some(done.prompt_sha256),
            Some(done.output_sha256),
            0,
            "",
        );
        let digests = worker
            .last_stage(&stage.id)
            .ok()
            .flatten()
            .map(|record| record.outputs)
            .unwrap_or_default();
        return Ok(Produced {
            result: StageResult {
                cached: true,
                digests,
                ..StageResult::default()
            },
            tokens: 0,
            note: String::new(),
        });
    }
    let last = worker.last_stage(&stage.id).map_err(fatal)?;
    let recorded = last.as_ref().map(|record| &record.outputs);
    outdir::claim(&worker.root, &dir, &stage.id, recorded)
        .map_err(|e| Verdict::Fatal(refused(e)))?;
    let keys = guard::limit_keys(&adapter, stage.model.as_deref());
    let credential = guard::credential_key(&adapter);
    if let Some(message) = agents
        .refused
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&credential)
    {
        return Err(Verdict::Fatal(Failure::coded(
            "auth-failed",
            format!(
                "not sent: the auth breaker's probe failed in this run [{credential}]: {message}; fix the credential, then rerun with --resume"
            ),
        )));
    }
    // Waits that do not hold a wave slot: parks and breakers.
    if let Some(hold) = agents
        .guard
        .parked(&[keys.clone(), vec![credential.clone()]].concat())
    {
        return Err(snooze(
            hold,
            "waiting for a provider limit or an open breaker",
        ));
    }
    let permits = agents
        .waves
        .get(&stage.wave)
        .cloned()
        .unwrap_or_else(|| Arc::new(Semaphore::new(1)));
    let _wave = permits
        .acquire_owned()
        .await
        .map_err(|_| Verdict::Fatal(Failure::new("the run is closing")))?;
    let admitted = match agents.guard.admit(&keys, &credential).await {
        Ok(admitted) => admitted,
        Err(hold) => return Err(snooze(hold, "waiting for a provider limit")),
    };
    let started = Instant::now();
    agents.tally.calls.fetch_add(1, Ordering::Relaxed);
    let answer = call(
        agents,
        worker,
        stage,
        &adapter,
        Ask {
            prompt: prompt.clone(),
            options: options(stage),
        },
        &earlier,
    )
    .await;
    drop(admitted.permits);
    let answer = match answer {
        Ok(answer) => answer,
        Err(refusal) => {
            let call = Call {
                stage: &stage.id,
                keys: &keys,
                credential: &credential,
                adapter: &adapter,
                probe: admitted.probe,
            };
            return Err(refusal_verdict(agents, call, refusal).await);
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    agents
        .rate_limited
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&stage.id);
    agents.guard.auth_ok(&credential).await;
    let tokens = answer.input_tokens + answer.output_tokens;
    agents.guard.charge(&keys, tokens);
    agents.tally.tokens.fetch_add(tokens, Ordering::Relaxed);
    let result = write_and_promote(
        worker,
        stage,
        &adapter,
        &answer,
        &prompt_sha256,
        &key,
        seconds,
        &fingerprint,
        recorded,
    )
    .await?;
    let output_sha256 = file_digest(&worker.root.join(&dir).join(&output)).ok();
    let note = if answer.truncated() {
        format!(
            "the answer was cut at its token limit (finish reason `{}`): raise `max-tokens`",
            answer.finish_reason.as_deref().unwrap_or_default()
        )
    } else {
        String::new()
    };
    record(
        agents,
        worker,
        stage,
        "done",
        Some(prompt_sha256),
        output_sha256,
        tokens,
        &note,
    );
    Ok(Produced {
        result,
        tokens,
        note,
    })
}

/// The fingerprint of prompt `stage`: its definition, adapter and inputs' digests.
fn fingerprint(worker: &StageWorker, stage: &StageDef) -> anyhow::Result<cache::Fingerprint> {
    let runner = worker
        .runners
        .get(&stage.id)
        .map(|r| r.digest(&worker.root))
        .unwrap_or_default();
    cache::fingerprint(
        stage,
        &RealPaths::new(&worker.root),
        &runner,
        &worker.digests,
    )
}

/// The rendered prompt of `stage` over the inputs `fingerprint` lists.
fn render(
    worker: &StageWorker,
    stage: &StageDef,
    fingerprint: &cache::Fingerprint,
) -> anyhow::Result<String> {
    let inputs: Vec<(String, std::path::PathBuf)> = fingerprint
        .inputs
        .keys()
        .map(|path| (path.clone(), worker.root.join(path)))
        .collect();
    super::prompt::render(
        &stage.id,
        stage.model.as_deref(),
        stage.prompt.as_deref(),
        stage.template.as_deref(),
        &inputs,
    )
}

/// The earlier turns of a session as they stand on disk, `[{"prompt", "answer"}]`: each
/// prompt rendered again over its inputs, with the answer it got.
fn history(worker: &StageWorker, earlier: &[&StageDef]) -> anyhow::Result<serde_json::Value> {
    let mut turns = Vec::new();
    for turn in earlier {
        let prompt = render(worker, turn, &fingerprint(worker, turn)?)?;
        let answer_path = worker
            .root
            .join(turn.output_dir())
            .join(stage::output_file(turn));
        let answer = std::fs::read_to_string(&answer_path)
            .map_err(|e| anyhow::anyhow!("the answer of `{}` cannot be read: {e}", turn.id))?;
        turns.push(serde_json::json!({"prompt": prompt, "answer": answer}));
    }
    Ok(serde_json::Value::Array(turns))
}

/// Sends the prompt in its named session or in a conversation of its own. A session's
/// conversation is opened on its first prompt and kept for the next; when this process has
/// not sent the session's earlier turns in it (they were cached, or ran in a process that
/// ended), a new conversation starts from those turns as they are on disk (the `history`
/// option), so the answer follows the conversation its outputs record.
async fn call(
    agents: &Agents,
    worker: &StageWorker,
    stage: &StageDef,
    adapter: &str,
    ask: Ask,
    earlier: &[&StageDef],
) -> Result<Answer, Refusal> {
    let Some(name) = &stage.session else {
        let mut conversation = agents.port.open(adapter, stage.model.clone()).await?;
        return conversation.send(ask).await;
    };
    let mut ask = ask;
    let sent: Vec<String> = earlier.iter().map(|turn| turn.id.clone()).collect();
    let open = agents.sessions.lock().await.remove(name);
    let mut conversation = match open {
        Some(open) if open.sent == sent => open.conversation,
        _ => {
            let conversation = agents.port.open(adapter, stage.model.clone()).await?;
            if !earlier.is_empty() {
                let history = history(worker, earlier).map_err(|e| {
                    Refusal::Fatal(format!(
                        "cannot continue session `{name}` from its earlier prompts: {e:#}"
                    ))
                })?;
                ask.options["history"] = history;
            }
            conversation
        }
    };
    let answer = conversation.send(ask).await;
    if answer.is_ok() {
        let mut sent = sent;
        sent.push(stage.id.clone());
        agents
            .sessions
            .lock()
            .await
            .insert(name.clone(), OpenSession { conversation, sent });
    }
    answer
}

/// The call a refusal answered.
struct Call<'a> {
    /// The prompt.
    stage: &'a str,
    /// Its limiter keys.
    keys: &'a [String],
    /// Its adapter's credential key.
    credential: &'a str,
    adapter: &'a str,
    /// Whether it probed a half-open breaker.
    probe: bool,
}

/// The verdict of a refused call (recording parks, breakers and limits hit on the way).
async fn refusal_verdict(agents: &Agents, call: Call<'_>, refusal: Refusal) -> Verdict {
    let Call {
        stage,
        keys,
        credential,
        adapter,
        probe,
    } = call;
    let line = refusal.line();
    let quota = matches!(refusal, Refusal::QuotaExhausted(_));
    let now = now_ms();
    // The most specific key: the model's when the prompt names one.
    let key = keys
        .last()
        .cloned()
        .unwrap_or_else(|| format!("agent:{adapter}"));
    match refusal {
        Refusal::RateLimited(hit) | Refusal::QuotaExhausted(hit) => {
            let quota = quota || hit.scope == Scope::Quota;
            let until = match hit.reset_at_ms {
                Some(at) => at.max(now),
                None if quota => agents.guard.day_ends(&key),
                None => now + guard::RATE_WAIT_DEFAULT.as_millis() as i64,
            };
            let reason = if quota {
                format!("quota exhausted: {}", hit.message)
            } else {
                format!("rate-limited ({}): {}", scope_name(hit.scope), hit.message)
            };
            if !quota {
                let mut counts = agents
                    .rate_limited
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let count = counts.entry(stage.to_string()).or_insert(0);
                *count += 1;
                if *count >= MAX_RATE_LIMITED {
                    return Verdict::Fatal(Failure::coded(
                        "agent-rate-limited",
                        format!(
                            "rate-limited {MAX_RATE_LIMITED} times in a row: {}; the provider allows fewer calls than Baton lets through: lower `per-minute` or `tokens-per-minute` under [limits.\"{key}\"] in baton.toml",
                            hit.message
                        ),
                    ));
                }
            }
            agents.guard.park(&key, until, &reason, 0).await;
            agents
                .tally
                .limit(&key, &format!("{reason} until {}", format_ms(until)));
            snooze(
                Hold {
                    until,
                    reason: format!("{reason} until {} [{key}]", format_ms(until)),
                },
                &line,
            )
        }
        Refusal::AuthFailed(message) => {
            match agents.guard.auth_failed(credential, &message, probe).await {
                AuthStep::Retry { at, attempt } => {
                    agents.tally.retries.fetch_add(1, Ordering::Relaxed);
                    Verdict::Snooze {
                        until: at,
                        wait: format!(
                            "authentication failed (attempt {attempt} of {}), next at {} [{credential}]: {message}",
                            guard::AUTH_ATTEMPTS,
                            format_ms(at)
                        ),
                        failure: Failure::coded("auth-failed", message),
                    }
                }
                AuthStep::Open { until } => {
                    let reason = format!("auth breaker open until {}", format_ms(until));
                    agents.tally.limit(credential, &reason);
                    if probe {
                        agents
                            .refused
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(credential.to_string(), message.clone());
                    }
                    Verdict::Fatal(Failure::coded(
                        "auth-failed",
                        format!(
                            "authentication failed {} times: {message}; the {reason} [{credential}] and other jobs of `{adapter}` wait for it; fix the credential, then rerun with --resume",
                            guard::AUTH_ATTEMPTS
                        ),
                    ))
                }
            }
        }
        Refusal::Overloaded { .. } | Refusal::Timeout(_) => {
            Verdict::Transient(Failure::coded("agent-transient", line))
        }
        Refusal::BadRequest(_) => Verdict::Fatal(Failure::coded("agent-bad-request", line)),
        Refusal::Fatal(_) => Verdict::Fatal(Failure::coded("agent-fatal", line)),
    }
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Requests => "requests",
        Scope::Tokens => "tokens",
        Scope::Quota => "quota",
    }
}

/// Writes the answer and its marker into a fresh staged directory, promotes it over the
/// prompt's output directory and records the success in the stage cache.
#[allow(clippy::too_many_arguments)]
async fn write_and_promote(
    worker: &StageWorker,
    stage: &StageDef,
    adapter: &str,
    answer: &Answer,
    prompt_sha256: &str,
    key: &str,
    seconds: f64,
    fingerprint: &cache::Fingerprint,
    recorded: Option<&BTreeMap<String, String>>,
) -> Result<StageResult, Verdict> {
    let host = |e: anyhow::Error| Verdict::Transient(crate::pipeline::exec::host(e));
    let work = worker.run_dir.join(&stage.id);
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .map_err(|e| host(anyhow::anyhow!("cannot clear {}: {e}", work.display())))?;
    }
    let staged = work.join("output");
    let output = stage::output_file(stage);
    let file = staged.join(&output);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| host(anyhow::anyhow!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(&file, &answer.text)
        .map_err(|e| host(anyhow::anyhow!("cannot write {}: {e}", file.display())))?;
    let marker = Marker {
        prompt: stage.id.clone(),
        pipeline: worker.graph.name.clone(),
        run: worker.run_id.clone(),
        key: key.to_string(),
        prompt_sha256: prompt_sha256.to_string(),
        output: output.clone(),
        output_sha256: file_digest(&file).map_err(host)?,
        adapter: adapter.to_string(),
        model: answer.model.clone().or_else(|| stage.model.clone()),
        input_tokens: answer.input_tokens,
        output_tokens: answer.output_tokens,
        finish_reason: answer.finish_reason.clone(),
        seconds,
        finished_at: format_ms(now_ms()),
    };
    marker::write(&staged, &marker).map_err(host)?;
    let dir = stage.output_dir();
    let owner = Owner {
        root: &worker.root,
        dir: &dir,
        pipeline: &worker.graph.name,
        stage: &stage.id,
        recorded,
    };
    promote(&staged, &owner, &work).map_err(|failure| {
        if failure.code.as_deref() == Some(crate::pipeline::exec::OUTPUT_DIR_REFUSED) {
            Verdict::Fatal(failure)
        } else {
            Verdict::Transient(failure)
        }
    })?;
    let mut outputs = BTreeMap::new();
    for name in [output.clone(), marker::marker_name(&output)] {
        let path = format!("{dir}/{name}");
        let digest = file_digest(&worker.root.join(&path)).map_err(host)?;
        outputs.insert(path, digest);
    }
    let promoted: Vec<String> = outputs.keys().cloned().collect();
    let digests = outputs.clone();
    let record = fingerprint.record(&worker.graph.name, &stage.id, outputs, &worker.run_id);
    worker
        .writer
        .submit(move |tx| tx.record_stage(&record))
        .await
        .map_err(host)?;
    Ok(StageResult {
        cached: false,
        skipped: None,
        summary: format!("{} tokens", answer.input_tokens + answer.output_tokens),
        outputs: promoted,
        tokens: Some(answer.input_tokens + answer.output_tokens),
        digests,
    })
}
