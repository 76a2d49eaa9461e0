//! The `codex` stand-in: `codex exec [--json] [-o FILE] [-m MODEL] [--skip-git-repo-check]
//! [-C DIR] PROMPT|-`; outside a git repository it refuses without `--skip-git-repo-check`;
//! `--json` writes JSON lines (`thread.started`, `turn.started`, `item.completed`,
//! `turn.completed` with usage, `turn.failed`); exit 1 whenever an error was seen, else 0,
//! even with an empty answer.
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Invocation, Outcome, Parsed, delay, value};
use crate::mode::{self, Mode};
use crate::time::{clock_12h, now_ms};

/// Reads codex's flags; the responder answers in a mode.
pub fn parse(args: &[String], stdin: Option<String>) -> Parsed {
    let mut iter = args.iter();
    match iter.next().map(String::as_str) {
        Some("exec" | "e") => {}
        _ => {
            return Err(Outcome::err(
                1,
                "Error: the double imitates only `codex exec`\n".into(),
            ));
        }
    }
    let mut json_lines = false;
    let mut last_message: Option<PathBuf> = None;
    let mut model = None;
    let mut skip_git = false;
    let mut dir: Option<PathBuf> = None;
    let mut prompt = None;
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--json" => json_lines = true,
            "-o" | "--output-last-message" => {
                last_message = Some(PathBuf::from(value("codex", arg, iter.next())?));
            }
            "-m" | "--model" => model = Some(value("codex", arg, iter.next())?),
            "--skip-git-repo-check" => skip_git = true,
            "-C" | "--cd" => dir = Some(PathBuf::from(value("codex", arg, iter.next())?)),
            "-s" | "--sandbox" | "--color" | "-c" | "--config" => {
                value("codex", arg, iter.next())?;
            }
            "--full-auto" | "--dangerously-bypass-approvals-and-sandbox" => {}
            flag if flag.starts_with('-') && flag != "-" => {
                return Err(Outcome::err(
                    2,
                    format!(
                        "error: unexpected argument '{flag}' found\n\nUsage: codex exec [OPTIONS] [PROMPT]\n"
                    ),
                ));
            }
            _ => prompt = Some(arg.clone()),
        }
    }
    let dir = dir
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("/"));
    if !skip_git && !inside_git(&dir) {
        return Err(Outcome::err(
            1,
            "Not inside a trusted directory and --skip-git-repo-check was not specified.\n".into(),
        ));
    }
    let prompt = match prompt.as_deref() {
        Some("-") | None => stdin.filter(|text| !text.trim().is_empty()),
        Some(text) => Some(text.to_string()),
    };
    let Some(prompt) = prompt else {
        return Err(Outcome::err(1, "No prompt provided via stdin.\n".into()));
    };
    let invocation = Invocation {
        prompt: prompt.clone(),
        model,
    };
    Ok((
        invocation,
        Box::new(move |mode| {
            let outcome = respond(mode, &prompt, json_lines);
            if let (Some(path), Some(text)) = (&last_message, final_message(mode, &prompt)) {
                // codex writes the last message where -o says; a failure to do so is its own.
                if let Err(error) = std::fs::write(path, text) {
                    return Outcome::err(
                        1,
                        format!(
                            "Failed to write last message file {}: {error}\n",
                            path.display()
                        ),
                    );
                }
            }
            outcome
        }),
    ))
}

fn inside_git(dir: &Path) -> bool {
    dir.ancestors().any(|dir| dir.join(".git").exists())
}

/// The agent's final message in a mode, if it gives one.
fn final_message(mode: Mode, prompt: &str) -> Option<String> {
    match mode {
        Mode::Ok | Mode::Slow { .. } | Mode::Hang { .. } => Some(mode::answer(prompt, 1)),
        Mode::Length => Some(mode::answer(prompt, 1).chars().take(16).collect()),
        _ => None,
    }
}

/// The failure message codex prints in a mode.
fn failure(mode: Mode) -> Option<String> {
    Some(match mode {
        Mode::Rpm { .. } | Mode::RpmDate { .. } | Mode::Tpm { .. } => {
            "exceeded retry limit, last status: 429 Too Many Requests".into()
        }
        Mode::Quota { reset_ms } => {
            let when = if reset_ms < 12 * 3_600_000 {
                format!("at {}", clock_12h(now_ms() + reset_ms))
            } else {
                let minutes = reset_ms / 60_000;
                format!(
                    "in {} days {} hours {} minutes",
                    minutes / 1440,
                    minutes / 60 % 24,
                    minutes % 60
                )
            };
            format!(
                "You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing), visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again {when}."
            )
        }
        Mode::Auth => "unexpected status 401 Unauthorized: Missing bearer or basic authentication in header".into(),
        Mode::Overloaded { .. } | Mode::Unavailable => {
            "exceeded retry limit, last status: 503 Service Unavailable".into()
        }
        Mode::BadRequest => "unexpected status 400 Bad Request: {\"error\":{\"message\":\"Your input exceeds the context window of this model. Please adjust your input and try again.\",\"type\":\"invalid_request_error\",\"param\":\"input\",\"code\":\"context_length_exceeded\"}}".into(),
        _ => return None,
    })
}

fn respond(mode: Mode, prompt: &str, json_lines: bool) -> Outcome {
    let mut events: Vec<Value> = vec![
        json!({"type": "thread.started", "thread_id": format!("double-{}", now_ms())}),
        json!({"type": "turn.started"}),
    ];
    let mut stderr = String::from(
        "OpenAI Codex (research preview)\n--------\nworkdir: /\nmodel: gpt-5-codex\n--------\n",
    );
    let message = final_message(mode, prompt);
    let failed = failure(mode);
    let mut code = 0;
    if let Some(text) = &message {
        events.push(json!({"type": "item.completed", "item": {
            "id": "item_0", "type": "reasoning", "text": "**Answering the prompt**"}}));
        events.push(json!({"type": "item.completed", "item": {
            "id": "item_1", "type": "agent_message", "text": text}}));
        events.push(json!({"type": "turn.completed", "usage": {
            "input_tokens": mode::tokens(prompt),
            "cached_input_tokens": 0,
            "output_tokens": mode::tokens(text),
        }}));
    } else if let Some(error) = &failed {
        events.push(json!({"type": "error", "message": error}));
        events.push(json!({"type": "turn.failed", "error": {"message": error}}));
        stderr.push_str(&format!("ERROR: {error}\n"));
        code = 1;
    } else {
        // `lie`: a turn that completes with no answer; codex still exits 0. A non-fatal
        // error item, as healthy runs sometimes carry, comes with it.
        events.push(json!({"type": "item.completed", "item": {
            "id": "item_0", "type": "error", "message": "stream disconnected before completion; retrying 1/5"}}));
        events.push(json!({"type": "turn.completed", "usage": {
            "input_tokens": mode::tokens(prompt), "cached_input_tokens": 0, "output_tokens": 0}}));
    }
    let stdout = if json_lines {
        events.iter().map(|event| format!("{event}\n")).collect()
    } else {
        message
            .clone()
            .map(|text| format!("{text}\n"))
            .unwrap_or_default()
    };
    let (stdout, killed) = if mode == Mode::Truncated {
        // Killed mid-turn: the first events only.
        let cut: String = events
            .iter()
            .take(2)
            .map(|event| format!("{event}\n"))
            .collect();
        (if json_lines { cut } else { String::new() }, true)
    } else {
        (stdout, false)
    };
    let delay = match mode {
        Mode::Slow { ms } | Mode::Hang { ms } => delay(ms),
        _ => None,
    };
    Outcome {
        stdout,
        stderr,
        code,
        delay,
        killed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], mode: Mode) -> Outcome {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (_, respond) = parse(&args, None).map_err(|o| o.stderr).unwrap();
        respond(mode)
    }

    #[test]
    fn json_events() {
        let ok = run(&["exec", "--json", "--skip-git-repo-check", "hi"], Mode::Ok);
        assert_eq!(ok.code, 0);
        let events: Vec<Value> = ok
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.last().unwrap()["type"], "turn.completed");
        assert_eq!(events.last().unwrap()["usage"]["input_tokens"], 1);
        let limited = run(
            &["exec", "--json", "--skip-git-repo-check", "hi"],
            Mode::Rpm { reset_ms: 1 },
        );
        assert_eq!(limited.code, 1);
        assert!(limited.stdout.contains("turn.failed"));
        assert!(limited.stdout.contains("429 Too Many Requests"));
        let lie = run(&["exec", "--skip-git-repo-check", "hi"], Mode::Lie);
        assert_eq!((lie.code, lie.stdout.as_str()), (0, ""));
        let quota = run(
            &["exec", "--skip-git-repo-check", "hi"],
            Mode::Quota {
                reset_ms: 3 * 86_400_000,
            },
        );
        assert!(
            quota
                .stderr
                .contains("try again in 3 days 0 hours 0 minutes."),
            "{}",
            quota.stderr
        );
    }

    #[test]
    fn refusals() {
        let outside = parse(&["exec".into(), "-C".into(), "/".into(), "hi".into()], None);
        assert!(matches!(outside, Err(Outcome { code: 1, .. })));
        assert!(parse(&["exec".into(), "--skip-git-repo-check".into()], None).is_err());
        assert!(parse(&["chat".into()], None).is_err());
    }
}
