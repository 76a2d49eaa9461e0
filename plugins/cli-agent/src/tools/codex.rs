//! `codex exec --json`: JSON lines on stdout (`item.completed` with an `agent_message`,
//! `turn.completed` with `usage: {input_tokens, cached_input_tokens, output_tokens}`,
//! `turn.failed {error: {message}}`). Only `turn.failed` is a failure: an `error` item can
//! appear on healthy runs. Exit 1 whenever an error was seen, 0 otherwise, even with an
//! empty answer (which is no answer). Limits read "You've hit your usage limit … try again at
//! 3:28 PM." or "… try again in 3 days 6 hours 57 minutes."
use baton_agent_support::failure::{AgentError, Answer};
use baton_agent_support::reset;
use jiff::tz::TimeZone;
use serde_json::{json, Value};

use super::{classify_words, no_answer, wall_clock_reset, Ran, Tool};

/// The answer of a run, or its classification.
pub fn classify(ran: &Ran, now_ms: u64, zone: &TimeZone) -> Result<Answer, AgentError> {
    let stdout = String::from_utf8_lossy(ran.stdout);
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let failed = events
        .iter()
        .rev()
        .find(|event| event["type"] == "turn.failed")
        .and_then(|event| event["error"]["message"].as_str());
    if let Some(message) = failed {
        return Err(classify_words(
            Tool::Codex,
            message,
            reset(message, now_ms, zone),
        ));
    }
    let answer = events
        .iter()
        .rev()
        .filter(|event| event["type"] == "item.completed")
        .find(|event| event["item"]["type"] == "agent_message")
        .and_then(|event| event["item"]["text"].as_str());
    let completed = events
        .iter()
        .rev()
        .find(|event| event["type"] == "turn.completed");
    match (answer, completed) {
        (Some(text), Some(completed)) if ran.status == 0 && !text.trim().is_empty() => {
            let usage = &completed["usage"];
            Ok(Answer {
                text: text.to_string(),
                usage: usage["input_tokens"]
                    .as_u64()
                    .map(|input| (input, usage["output_tokens"].as_u64().unwrap_or(0))),
                model: None,
                finish_reason: None,
                data: json!({
                    "thread_id": events.iter().find(|e| e["type"] == "thread.started").map(|e| e["thread_id"].clone()),
                    "cached_input_tokens": usage["cached_input_tokens"],
                }),
            })
        }
        _ if ran.status > 0 => {
            // An error without a failed turn: the last `ERROR:` line, else stderr.
            let stderr = String::from_utf8_lossy(ran.stderr);
            let message = stderr
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix("ERROR: "))
                .map(str::to_string)
                .unwrap_or_else(|| stderr.trim().to_string());
            if message.is_empty() {
                return Err(no_answer(Tool::Codex, ran));
            }
            Err(classify_words(
                Tool::Codex,
                &message,
                reset(&message, now_ms, zone),
            ))
        }
        _ => Err(no_answer(Tool::Codex, ran)),
    }
}

/// "try again at 3:28 PM" or "try again in 3 days 6 hours 57 minutes".
fn reset(message: &str, now_ms: u64, zone: &TimeZone) -> Option<u64> {
    wall_clock_reset(message, "try again at ", zone, now_ms)
        .or_else(|| reset::wait_after(message, "try again in", now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_agent_support::failure::Scope;

    const NOW: u64 = 1_764_568_800_000; // 2025-12-01T06:00:00Z

    fn run(status: i32, events: &[Value]) -> Result<Answer, AgentError> {
        let stdout: String = events.iter().map(|e| format!("{e}\n")).collect();
        let ran = Ran {
            status,
            stdout: stdout.as_bytes(),
            stderr: b"",
            timed_out: false,
        };
        classify(&ran, NOW, &TimeZone::UTC)
    }

    fn failed(message: &str) -> Vec<Value> {
        vec![
            json!({"type": "turn.started"}),
            json!({"type": "error", "message": message}),
            json!({"type": "turn.failed", "error": {"message": message}}),
        ]
    }

    #[test]
    fn answers_despite_error_items() {
        let events = [
            json!({"type": "thread.started", "thread_id": "t1"}),
            json!({"type": "item.completed", "item": {"type": "error", "message": "retrying 1/5"}}),
            json!({"type": "item.completed", "item": {"type": "agent_message", "text": "done"}}),
            json!({"type": "turn.completed", "usage": {"input_tokens": 9, "cached_input_tokens": 2, "output_tokens": 1}}),
        ];
        let answer = run(0, &events).unwrap();
        assert_eq!((answer.text.as_str(), answer.usage), ("done", Some((9, 1))));
        assert_eq!(answer.data["thread_id"], "t1");
        let empty =
            [json!({"type": "turn.completed", "usage": {"input_tokens": 9, "output_tokens": 0}})];
        assert!(
            matches!(run(0, &empty), Err(AgentError::Overloaded { .. })),
            "exit 0 with no answer"
        );
    }

    #[test]
    fn failures() {
        match run(
            1,
            &failed("exceeded retry limit, last status: 429 Too Many Requests"),
        ) {
            Err(AgentError::RateLimited(hit)) => assert_eq!(hit.scope, Scope::Requests),
            other => panic!("{other:?}"),
        }
        match run(
            1,
            &failed("You've hit your usage limit. Upgrade to Pro or try again at 3:28 PM."),
        ) {
            Err(AgentError::QuotaExhausted(hit)) => {
                assert_eq!(hit.reset_at_ms, Some(NOW + 9 * 3_600_000 + 28 * 60_000))
            }
            other => panic!("{other:?}"),
        }
        match run(
            1,
            &failed("You've hit your usage limit. try again in 3 days 6 hours 57 minutes."),
        ) {
            Err(AgentError::QuotaExhausted(hit)) => assert_eq!(
                hit.reset_at_ms,
                Some(NOW + 3 * 86_400_000 + 6 * 3_600_000 + 57 * 60_000)
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(run(1, &failed("unexpected status 401 Unauthorized: Missing bearer")), Err(AgentError::AuthFailed(m)) if m.contains("codex login"))
        );
        assert!(matches!(
            run(
                1,
                &failed("exceeded retry limit, last status: 503 Service Unavailable")
            ),
            Err(AgentError::Overloaded { .. })
        ));
        let ran = Ran {
            status: 1,
            stdout: b"",
            stderr:
                b"Not inside a trusted directory and --skip-git-repo-check was not specified.\n",
            timed_out: false,
        };
        assert!(matches!(
            classify(&ran, NOW, &TimeZone::UTC),
            Err(AgentError::Fatal(_))
        ));
    }
}
