//! The `gemini` stand-in: headless with `-p` (or piped stdin), `-m MODEL`,
//! `--output-format text|json|stream-json`; a JSON answer `{"response", "stats"}` on stdout;
//! in JSON mode a fatal error as `{"error": {"type", "message", "code"}}` on stderr; exit
//! codes 0 ok, 1 API error, 41 authentication, 42 input.
use serde_json::json;

use super::{Invocation, Outcome, Parsed, delay, value};
use crate::mode::{self, Mode};

/// Output formats gemini knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    StreamJson,
}

/// Reads gemini's flags; the responder answers in a mode.
pub fn parse(args: &[String], stdin: Option<String>) -> Parsed {
    let mut prompt = None;
    let mut model = None;
    let mut format = Format::Text;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-p" | "--prompt" => prompt = Some(value("gemini", arg, iter.next())?),
            "-m" | "--model" => model = Some(value("gemini", arg, iter.next())?),
            "-o" | "--output-format" => {
                format = match value("gemini", arg, iter.next())?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "stream-json" => Format::StreamJson,
                    other => {
                        return Err(Outcome::err(
                            1,
                            format!(
                                "Invalid values:\n  Argument: output-format, Given: \"{other}\", Choices: \"text\", \"json\", \"stream-json\"\n"
                            ),
                        ));
                    }
                }
            }
            "--approval-mode" => {
                value("gemini", arg, iter.next())?;
            }
            "-y" | "--yolo" | "-s" | "--sandbox" | "-d" | "--debug" => {}
            other => {
                return Err(Outcome::err(1, format!("Unknown arguments: {other}\n")));
            }
        }
    }
    // Piped input comes before the -p text, as gemini joins them.
    let piped = stdin.filter(|text| !text.trim().is_empty());
    let prompt = match (piped, prompt) {
        (Some(piped), Some(prompt)) => format!("{}\n\n{prompt}", piped.trim_end()),
        (Some(piped), None) => piped,
        (None, Some(prompt)) => prompt,
        (None, None) => {
            return Err(Outcome::err(
                42,
                "No input provided via stdin. Input can be provided by piping data into gemini or using the --prompt option.\n".into(),
            ));
        }
    };
    let model_name = model.clone().unwrap_or_else(|| "gemini-2.5-pro".into());
    let invocation = Invocation {
        prompt: prompt.clone(),
        model,
    };
    Ok((
        invocation,
        Box::new(move |mode| respond(mode, &prompt, &model_name, format)),
    ))
}

fn respond(mode: Mode, prompt: &str, model: &str, format: Format) -> Outcome {
    match mode {
        Mode::Ok | Mode::Length => answer(prompt, model, format, mode),
        Mode::Slow { ms } => Outcome {
            delay: delay(ms),
            ..answer(prompt, model, format, mode)
        },
        Mode::Hang { ms } => Outcome {
            delay: delay(ms),
            ..answer(prompt, model, format, mode)
        },
        Mode::Truncated => {
            let whole = answer(prompt, model, format, mode).stdout;
            Outcome {
                stdout: whole[..whole.len() / 2].to_string(),
                killed: true,
                ..Outcome::default()
            }
        }
        Mode::Lie => Outcome::out(
            0,
            match format {
                Format::Text => "\n".into(),
                _ => format!(
                    "{}\n",
                    json!({"response": "", "stats": stats(model, prompt, "")})
                ),
            },
        ),
        Mode::Rpm { reset_ms } | Mode::RpmDate { reset_ms } | Mode::Tpm { reset_ms } => {
            let quota_id = if matches!(mode, Mode::Tpm { .. }) {
                "GenerateContentInputTokensPerModelPerMinute-FreeTier"
            } else {
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
            };
            let seconds = reset_ms as f64 / 1000.0;
            api_error(
                format,
                429,
                "RESOURCE_EXHAUSTED",
                &format!(
                    "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. Please retry in {seconds}s."
                ),
                Some((quota_id, reset_ms.div_ceil(1000))),
            )
        }
        Mode::Quota { reset_ms } => api_error(
            format,
            429,
            "RESOURCE_EXHAUSTED",
            "You have exhausted your daily quota on this model.",
            Some((
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                reset_ms.div_ceil(1000),
            )),
        ),
        Mode::Overloaded { .. } | Mode::Unavailable => api_error(
            format,
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            None,
        ),
        Mode::BadRequest => api_error(
            format,
            400,
            "INVALID_ARGUMENT",
            &format!(
                "The input token count ({}) exceeds the maximum number of tokens allowed (1048576).",
                1_048_576 + mode::tokens(prompt)
            ),
            None,
        ),
        Mode::Auth => fatal(
            format,
            41,
            "FatalAuthenticationError",
            "When using Gemini API, you must specify the GEMINI_API_KEY environment variable.\nUpdate your environment and try again (no reload needed if using .env)!",
        ),
    }
}

fn stats(model: &str, prompt: &str, text: &str) -> serde_json::Value {
    let (input, output) = (mode::tokens(prompt), mode::tokens(text));
    json!({
        "models": {
            model: {
                "api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 812},
                "tokens": {
                    "prompt": input,
                    "candidates": output,
                    "total": input + output,
                    "cached": 0,
                    "thoughts": 0,
                    "tool": 0,
                },
            }
        },
        "tools": {"totalCalls": 0, "totalSuccess": 0, "totalFail": 0, "totalDurationMs": 0},
        "files": {"totalLinesAdded": 0, "totalLinesRemoved": 0},
    })
}

fn answer(prompt: &str, model: &str, format: Format, mode: Mode) -> Outcome {
    let mut text = mode::answer(prompt, 1);
    if mode == Mode::Length {
        text = text.chars().take(16).collect();
    }
    let stdout = match format {
        Format::Text => format!("{text}\n"),
        Format::Json => format!(
            "{}\n",
            json!({"response": text, "stats": stats(model, prompt, &text)})
        ),
        Format::StreamJson => [
            json!({"type": "init", "session_id": "double-session", "model": model}),
            json!({"type": "message", "role": "user", "content": prompt}),
            json!({"type": "message", "role": "assistant", "content": text, "delta": true}),
            json!({"type": "result", "status": "success", "stats": {
                "total_tokens": mode::tokens(prompt) + mode::tokens(&text),
                "input_tokens": mode::tokens(prompt),
                "output_tokens": mode::tokens(&text),
                "duration_ms": 812,
                "tool_calls": 0,
            }}),
        ]
        .iter()
        .map(|event| format!("{event}\n"))
        .collect(),
    };
    Outcome::out(0, stdout)
}

/// An API error as gemini reports it: the API's error object quoted in the message.
fn api_error(
    format: Format,
    status: u16,
    code_name: &str,
    message: &str,
    quota: Option<(&str, u64)>,
) -> Outcome {
    let mut details = Vec::new();
    if let Some((quota_id, retry_seconds)) = quota {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
                "quotaValue": "50",
            }],
        }));
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{retry_seconds}s"),
        }));
    }
    let api = json!({"error": {"code": status, "message": message, "status": code_name, "details": details}});
    fatal(format, 1, "Error", &format!("[API Error: {api}]"))
}

/// A fatal error: JSON on stderr in the JSON formats, text otherwise.
fn fatal(format: Format, code: i32, kind: &str, message: &str) -> Outcome {
    let stderr = match format {
        Format::Text => format!("{message}\n"),
        Format::Json | Format::StreamJson => format!(
            "{}\n",
            json!({"error": {"type": kind, "message": message, "code": code}})
        ),
    };
    Outcome::err(code, stderr)
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
    fn json_answer_and_errors() {
        let ok = run(&["-p", "hi", "--output-format", "json"], Mode::Ok);
        let body: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
        assert_eq!(body["response"], "double answer #1: hi");
        assert_eq!(
            body["stats"]["models"]["gemini-2.5-pro"]["tokens"]["prompt"],
            1
        );
        let rpm = run(&["-p", "hi", "-o", "json"], Mode::Rpm { reset_ms: 36_500 });
        assert_eq!(rpm.code, 1);
        assert!(rpm.stdout.is_empty());
        let error: serde_json::Value = serde_json::from_str(&rpm.stderr).unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("Please retry in 36.5s."), "{message}");
        assert!(message.contains("PerMinute"), "{message}");
        assert!(message.contains("\"retryDelay\":\"37s\""), "{message}");
        assert_eq!(run(&["-p", "hi"], Mode::Auth).code, 41);
    }

    #[test]
    fn input_errors() {
        let Err(outcome) = parse(&[], None) else {
            panic!("no prompt accepted")
        };
        assert_eq!(outcome.code, 42);
        let Err(outcome) = parse(&["--frobnicate".into()], None) else {
            panic!("unknown flag accepted")
        };
        assert_eq!(outcome.code, 1);
        let (invocation, _) = parse(&["-p".into(), "question".into()], Some("data\n".into()))
            .map_err(|o| o.stderr)
            .unwrap();
        assert_eq!(invocation.prompt, "data\n\nquestion");
    }
}
