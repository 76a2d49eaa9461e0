//! The conformance kit behind `baton plugin test FILE`: the checks every first-party plugin
//! passes, for plugins in any language. It loads the component, checks that `describe` is
//! consistent with the world the component targets and that the capabilities it asks for are
//! well-formed, calls it with an empty and with a malformed input (each must come back as a
//! value or a WIT `failure`, never a trap), and checks that a fresh and a warm instance give
//! the same answer to the same input. It reports; it never prints.
//!
//! Calls run with nothing granted but what cannot leak: each directory it asks for is an
//! empty scratch directory, each variable it asks for is empty, `state` (when asked) lives
//! under the name `plugin-test:NAME`; HTTP and `exec` are refused at call time.

use crate::bindings::types;
use crate::error::PluginError;
use crate::grants::FileGrant;
use crate::inspect::World;
use crate::plugin::{Description, Plugin, PluginSpec};
use crate::policy::{Asks, HostPattern};
use crate::stage_io::StagedIo;
use crate::{Runtime, json as wit_json};
use serde_json::{Value, json};
use std::path::Path;

/// One check and how it went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// A stable short name, e.g. `malformed-input`.
    pub check: &'static str,
    /// Whether the plugin passed it.
    pub ok: bool,
    /// What was seen: the reason it failed, or what passing looked like.
    pub detail: String,
}

/// The report of one plugin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// sha256 of the component file (empty when it could not be read).
    pub sha256: String,
    /// The world its exports target, when it loaded.
    pub world: Option<World>,
    /// What `describe` returned, when it loaded.
    pub describe: Option<Description>,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

fn check(check: &'static str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check {
            check,
            ok: true,
            detail,
        },
        Err(detail) => Check {
            check,
            ok: false,
            detail,
        },
    }
}

/// Runs every check of `spec`'s component; scratch directories go under `scratch`.
pub async fn run(runtime: &Runtime, spec: &PluginSpec, scratch: &Path) -> Report {
    let mut report = Report {
        sha256: String::new(),
        world: None,
        describe: None,
        checks: Vec::new(),
    };
    let examined = match runtime.examine(spec).await {
        Ok(examined) => examined,
        Err(error) => {
            report.checks.push(check("loads", Err(error.summary())));
            return report;
        }
    };
    report.sha256 = examined.digest.clone();
    report.world = Some(examined.world);
    report.describe = Some(examined.description.clone());
    report.checks.push(check(
        "loads",
        Ok(format!(
            "a {} component of baton:plugin@{}",
            examined.world.name(),
            crate::inspect::WIT_VERSION
        )),
    ));
    let again = runtime.examine(spec).await.map(|e| e.description);
    report.checks.push(check(
        "describe",
        describe_consistent(&examined.description, examined.world, again),
    ));
    report.checks.push(check(
        "capabilities",
        capabilities_well_formed(&examined.description.asks),
    ));
    let plugin_spec = sandboxed(spec, &examined.description, scratch);
    let fresh = runtime.load_ungranted(&plugin_spec).await;
    let mut warm_spec = plugin_spec.clone();
    warm_spec.limits.warm = Some(3);
    let warm = runtime.load_ungranted(&warm_spec).await;
    let (fresh, warm) = match (fresh, warm) {
        (Ok(fresh), Ok(warm)) => (fresh, warm),
        (Err(error), _) | (_, Err(error)) => {
            let reason = format!("not run: the plugin cannot be loaded: {}", error.summary());
            for name in ["empty-input", "malformed-input", "fresh-and-warm-agree"] {
                report.checks.push(check(name, Err(reason.clone())));
            }
            return report;
        }
    };
    let caller = Caller {
        runtime,
        scratch,
        calls: std::cell::Cell::new(0),
    };
    report.checks.push(check(
        "empty-input",
        no_trap(caller.call(&fresh, Input::Empty).await, "an empty input"),
    ));
    report.checks.push(check(
        "malformed-input",
        no_trap(
            caller.call(&fresh, Input::Malformed).await,
            "a malformed (not JSON) input",
        ),
    ));
    report.checks.push(check(
        "fresh-and-warm-agree",
        agree(&caller, &fresh, &warm).await,
    ));
    report
}

/// The spec the calls use: a namespaced `state`, empty scratch directories and variables for
/// what it asks, the rest refused at call time.
fn sandboxed(spec: &PluginSpec, description: &Description, scratch: &Path) -> PluginSpec {
    let mut spec = spec.clone();
    spec.name = Some(format!("plugin-test:{}", description.name));
    spec.grants = Default::default();
    for (n, (guest, writable)) in description.asks.files.iter().enumerate() {
        let host = scratch.join(format!("files-{n}"));
        if std::fs::create_dir_all(&host).is_ok() {
            spec.grants.files.push(FileGrant {
                host: host.to_string_lossy().into_owned(),
                guest: guest.clone(),
                writable: *writable,
            });
        }
    }
    spec.grants.env = description
        .asks
        .env
        .iter()
        .map(|name| format!("{name}="))
        .collect();
    spec.grants.state = description.asks.state;
    spec
}

fn describe_consistent(
    d: &Description,
    world: World,
    again: Result<Description, PluginError>,
) -> Result<String, String> {
    let mut problems = Vec::new();
    if d.kind != world {
        problems.push(format!(
            "kind `{}` but the component targets the `{}` world",
            d.kind.name(),
            world.name()
        ));
    }
    let name_ok = !d.name.is_empty()
        && d.name.len() <= 64
        && d.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && d.name.starts_with(|c: char| c.is_ascii_lowercase());
    if !name_ok {
        problems.push(format!(
            "name {:?} is not a plugin name (lowercase letters, digits, `-`, `_`, starting with a letter, at most 64)",
            d.name
        ));
    }
    if !is_semver(&d.version) {
        problems.push(format!(
            "version {:?} is not semantic (MAJOR.MINOR.PATCH)",
            d.version
        ));
    }
    if d.summary.trim().is_empty() || d.summary.contains('\n') || d.summary.chars().count() > 200 {
        problems.push("summary must be one non-empty line of at most 200 characters".into());
    }
    match again {
        Ok(again) if again == *d => {}
        Ok(again) => problems.push(format!(
            "a second fresh instance describes itself differently: {again:?}"
        )),
        Err(error) => problems.push(format!("a second describe failed: {}", error.summary())),
    }
    if problems.is_empty() {
        Ok(format!(
            "{} {} ({}), the same from every instance",
            d.name,
            d.version,
            d.kind.name()
        ))
    } else {
        Err(problems.join("; "))
    }
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre` and `+build`.
fn is_semver(version: &str) -> bool {
    let core = version.split_once('+').map_or(version, |(core, _)| core);
    let core = core.split_once('-').map_or(core, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn capabilities_well_formed(asks: &Asks) -> Result<String, String> {
    let mut problems = Vec::new();
    for pattern in &asks.http {
        if pattern != "*"
            && let Err(e) = HostPattern::parse(pattern)
        {
            problems.push(format!("http {pattern:?}: {e}"));
        }
    }
    let mut seen = Vec::new();
    for (path, _) in &asks.files {
        if !path.starts_with('/') {
            problems.push(format!("file {path:?} is not an absolute guest path"));
        } else if path.split('/').any(|part| part == ".." || part == ".") {
            problems.push(format!("file {path:?} has `.` or `..` in it"));
        }
        if seen.contains(&path) {
            problems.push(format!("file {path:?} is asked for twice"));
        }
        seen.push(path);
    }
    for program in &asks.exec {
        let ok = program == "*"
            || (!program.is_empty()
                && !program.contains('/')
                && !program.chars().any(|c| c.is_whitespace() || c.is_control()));
        if !ok {
            problems.push(format!(
                "exec {program:?} is not a program name (no `/`, no spaces) or `*`"
            ));
        }
    }
    for name in &asks.env {
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            problems.push(format!("env {name:?} is not a variable name"));
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "{} http, {} files, {} exec, {} env, state {}",
            asks.http.len(),
            asks.files.len(),
            asks.exec.len(),
            asks.env.len(),
            asks.state
        ))
    } else {
        Err(problems.join("; "))
    }
}

/// What a call is fed.
#[derive(Clone, Copy)]
enum Input {
    /// Empty id, payload, params, prompt, options.
    Empty,
    /// Text that is not JSON where JSON is expected.
    Malformed,
    /// A plausible input, the same every time.
    Plausible,
}

struct Caller<'a> {
    runtime: &'a Runtime,
    scratch: &'a Path,
    calls: std::cell::Cell<u32>,
}

impl Caller<'_> {
    /// One call; `Ok` holds what the plugin answered as JSON (`{"ok": ...}` or
    /// `{"failure": ...}`), `Err` the host's error (a trap, a deadline, ...).
    async fn call(&self, plugin: &Plugin, input: Input) -> Result<Value, String> {
        let (text, payload) = match input {
            Input::Empty => ("", ""),
            Input::Malformed => ("baton-conformance", "{not json"),
            Input::Plausible => ("10.1234/baton-conformance", "{}"),
        };
        let answer = |value: Result<Value, types::Failure>| match value {
            Ok(value) => json!({ "ok": value }),
            Err(failure) => json!({ "failure": wit_json::failure(&failure) }),
        };
        let error = |e: PluginError| e.summary();
        match plugin.world {
            World::Resolver => {
                let artifact = types::Artifact {
                    id: text.to_string(),
                    payload: payload.to_string(),
                };
                let report = self
                    .runtime
                    .resolve(plugin, artifact, 1)
                    .await
                    .map_err(error)?;
                Ok(answer(report.value.map(|candidates| {
                    json!(
                        candidates
                            .iter()
                            .map(wit_json::candidate)
                            .collect::<Vec<_>>()
                    )
                })))
            }
            World::Stage => {
                let n = self.calls.get();
                self.calls.set(n + 1);
                let work = self.scratch.join(format!("stage-{n}"));
                let io = StagedIo::prepare(&work, &[], &work.join("output"))
                    .map_err(|e| format!("cannot stage the call: {e:#}"))?;
                let report = self
                    .runtime
                    .run_stage_raw(plugin, &io, payload)
                    .await
                    .map_err(error)?;
                Ok(answer(
                    report
                        .value
                        .as_ref()
                        .map(wit_json::stage_outcome)
                        .map_err(Clone::clone),
                ))
            }
            World::Agent => {
                let mut session = self
                    .runtime
                    .open_session(plugin, None)
                    .await
                    .map_err(error)?;
                let request = types::AgentRequest {
                    prompt: text.to_string(),
                    options: payload.to_string(),
                };
                let report = session.send(request).await.map_err(error)?;
                Ok(match &report.value {
                    Ok(reply) => json!({ "ok": wit_json::agent_reply(reply) }),
                    Err(failure) => json!({ "failure": wit_json::agent_failure(failure) }),
                })
            }
        }
    }
}

fn no_trap(result: Result<Value, String>, what: &str) -> Result<String, String> {
    match result {
        Ok(value) => match value.get("failure") {
            Some(failure) => Ok(format!(
                "{what} gave failure {}: {}",
                failure["kind"].as_str().unwrap_or("?"),
                failure["reason"].as_str().unwrap_or("")
            )),
            None => Ok(format!("{what} gave a result (no failure)")),
        },
        Err(error) => Err(format!(
            "{what} made the plugin fail instead of returning a WIT failure: {error}"
        )),
    }
}

/// The same plausible input to two fresh instances and twice to one warm instance: all four
/// answers must agree (agents: the same kind of answer, since replies may vary).
async fn agree(caller: &Caller<'_>, fresh: &Plugin, warm: &Plugin) -> Result<String, String> {
    let mut answers = Vec::new();
    for (plugin, label) in [
        (fresh, "fresh instance 1"),
        (fresh, "fresh instance 2"),
        (warm, "warm instance, call 1"),
        (warm, "warm instance, call 2"),
    ] {
        let answer = caller
            .call(plugin, Input::Plausible)
            .await
            .map_err(|e| format!("{label} failed: {e}"))?;
        let answer = match fresh.world {
            World::Agent => match answer.get("failure") {
                Some(failure) => json!({"failure": failure["kind"]}),
                None => json!("reply"),
            },
            _ => answer,
        };
        answers.push((label, answer));
    }
    let (first_label, first) = &answers[0];
    for (label, answer) in &answers[1..] {
        if answer != first {
            return Err(format!(
                "the same input gave different answers: {first_label} {first}, {label} {answer} (does the plugin keep state between calls in globals?)"
            ));
        }
    }
    Ok(format!("4 calls agree: {first}"))
}
