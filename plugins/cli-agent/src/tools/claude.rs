//! `claude -p --output-format json`: one result object on stdout whose `is_error` is the only
//! reliable failure flag (`subtype` stays `success`, a rate limit exits 0). Its `result`
//! carries the words: "Claude AI usage limit reached|1753077600" (reset in epoch seconds),
//! "You've hit your limit · resets 7pm (Asia/Shanghai)", "API Error: Rate limit reached",
//! "Invalid API key · Please run /login". Killed mid-run, it prints nothing.
use baton_agent_support::failure::{AgentError, Answer};
use jiff::tz::TimeZone;
use serde_json::{json, Value};

use super::{classify_words, no_answer, wall_clock_reset, Ran, Tool};

/// The answer of a run, or its classification.
pub fn classify(ran: &Ran, now_ms: u64, zone: &TimeZone) -> Result<Answer, AgentError> {
    let result: Option<Value> = serde_json::from_slice(ran.stdout)
        .ok()
        .filter(|value: &Value| value["type"] == "result");
    let Some(result) = result else {
        if ran.status == 0 || ran.status == -1 || ran.stderr.is_empty() {
            return Err(no_answer(Tool::Claude, ran));
        }
        let stderr = String::from_utf8_lossy(ran.stderr);
        return Err(classify_words(Tool::Claude, stderr.trim(), None));
    };
    let text = result["result"].as_str().unwrap_or_default().to_string();
    if result["is_error"] == true {
        return Err(classify_words(
            Tool::Claude,
            &text,
            reset(&text, now_ms, zone),
        ));
    }
    if text.trim().is_empty() {
        return Err(no_answer(Tool::Claude, ran));
    }
    let usage = &result["usage"];
    let usage = usage["input_tokens"].as_u64().map(|input| {
        let cached = usage["cache_read_input_tokens"].as_u64().unwrap_or(0)
            + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
        (input + cached, usage["output_tokens"].as_u64().unwrap_or(0))
    });
    let model = result["modelUsage"]
        .as_object()
        .and_then(|models| models.keys().next().cloned());
    Ok(Answer {
        text,
        usage,
        model,
        finish_reason: result["subtype"].as_str().map(str::to_string),
        data: json!({
            "session_id": result["session_id"],
            "num_turns": result["num_turns"],
            "total_cost_usd": result["total_cost_usd"],
            "duration_ms": result["duration_ms"],
        }),
    })
}

/// When a limit message says the limit resets.
fn reset(text: &str, now_ms: u64, zone: &TimeZone) -> Option<u64> {
    if let Some((_, epoch)) = text.split_once("limit reached|") {
        let digits: String = epoch.chars().take_while(char::is_ascii_digit).collect();
        return digits
            .parse::<u64>()
            .ok()
            .map(|seconds| seconds.saturating_mul(1000));
    }
    wall_clock_reset(text, "resets ", zone, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_agent_support::failure::Scope;

    const NOW: u64 = 1_764_568_800_000; // 2025-12-01T06:00:00Z

    fn result(is_error: bool, text: &str) -> String {
        json!({"type": "result", "subtype": "success", "is_error": is_error, "result": text,
            "session_id": "s1", "num_turns": 1, "total_cost_usd": 0.01,
            "usage": {"input_tokens": 4, "cache_read_input_tokens": 6, "output_tokens": 3}})
        .to_string()
    }

    fn run(status: i32, stdout: &str, stderr: &str) -> Result<Answer, AgentError> {
        let ran = Ran {
            status,
            stdout: stdout.as_bytes(),
            stderr: stderr.as_bytes(),
            timed_out: false,
        };
        classify(&ran, NOW, &TimeZone::UTC)
    }

    #[test]
    fn answers() {
        let answer = run(0, &result(false, "hello"), "").unwrap();
        assert_eq!(
            (answer.text.as_str(), answer.usage),
            ("hello", Some((10, 3)))
        );
        assert_eq!(answer.data["session_id"], "s1");
    }

    #[test]
    fn errors_with_exit_zero() {
        match run(0, &result(true, "API Error: Rate limit reached"), "") {
            Err(AgentError::RateLimited(hit)) => {
                assert_eq!((hit.scope, hit.reset_at_ms), (Scope::Requests, None))
            }
            other => panic!("{other:?}"),
        }
        match run(
            0,
            &result(true, "Claude AI usage limit reached|1764590400"),
            "",
        ) {
            Err(AgentError::QuotaExhausted(hit)) => {
                assert_eq!(hit.reset_at_ms, Some(1_764_590_400_000))
            }
            other => panic!("{other:?}"),
        }
        match run(
            0,
            &result(true, "You've hit your limit · resets 7pm (Asia/Shanghai)"),
            "",
        ) {
            Err(AgentError::QuotaExhausted(hit)) => {
                assert_eq!(hit.reset_at_ms, Some(NOW + 5 * 3_600_000))
            }
            other => panic!("{other:?}"),
        }
        match run(0, &result(true, "Weekly limit reached ∙ resets 5am"), "") {
            Err(AgentError::QuotaExhausted(hit)) => {
                assert_eq!(hit.reset_at_ms, Some(NOW + 23 * 3_600_000))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(1, &result(true, "Invalid API key · Please run /login"), ""),
            Err(AgentError::AuthFailed(_))
        ));
        assert!(matches!(
            run(
                1,
                &result(
                    true,
                    r#"API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}"#
                ),
                ""
            ),
            Err(AgentError::Overloaded { .. })
        ));
        assert!(
            matches!(
                run(0, &result(false, ""), ""),
                Err(AgentError::Overloaded { .. })
            ),
            "empty answer"
        );
    }

    #[test]
    fn no_result_object() {
        assert!(
            matches!(run(-1, "", ""), Err(AgentError::Overloaded { .. })),
            "killed: nothing on stdout"
        );
        assert!(matches!(
            run(
                1,
                "",
                "Error: Input must be provided either through stdin or as a prompt argument"
            ),
            Err(AgentError::Fatal(_))
        ));
    }
}
