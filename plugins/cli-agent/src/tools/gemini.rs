//! `gemini --output-format json`: stdout `{"response", "stats": {"models": {M: {"tokens":
//! {"prompt", "candidates"}}}}}` on success; a fatal error as `{"error": {"type", "message",
//! "code"}}` on stderr with exit 1 (API error), 41 (authentication), 42 (input), 52
//! (configuration), 53 (turn limit). A 429 quotes the API's error: a `quotaId` with
//! `PerDay`/`Daily`, "daily quota", or a retry delay over 300 s is the daily quota (reset at
//! midnight US Pacific); otherwise the per-minute limit, reset after `retryDelay` or "Please
//! retry in 36.5s" (the later of the two).
use baton_agent_support::failure::{quota_exhausted, rate_limited, AgentError, Answer, Scope};
use baton_agent_support::{excerpt, reset};
use serde_json::{json, Value};

use super::{classify_words, no_answer, Ran, Tool, MESSAGE_BYTES};

/// A retry delay longer than this means the daily quota, not the per-minute limit.
const DAILY_DELAY_MS: u64 = 300_000;

/// The answer of a run, or its classification.
pub fn classify(ran: &Ran, now_ms: u64) -> Result<Answer, AgentError> {
    if ran.status == 0 {
        let body: Value =
            serde_json::from_slice(ran.stdout).map_err(|_| no_answer(Tool::Gemini, ran))?;
        let text = body["response"].as_str().unwrap_or_default().to_string();
        if text.trim().is_empty() {
            return Err(no_answer(Tool::Gemini, ran));
        }
        let models = body["stats"]["models"].as_object();
        let usage = models.map(|models| {
            models.values().fold((0, 0), |(input, output), model| {
                (
                    input + model["tokens"]["prompt"].as_u64().unwrap_or(0),
                    output + model["tokens"]["candidates"].as_u64().unwrap_or(0),
                )
            })
        });
        let model = models.and_then(|models| models.keys().next().cloned());
        return Ok(Answer {
            text,
            usage,
            model,
            finish_reason: None,
            data: json!({"stats": body["stats"]}),
        });
    }
    if ran.status == -1 {
        return Err(no_answer(Tool::Gemini, ran));
    }
    let stderr = String::from_utf8_lossy(ran.stderr);
    let error: Option<Value> = serde_json::from_str(stderr.trim()).ok();
    let message = error
        .as_ref()
        .and_then(|error| error["error"]["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| stderr.trim().to_string());
    match ran.status {
        41 => Err(classify_words(
            Tool::Gemini,
            &format!("authentication: {message}"),
            None,
        )),
        42 | 53 => Err(AgentError::BadRequest(format!(
            "gemini refused the input (exit {}): {}",
            ran.status,
            excerpt(&message, MESSAGE_BYTES, None)
        ))),
        44 | 52 => Err(AgentError::Fatal(format!(
            "gemini's sandbox or configuration failed (exit {}): {}",
            ran.status,
            excerpt(&message, MESSAGE_BYTES, None)
        ))),
        _ if message.contains("RESOURCE_EXHAUSTED") || message.contains("\"code\":429") => {
            Err(limit(&message, now_ms))
        }
        _ => Err(classify_words(Tool::Gemini, &message, None)),
    }
}

/// A 429: the daily quota or the per-minute limit, with its reset.
fn limit(message: &str, now_ms: u64) -> AgentError {
    let delay = retry_delay(message, now_ms);
    let said = reset::wait_after(message, "retry in", now_ms);
    let reset_at = match (delay, said) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let daily = message.contains("PerDay")
        || message.contains("Daily")
        || message.to_ascii_lowercase().contains("daily quota")
        || reset_at.is_some_and(|at| at.saturating_sub(now_ms) > DAILY_DELAY_MS);
    let said = excerpt(&api_message(message), MESSAGE_BYTES, None);
    if daily {
        let midnight = reset::zone("America/Los_Angeles")
            .and_then(|pacific| reset::next_midnight(&pacific, now_ms));
        return quota_exhausted(format!("gemini: daily quota exhausted: {said}"), midnight);
    }
    let scope = if message.contains("Token") {
        Scope::Tokens
    } else {
        Scope::Requests
    };
    rate_limited(scope, format!("gemini: {said}"), reset_at)
}

/// `"retryDelay": "36s"` in the quoted API error.
fn retry_delay(message: &str, now_ms: u64) -> Option<u64> {
    let rest = &message[message.find("\"retryDelay\"")? + "\"retryDelay\"".len()..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    reset::go_duration_ms(&rest[start..end]).map(|ms| now_ms.saturating_add(ms))
}

/// The API's own message inside "[API Error: {...}]", else the whole text.
fn api_message(message: &str) -> String {
    let inner = message
        .find('{')
        .and_then(|start| {
            let end = message.rfind('}')?;
            serde_json::from_str::<Value>(&message[start..=end]).ok()
        })
        .and_then(|api| api["error"]["message"].as_str().map(str::to_string));
    inner.unwrap_or_else(|| message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_568_800_000; // 2025-12-01T06:00:00Z

    fn ran<'a>(status: i32, stdout: &'a str, stderr: &'a str) -> Ran<'a> {
        Ran {
            status,
            stdout: stdout.as_bytes(),
            stderr: stderr.as_bytes(),
            timed_out: false,
        }
    }

    fn api_error(quota_id: &str, delay: &str, text: &str) -> String {
        let api = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": text, "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": quota_id}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}});
        json!({"error": {"type": "Error", "message": format!("[API Error: {api}]"), "code": 1}})
            .to_string()
    }

    #[test]
    fn answers() {
        let out = r#"{"response": "hi", "stats": {"models": {"gemini-2.5-pro": {"tokens": {"prompt": 7, "candidates": 2}}}}}"#;
        let answer = classify(&ran(0, out, ""), NOW).unwrap();
        assert_eq!((answer.text.as_str(), answer.usage), ("hi", Some((7, 2))));
        assert_eq!(answer.model.as_deref(), Some("gemini-2.5-pro"));
        assert!(matches!(
            classify(&ran(0, r#"{"response": ""}"#, ""), NOW),
            Err(AgentError::Overloaded { .. })
        ));
        assert!(matches!(
            classify(&ran(0, r#"{"respo"#, ""), NOW),
            Err(AgentError::Overloaded { .. })
        ));
    }

    #[test]
    fn limits() {
        let minute = api_error(
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "36s",
            "Quota exceeded. Please retry in 36.5s.",
        );
        match classify(&ran(1, "", &minute), NOW) {
            Err(AgentError::RateLimited(hit)) => {
                assert_eq!(
                    (hit.scope, hit.reset_at_ms),
                    (Scope::Requests, Some(NOW + 36_500))
                );
                assert!(
                    hit.message.contains("Please retry in 36.5s."),
                    "{}",
                    hit.message
                );
            }
            other => panic!("{other:?}"),
        }
        let day = api_error(
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "3600s",
            "You have exhausted your daily quota on this model.",
        );
        match classify(&ran(1, "", &day), NOW) {
            // Midnight US Pacific (PST, UTC-8) is 08:00Z.
            Err(AgentError::QuotaExhausted(hit)) => {
                assert_eq!(hit.reset_at_ms, Some(NOW + 2 * 3_600_000))
            }
            other => panic!("{other:?}"),
        }
        let long = api_error("SomethingPerMinute", "900s", "Please retry in 900s.");
        assert!(
            matches!(
                classify(&ran(1, "", &long), NOW),
                Err(AgentError::QuotaExhausted(_))
            ),
            "over 300 s is the daily quota"
        );
    }

    #[test]
    fn exit_codes() {
        let auth = r#"{"error": {"type": "FatalAuthenticationError", "message": "must specify the GEMINI_API_KEY environment variable", "code": 41}}"#;
        assert!(
            matches!(classify(&ran(41, "", auth), NOW), Err(AgentError::AuthFailed(m)) if m.contains("GEMINI_API_KEY"))
        );
        assert!(matches!(
            classify(&ran(42, "", "No input provided via stdin."), NOW),
            Err(AgentError::BadRequest(_))
        ));
        assert!(matches!(
            classify(&ran(52, "", "bad settings"), NOW),
            Err(AgentError::Fatal(_))
        ));
        let overloaded = r#"{"error": {"type": "Error", "message": "[API Error: {\"error\":{\"code\":503,\"status\":\"UNAVAILABLE\",\"message\":\"The model is overloaded.\"}}]", "code": 1}}"#;
        assert!(matches!(
            classify(&ran(1, "", overloaded), NOW),
            Err(AgentError::Overloaded { .. })
        ));
        assert!(matches!(
            classify(&ran(-1, "{\"resp", ""), NOW),
            Err(AgentError::Overloaded { .. })
        ));
    }
}
