//! The OpenAI chat-completions shape (`POST /v1/chat/completions`): the request fields the
//! double reads, and the answers and errors it gives, with the headers OpenAI sends
//! (`x-ratelimit-*` with Go durations, `x-request-id`, `retry-after`, `retry-after-ms`).
use serde_json::{Value, json};

use crate::http::{Request, Response};
use crate::mode::{self, Mode};
use crate::server::{Asked, Limited};
use crate::time::{go_duration, http_date, now_ms};

/// The request limit the double reports when it enforces none.
const REPORTED_RPM: u64 = 500;
/// The token limit the double reports when it enforces none.
const REPORTED_TPM: u64 = 200_000;

/// Reads the credential, model and conversation of a request, or the 400/401 OpenAI gives.
pub fn read(request: &Request) -> Result<Asked, Response> {
    let key = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_string);
    let Some(key) = key else {
        return Err(error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
        ));
    };
    let body: Value = serde_json::from_slice(&request.body).map_err(|_| {
        error(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
            "invalid_request_error",
            None,
        )
    })?;
    let Some(model) = body["model"].as_str() else {
        return Err(error(
            400,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
        ));
    };
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return Err(error(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            Some("missing_required_parameter"),
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
        max_tokens: body["max_completion_tokens"]
            .as_u64()
            .or(body["max_tokens"].as_u64()),
    })
}

/// A message's content: a string, or the text parts of a list.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The response OpenAI gives in `mode` to `asked`.
pub fn reply(mode: Mode, asked: &Asked, limited: &Limited) -> Response {
    let model = asked.model.as_deref().unwrap_or("gpt-4o-mini");
    let response = match mode {
        Mode::Ok | Mode::Slow { .. } | Mode::Hang { .. } | Mode::Length | Mode::Truncated => {
            completion(mode, asked, model)
        }
        Mode::Rpm { reset_ms } | Mode::RpmDate { reset_ms } => {
            let seconds = reset_ms.div_ceil(1000);
            let message = format!(
                "Rate limit reached for {model} in organization org-double on requests per min (RPM): Limit {}, Used {}, Requested 1. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more.",
                limited.rpm,
                limited.rpm,
                go_duration(reset_ms)
            );
            let retry_after = match mode {
                Mode::RpmDate { .. } => http_date(now_ms() + seconds * 1000),
                _ => seconds.to_string(),
            };
            error(429, &message, "requests", Some("rate_limit_exceeded"))
                .with("retry-after", retry_after)
                .with("retry-after-ms", reset_ms.to_string())
        }
        Mode::Tpm { reset_ms } => {
            let message = format!(
                "Rate limit reached for {model} in organization org-double on tokens per min (TPM): Limit {}, Used {}, Requested {}. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more.",
                limited.tpm,
                limited.tpm,
                mode::tokens(&asked.prompt),
                go_duration(reset_ms)
            );
            error(429, &message, "tokens", Some("rate_limit_exceeded"))
                .with("retry-after", reset_ms.div_ceil(1000).to_string())
        }
        Mode::Quota { .. } => error(
            429,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Mode::Auth => error(
            401,
            &format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                masked(asked.key.as_deref().unwrap_or(""))
            ),
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        Mode::Overloaded { after_ms } => error(
            503,
            "The server is overloaded or not ready yet.",
            "server_error",
            None,
        )
        .with("retry-after", after_ms.div_ceil(1000).to_string()),
        Mode::Unavailable => error(503, "Service Unavailable", "server_error", None),
        Mode::BadRequest => error(
            400,
            &format!(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in {} tokens. Please reduce the length of the messages.",
                128_000 + mode::tokens(&asked.prompt)
            ),
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        Mode::Lie => Response {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html><body>upstream connect error</body></html>".to_vec(),
            cut: false,
        },
    };
    let response = headers(response, limited, mode);
    Response {
        cut: mode == Mode::Truncated,
        ..response
    }
}

/// A `chat.completion` object.
fn completion(mode: Mode, asked: &Asked, model: &str) -> Response {
    let mut text = mode::answer(&asked.prompt, asked.turn);
    let mut finish = "stop";
    if mode == Mode::Length {
        let keep = asked.max_tokens.unwrap_or(4).min(4) as usize * 4;
        text = text.chars().take(keep).collect();
        finish = "length";
    }
    let (input, output) = (mode::tokens(&asked.prompt), mode::tokens(&text));
    Response::json(
        200,
        &json!({
            "id": format!("chatcmpl-double{}", now_ms()),
            "object": "chat.completion",
            "created": now_ms() / 1000,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": null},
                "logprobs": null,
                "finish_reason": finish,
            }],
            "usage": {
                "prompt_tokens": input,
                "completion_tokens": output,
                "total_tokens": input + output,
            },
            "system_fingerprint": "fp_double",
        }),
    )
}

/// The `x-ratelimit-*` and `x-request-id` headers every OpenAI response carries.
fn headers(response: Response, limited: &Limited, mode: Mode) -> Response {
    let (reset_requests, reset_tokens) = match mode {
        Mode::Rpm { reset_ms } | Mode::RpmDate { reset_ms } => (reset_ms, 6),
        Mode::Tpm { reset_ms } => (120, reset_ms),
        _ => (120, 6),
    };
    let exhausted_requests = matches!(mode, Mode::Rpm { .. } | Mode::RpmDate { .. });
    let exhausted_tokens = matches!(mode, Mode::Tpm { .. });
    response
        .with("x-request-id", format!("req_double{}", now_ms()))
        .with("openai-processing-ms", "1")
        .with("x-ratelimit-limit-requests", limited.rpm.to_string())
        .with("x-ratelimit-limit-tokens", limited.tpm.to_string())
        .with(
            "x-ratelimit-remaining-requests",
            if exhausted_requests {
                0
            } else {
                limited.remaining_requests
            }
            .to_string(),
        )
        .with(
            "x-ratelimit-remaining-tokens",
            if exhausted_tokens {
                0
            } else {
                limited.remaining_tokens
            }
            .to_string(),
        )
        .with("x-ratelimit-reset-requests", go_duration(reset_requests))
        .with("x-ratelimit-reset-tokens", go_duration(reset_tokens))
}

/// An OpenAI error body: `{"error": {"message", "type", "param", "code"}}`.
pub fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response {
    Response::json(
        status,
        &json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

/// A key as OpenAI shows it in an error: `sk-abc***********wxyz`.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// The limits reported when the double enforces none.
pub fn reported_limits() -> (u64, u64) {
    (REPORTED_RPM, REPORTED_TPM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Asked {
        Asked {
            key: Some("sk-test-0123456789".into()),
            model: Some("gpt-4o-mini".into()),
            prompt: "hello".into(),
            turn: 1,
            max_tokens: None,
        }
    }

    fn limited() -> Limited {
        Limited {
            rpm: 3,
            tpm: 1000,
            remaining_requests: 2,
            remaining_tokens: 990,
        }
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn rate_limit_has_reset_headers() {
        let response = reply(Mode::Rpm { reset_ms: 360_000 }, &asked(), &limited());
        assert_eq!(response.status, 429);
        assert_eq!(header(&response, "x-ratelimit-reset-requests"), "6m0s");
        assert_eq!(header(&response, "x-ratelimit-remaining-requests"), "0");
        assert_eq!(header(&response, "retry-after"), "360");
        assert_eq!(header(&response, "retry-after-ms"), "360000");
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"]["type"], "requests");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        let tokens = reply(Mode::Tpm { reset_ms: 20 }, &asked(), &limited());
        assert_eq!(header(&tokens, "x-ratelimit-reset-tokens"), "20ms");
    }

    #[test]
    fn answers_and_errors() {
        let ok = reply(Mode::Ok, &asked(), &limited());
        let body: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "double answer #1: hello"
        );
        assert_eq!(body["usage"]["prompt_tokens"], 2);
        let auth = reply(Mode::Auth, &asked(), &limited());
        let text = String::from_utf8(auth.body).unwrap();
        assert!(text.contains("sk-***********6789"), "{text}");
        assert!(!text.contains("sk-test-0123456789"));
        let quota = reply(Mode::Quota { reset_ms: 1 }, &asked(), &limited());
        assert!(
            String::from_utf8(quota.body)
                .unwrap()
                .contains("insufficient_quota")
        );
        assert!(reply(Mode::Truncated, &asked(), &limited()).cut);
    }
}
