//! The `claude` stand-in: `claude -p [PROMPT]` (or the prompt on stdin),
//! `--output-format text|json|stream-json`, `--model`; the JSON result object whose
//! `is_error` is the only reliable failure signal (`subtype` stays `success`, and a rate
//! limit exits 0); "Claude AI usage limit reached|EPOCH"; "Invalid API key · Please run
//! /login" with exit 1; killed mid-run, nothing on stdout.
use serde_json::json;

use super::{Invocation, Outcome, Parsed, delay, value};
use crate::mode::{self, Mode};
use crate::time::now_ms;

/// Output formats claude knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    StreamJson,
}

/// Reads claude's flags; the responder answers in a mode.
pub fn parse(args: &[String], stdin: Option<String>) -> Parsed {
    let mut print = false;
    let mut model = None;
    let mut format = Format::Text;
    let mut verbose = false;
    let mut resume = None;
    let mut positional = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-p" | "--print" => print = true,
            "--model" => model = Some(value("claude", arg, iter.next())?),
            "--output-format" => {
                format = match value("claude", arg, iter.next())?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "stream-json" => Format::StreamJson,
                    other => {
                        return Err(Outcome::err(
                            1,
                            format!(
                                "error: option '--output-format <format>' argument '{other}' is invalid. Allowed choices are text, json, stream-json.\n"
                            ),
                        ));
                    }
                }
            }
            "--resume" | "-r" => resume = Some(value("claude", arg, iter.next())?),
            "--max-turns"
            | "--permission-mode"
            | "--append-system-prompt"
            | "--system-prompt"
            | "--allowedTools"
            | "--disallowedTools" => {
                value("claude", arg, iter.next())?;
            }
            "--verbose" => verbose = true,
            "--continue" | "-c" | "--dangerously-skip-permissions" => {}
            flag if flag.starts_with('-') => {
                return Err(Outcome::err(1, format!("error: unknown option '{flag}'\n")));
            }
            _ => positional.push(arg.clone()),
        }
    }
    if !print {
        return Err(Outcome::err(
            1,
            "Error: Raw mode is not supported on the current process.stdin (the double imitates only `claude -p`)\n".into(),
        ));
    }
    if format == Format::StreamJson && !verbose {
        return Err(Outcome::err(
            1,
            "Error: When using --print, --output-format=stream-json requires --verbose\n".into(),
        ));
    }
    let prompt = match (positional.join(" "), stdin) {
        (argument, Some(piped)) if !piped.trim().is_empty() && argument.is_empty() => piped,
        (argument, Some(piped)) if !piped.trim().is_empty() => {
            format!("{}\n{argument}", piped.trim_end())
        }
        (argument, _) if !argument.is_empty() => argument,
        _ => {
            return Err(Outcome::err(
                1,
                "Error: Input must be provided either through stdin or as a prompt argument when using --print\n".into(),
            ));
        }
    };
    let session = resume.unwrap_or_else(|| format!("double-{}", now_ms()));
    let model_name = model.clone().unwrap_or_else(|| "claude-sonnet-4-5".into());
    let invocation = Invocation {
        prompt: prompt.clone(),
        model,
    };
    Ok((
        invocation,
        Box::new(move |mode| respond(mode, &prompt, &model_name, &session, format)),
    ))
}

fn respond(mode: Mode, prompt: &str, model: &str, session: &str, format: Format) -> Outcome {
    let said = |code: i32, is_error: bool, text: &str| -> Outcome {
        Outcome::out(code, result(format, is_error, text, prompt, model, session))
    };
    match mode {
        Mode::Ok => said(0, false, &mode::answer(prompt, 1)),
        Mode::Length => said(
            0,
            false,
            &mode::answer(prompt, 1).chars().take(16).collect::<String>(),
        ),
        Mode::Slow { ms } | Mode::Hang { ms } => Outcome {
            delay: delay(ms),
            ..said(0, false, &mode::answer(prompt, 1))
        },
        Mode::Truncated => Outcome {
            killed: true,
            ..Outcome::default()
        },
        // The trap: a rate limit is a result with `is_error` and exit 0.
        Mode::Rpm { .. } | Mode::RpmDate { .. } | Mode::Tpm { .. } => {
            said(0, true, "API Error: Rate limit reached")
        }
        Mode::Quota { reset_ms } => said(
            0,
            true,
            &format!(
                "Claude AI usage limit reached|{}",
                (now_ms() + reset_ms) / 1000
            ),
        ),
        Mode::Auth => said(1, true, "Invalid API key · Please run /login"),
        Mode::Overloaded { .. } => said(
            1,
            true,
            r#"API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
        Mode::Unavailable => said(1, true, "API Error: 503 Service Unavailable"),
        Mode::BadRequest => said(
            1,
            true,
            &format!(
                r#"API Error: 400 {{"type":"error","error":{{"type":"invalid_request_error","message":"prompt is too long: {} tokens > 200000 maximum"}}}}"#,
                200_000 + mode::tokens(prompt)
            ),
        ),
        Mode::Lie => said(0, true, "API Error: Connection error."),
    }
}

/// The output in `format`: the text, or the result object.
fn result(
    format: Format,
    is_error: bool,
    text: &str,
    prompt: &str,
    model: &str,
    session: &str,
) -> String {
    let (input, output) = (mode::tokens(prompt), mode::tokens(text));
    let object = json!({
        "type": "result",
        "subtype": "success",
        "is_error": is_error,
        "duration_ms": 1203,
        "duration_api_ms": 1150,
        "num_turns": 1,
        "result": text,
        "session_id": session,
        "total_cost_usd": if is_error { 0.0 } else { 0.0021 },
        "usage": {
            "input_tokens": if is_error { 0 } else { input },
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": if is_error { 0 } else { output },
            "server_tool_use": {"web_search_requests": 0},
            "service_tier": "standard",
        },
    });
    match format {
        Format::Text => format!("{text}\n"),
        Format::Json => format!("{object}\n"),
        Format::StreamJson => format!(
            "{}\n{}\n{object}\n",
            json!({"type": "system", "subtype": "init", "session_id": session, "model": model, "tools": []}),
            json!({"type": "assistant", "session_id": session, "message": {
                "model": model, "role": "assistant",
                "content": [{"type": "text", "text": text}],
            }}),
        ),
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
    fn rate_limit_is_an_error_with_exit_zero() {
        let outcome = run(
            &["-p", "--output-format", "json", "hi"],
            Mode::Rpm { reset_ms: 1 },
        );
        assert_eq!(outcome.code, 0);
        let body: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
        assert_eq!(body["is_error"], true);
        assert_eq!(body["subtype"], "success");
        assert_eq!(body["result"], "API Error: Rate limit reached");
        let text = run(&["-p", "hi"], Mode::Rpm { reset_ms: 1 });
        assert_eq!(
            (text.code, text.stdout.as_str()),
            (0, "API Error: Rate limit reached\n")
        );
    }

    #[test]
    fn answers_quota_and_auth() {
        let ok = run(&["-p", "--output-format", "json", "hi"], Mode::Ok);
        let body: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
        assert_eq!(body["result"], "double answer #1: hi");
        assert_eq!(body["usage"]["input_tokens"], 1);
        let quota = run(
            &["-p", "--output-format", "json", "hi"],
            Mode::Quota { reset_ms: 60_000 },
        );
        let body: serde_json::Value = serde_json::from_str(&quota.stdout).unwrap();
        assert!(
            body["result"]
                .as_str()
                .unwrap()
                .starts_with("Claude AI usage limit reached|")
        );
        assert_eq!(run(&["-p", "hi"], Mode::Auth).code, 1);
        let killed = run(&["-p", "--output-format", "json", "hi"], Mode::Truncated);
        assert!(killed.killed && killed.stdout.is_empty());
        assert!(
            parse(&["hi".into()], None).is_err(),
            "interactive mode refused"
        );
        assert!(parse(&["-p".into()], None).is_err(), "no prompt refused");
    }
}
