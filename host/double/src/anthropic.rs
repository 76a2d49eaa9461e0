//! The Anthropic Messages shape (`POST /v1/messages`): the request fields the double reads,
//! and the answers and errors it gives, with the headers Anthropic sends
//! (`anthropic-ratelimit-*` with RFC 3339 resets, `request-id`, `retry-after`).
use serde_json::{Value, json};

use crate::http::{Request, Response};
use crate::mode::{self, Mode};
use crate::server::{Asked, Limited};
use crate::time::{now_ms, rfc3339};

/// Reads the credential, model and conversation of a request, or the 400/401 Anthropic
/// gives.
pub fn read(request: &Request) -> Result<Asked, Response> {
    let Some(key) = request.header("x-api-key").map(str::to_string) else {
        return Err(error(
            401,
            "authentication_error",
            "x-api-key header is required",
        ));
    };
    if request.header("anthropic-version").is_none() {
        return Err(error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ));
    }
    let body: Value = serde_json::from_slice(&request.body).map_err(|error_| {
        error(
            400,
            "invalid_request_error",
            &format!("There was an issue with your request body: {error_}"),
        )
    })?;
    let Some(model) = body["model"].as_str() else {
        return Err(error(400, "invalid_request_error", "model: Field required"));
    };
    let Some(max_tokens) = body["max_tokens"].as_u64() else {
        return Err(error(
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ));
    };
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return Err(error(
            400,
            "invalid_request_error",
            "messages: at least one message is required",
        ));
    };
    let users: Vec<String> = messages
        .iter()
        .filter(|message| message["role"] == "user")
        .map(|message| text_of(&message["content"]))
        .collect();
    Ok(Asked {
        key: Some(key),
        model: Some(model.to_string()),
        prompt: users.last().cloned().unwrap_or_default(),
        turn: users.len(),
        max_tokens: Some(max_tokens),
    })
}

/// A message's content: a string, or its text blocks.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| block["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The response Anthropic gives in `mode` to `asked`.
pub fn reply(mode: Mode, asked: &Asked, limited: &Limited) -> Response {
    let model = asked.model.as_deref().unwrap_or("claude-sonnet-4-5");
    let now = now_ms();
    let mut requests_reset = now + 1_000;
    let mut tokens_reset = now + 1_000;
    let response = match mode {
        Mode::Ok | Mode::Slow { .. } | Mode::Hang { .. } | Mode::Length | Mode::Truncated => {
            message(mode, asked, model)
        }
        Mode::Rpm { reset_ms } | Mode::RpmDate { reset_ms } => {
            requests_reset = now + reset_ms;
            error(
                429,
                "rate_limit_error",
                &format!(
                    "This request would exceed the rate limit for your organization (org-double) of {} requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.",
                    limited.rpm
                ),
            )
            .with("retry-after", reset_ms.div_ceil(1000).to_string())
        }
        Mode::Tpm { reset_ms } => {
            tokens_reset = now + reset_ms;
            error(
                429,
                "rate_limit_error",
                &format!(
                    "This request would exceed the rate limit for your organization (org-double) of {} input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
                    limited.tpm
                ),
            )
            .with("retry-after", reset_ms.div_ceil(1000).to_string())
        }
        Mode::Quota { reset_ms } => {
            // The spend cap: a 429 without `retry-after`, naming when access comes back.
            let at = rfc3339(now + reset_ms);
            let (date, time) = at.split_once('T').unwrap_or((&at, "00:00:00Z"));
            error(
                429,
                "rate_limit_error",
                &format!(
                    "You have reached your specified API usage limits. You will regain access on {date} at {} UTC.",
                    &time[..5]
                ),
            )
        }
        Mode::Auth => error(401, "authentication_error", "invalid x-api-key"),
        Mode::Overloaded { after_ms } => error(529, "overloaded_error", "Overloaded")
            .with("retry-after", after_ms.div_ceil(1000).to_string()),
        Mode::Unavailable => error(503, "api_error", "Service Unavailable"),
        Mode::BadRequest => error(
            400,
            "invalid_request_error",
            &format!(
                "prompt is too long: {} tokens > 200000 maximum",
                200_000 + mode::tokens(&asked.prompt)
            ),
        ),
        Mode::Lie => Response {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            cut: false,
        },
    };
    let exhausted_requests = matches!(mode, Mode::Rpm { .. } | Mode::RpmDate { .. });
    let exhausted_tokens = matches!(mode, Mode::Tpm { .. });
    let mut response = response
        .with("request-id", format!("req_double{now}"))
        .with("anthropic-organization-id", "org-double");
    for (name, limit, remaining, reset) in [
        (
            "requests",
            limited.rpm,
            if exhausted_requests {
                0
            } else {
                limited.remaining_requests
            },
            requests_reset,
        ),
        (
            "tokens",
            limited.tpm,
            if exhausted_tokens {
                0
            } else {
                limited.remaining_tokens
            },
            tokens_reset,
        ),
        (
            "input-tokens",
            limited.tpm,
            if exhausted_tokens {
                0
            } else {
                limited.remaining_tokens
            },
            tokens_reset,
        ),
        ("output-tokens", limited.tpm, limited.tpm, now + 1_000),
    ] {
        response = response
            .with(
                &format!("anthropic-ratelimit-{name}-limit"),
                limit.to_string(),
            )
            .with(
                &format!("anthropic-ratelimit-{name}-remaining"),
                remaining.to_string(),
            )
            .with(&format!("anthropic-ratelimit-{name}-reset"), rfc3339(reset));
    }
    Response {
        cut: mode == Mode::Truncated,
        ..response
    }
}

/// A `message` object.
fn message(mode: Mode, asked: &Asked, model: &str) -> Response {
    let mut text = mode::answer(&asked.prompt, asked.turn);
    let mut stop = "end_turn";
    if mode == Mode::Length {
        let keep = asked.max_tokens.unwrap_or(4).min(4) as usize * 4;
        text = text.chars().take(keep).collect();
        stop = "max_tokens";
    }
    Response::json(
        200,
        &json!({
            "id": format!("msg_double{}", now_ms()),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop,
            "stop_sequence": null,
            "usage": {
                "input_tokens": mode::tokens(&asked.prompt),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": mode::tokens(&text),
            },
        }),
    )
}

/// An Anthropic error body: `{"type": "error", "error": {"type", "message"}, "request_id"}`.
pub fn error(status: u16, kind: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": format!("req_double{}", now_ms()),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Asked {
        Asked {
            key: Some("sk-ant-test".into()),
            model: Some("claude-sonnet-4-5".into()),
            prompt: "hello".into(),
            turn: 2,
            max_tokens: Some(100),
        }
    }

    fn limited() -> Limited {
        Limited {
            rpm: 50,
            tpm: 40_000,
            remaining_requests: 49,
            remaining_tokens: 39_000,
        }
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn limits_and_errors() {
        let rpm = reply(Mode::Rpm { reset_ms: 2_500 }, &asked(), &limited());
        assert_eq!(rpm.status, 429);
        assert_eq!(header(&rpm, "retry-after"), Some("3"));
        assert_eq!(
            header(&rpm, "anthropic-ratelimit-requests-remaining"),
            Some("0")
        );
        let reset = header(&rpm, "anthropic-ratelimit-requests-reset").unwrap();
        assert!(reset.ends_with('Z') && reset.contains('T'), "{reset}");
        let quota = reply(Mode::Quota { reset_ms: 60_000 }, &asked(), &limited());
        assert_eq!(quota.status, 429);
        assert_eq!(
            header(&quota, "retry-after"),
            None,
            "a spend cap says no retry"
        );
        assert!(
            String::from_utf8(quota.body)
                .unwrap()
                .contains("You will regain access on")
        );
        let overloaded = reply(Mode::Overloaded { after_ms: 1000 }, &asked(), &limited());
        assert_eq!(overloaded.status, 529);
        assert!(
            String::from_utf8(overloaded.body)
                .unwrap()
                .contains("overloaded_error")
        );
    }

    #[test]
    fn answers() {
        let ok = reply(Mode::Ok, &asked(), &limited());
        let body: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(body["content"][0]["text"], "double answer #2: hello");
        assert_eq!(body["stop_reason"], "end_turn");
        let cut = reply(Mode::Length, &asked(), &limited());
        let body: Value = serde_json::from_slice(&cut.body).unwrap();
        assert_eq!(body["stop_reason"], "max_tokens");
    }
}
