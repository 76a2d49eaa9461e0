//! Modes: what the double does with one request (answer, refuse with a limit, hang, ...),
//! as named on the command line, in a control request or in a prompt marker.
//!
//! A mode is `NAME` or `NAME:MS`, where `MS` is the mode's one number in milliseconds (the
//! reset of a limit, the delay of a slow answer). A prompt containing `[double:NAME]` or
//! `[double:NAME:MS]` gets that mode whatever the double was told otherwise.
use std::fmt;

/// Default reset of a rate limit when the mode gives none: 2 s.
pub const DEFAULT_RESET_MS: u64 = 2_000;
/// Default reset of a quota when the mode gives none: 1 h.
pub const DEFAULT_QUOTA_RESET_MS: u64 = 3_600_000;
/// Default delay of `slow`: 1.5 s.
pub const DEFAULT_SLOW_MS: u64 = 1_500;
/// Default length of `hang`: 1 h (the caller's timeout is expected to end it first).
pub const DEFAULT_HANG_MS: u64 = 3_600_000;

/// What the double does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A normal answer.
    Ok,
    /// Requests-per-minute limit: 429 with reset headers (`retry-after` in seconds).
    Rpm {
        /// When the limit resets, from now.
        reset_ms: u64,
    },
    /// As [`Mode::Rpm`] but `retry-after` is an HTTP-date (RFC 9110 §10.2.3).
    RpmDate {
        /// When the limit resets, from now.
        reset_ms: u64,
    },
    /// Tokens-per-minute limit: 429 `type: tokens`, `x-ratelimit-reset-tokens`.
    Tpm {
        /// When the limit resets, from now.
        reset_ms: u64,
    },
    /// The daily or billing quota is spent (OpenAI `insufficient_quota`, Anthropic usage
    /// limit, Gemini `PerDay`, the CLIs' "usage limit reached … resets").
    Quota {
        /// When the quota resets, from now.
        reset_ms: u64,
    },
    /// The credential is refused (401, gemini exit 41, "Invalid API key").
    Auth,
    /// Overloaded: Anthropic 529 `overloaded_error`, OpenAI 503, with `retry-after`.
    Overloaded {
        /// The `retry-after` sent.
        after_ms: u64,
    },
    /// 503 Service Unavailable without `retry-after`.
    Unavailable,
    /// Never answers (within `ms`).
    Hang {
        /// How long the request is held.
        ms: u64,
    },
    /// Answers after a delay.
    Slow {
        /// The delay.
        ms: u64,
    },
    /// The answer is cut: HTTP body shorter than its `content-length` and the connection
    /// closed; a CLI killed mid-answer.
    Truncated,
    /// The answer ends early because it hit the token limit (`finish_reason: length`,
    /// `stop_reason: max_tokens`).
    Length,
    /// 400: the request can never succeed (context too long).
    BadRequest,
    /// The tools' lies: claude's rate limit printed as a result with exit 0, codex's empty
    /// answer with exit 0; over HTTP, a 200 whose body is not the expected JSON.
    Lie,
}

impl Mode {
    /// Parses `NAME` or `NAME:MS`.
    pub fn parse(text: &str) -> Result<Mode, String> {
        let text = text.trim();
        let (name, number) = match text.split_once(':') {
            Some((name, ms)) => {
                let ms = ms.parse::<u64>().map_err(|_| {
                    format!("mode `{text}`: `{ms}` is not a number of milliseconds")
                })?;
                (name, Some(ms))
            }
            None => (text, None),
        };
        let ms = |default| number.unwrap_or(default);
        Ok(match name {
            "ok" => Mode::Ok,
            "rpm" => Mode::Rpm {
                reset_ms: ms(DEFAULT_RESET_MS),
            },
            "rpm-date" => Mode::RpmDate {
                reset_ms: ms(DEFAULT_RESET_MS),
            },
            "tpm" => Mode::Tpm {
                reset_ms: ms(DEFAULT_RESET_MS),
            },
            "quota" => Mode::Quota {
                reset_ms: ms(DEFAULT_QUOTA_RESET_MS),
            },
            "auth" => Mode::Auth,
            "overloaded" => Mode::Overloaded {
                after_ms: ms(DEFAULT_RESET_MS),
            },
            "unavailable" => Mode::Unavailable,
            "hang" => Mode::Hang {
                ms: ms(DEFAULT_HANG_MS),
            },
            "slow" => Mode::Slow {
                ms: ms(DEFAULT_SLOW_MS),
            },
            "truncated" => Mode::Truncated,
            "length" => Mode::Length,
            "bad-request" => Mode::BadRequest,
            "lie" => Mode::Lie,
            other => {
                return Err(format!(
                    "unknown mode `{other}` (ok, rpm, rpm-date, tpm, quota, auth, overloaded, \
                     unavailable, hang, slow, truncated, length, bad-request, lie)"
                ));
            }
        })
    }

    /// Parses a comma-separated script, e.g. `rpm:500,rpm:500,ok`.
    pub fn parse_script(text: &str) -> Result<Vec<Mode>, String> {
        text.split(',').map(Mode::parse).collect()
    }

    /// The mode a prompt's `[double:...]` marker asks for, if it has one.
    pub fn from_marker(prompt: &str) -> Result<Option<Mode>, String> {
        let Some(start) = prompt.find("[double:") else {
            return Ok(None);
        };
        let rest = &prompt[start + "[double:".len()..];
        let Some(end) = rest.find(']') else {
            return Err("a `[double:` marker without its closing `]`".into());
        };
        Mode::parse(&rest[..end]).map(Some)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Ok => write!(f, "ok"),
            Mode::Rpm { reset_ms } => write!(f, "rpm:{reset_ms}"),
            Mode::RpmDate { reset_ms } => write!(f, "rpm-date:{reset_ms}"),
            Mode::Tpm { reset_ms } => write!(f, "tpm:{reset_ms}"),
            Mode::Quota { reset_ms } => write!(f, "quota:{reset_ms}"),
            Mode::Auth => write!(f, "auth"),
            Mode::Overloaded { after_ms } => write!(f, "overloaded:{after_ms}"),
            Mode::Unavailable => write!(f, "unavailable"),
            Mode::Hang { ms } => write!(f, "hang:{ms}"),
            Mode::Slow { ms } => write!(f, "slow:{ms}"),
            Mode::Truncated => write!(f, "truncated"),
            Mode::Length => write!(f, "length"),
            Mode::BadRequest => write!(f, "bad-request"),
            Mode::Lie => write!(f, "lie"),
        }
    }
}

/// The answer the double gives to a prompt: deterministic, so tests can assert it.
/// `turn` is the number of user messages in the conversation so far (1 for a first prompt).
pub fn answer(prompt: &str, turn: usize) -> String {
    format!("double answer #{turn}: {}", prompt.trim())
}

/// A rough token count (a quarter of the characters, at least 1), as providers report.
pub fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "ok",
            "rpm:500",
            "rpm-date:3000",
            "tpm:20",
            "quota:86400000",
            "auth",
            "overloaded:1000",
            "unavailable",
            "hang:10",
            "slow:250",
            "truncated",
            "length",
            "bad-request",
            "lie",
        ] {
            assert_eq!(Mode::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Mode::parse("rpm").unwrap(),
            Mode::Rpm {
                reset_ms: DEFAULT_RESET_MS
            }
        );
        assert!(
            Mode::parse("nap")
                .unwrap_err()
                .contains("unknown mode `nap`")
        );
        assert!(
            Mode::parse("slow:soon")
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn markers_and_scripts() {
        assert_eq!(
            Mode::from_marker("summarise [double:tpm:700] this").unwrap(),
            Some(Mode::Tpm { reset_ms: 700 })
        );
        assert_eq!(Mode::from_marker("plain prompt").unwrap(), None);
        assert!(Mode::from_marker("[double:rpm").is_err());
        assert_eq!(
            Mode::parse_script("rpm:5,ok").unwrap(),
            vec![Mode::Rpm { reset_ms: 5 }, Mode::Ok]
        );
    }

    #[test]
    fn token_counts() {
        assert_eq!(tokens(""), 1);
        assert_eq!(tokens("abcdefgh"), 2);
        assert_eq!(tokens("abcdefghi"), 3);
    }
}
