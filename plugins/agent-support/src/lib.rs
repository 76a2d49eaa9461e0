//! What Baton's agent adapters (`openai`, `anthropic`, `cli-agent`) share:
//!
//! - [`conversation`]: the turns an HTTP adapter resends, and a prompt's options;
//! - [`reset`]: when a provider's limit resets, read from its headers and messages;
//! - [`failure`]: the one classification an adapter returns for a call that produced no
//!   answer (rate-limited until T, quota exhausted until T, authentication failed,
//!   overloaded, timeout, bad request, fatal), mirroring the WIT `agent-failure`;
//! - [`wit`]: the classification and answer as the WIT records the host sees;
//! - [`excerpt`]: a bounded, credential-free excerpt of what a provider said.
//!
//! Everything here is plain Rust, tested natively (`cargo test -p baton-agent-support`).
pub mod conversation;
pub mod failure;
pub mod reset;
pub mod wit;

/// At most `max` bytes of `text` (cut at a character boundary, `…` appended when cut), with
/// every occurrence of `secret` (an API key) replaced by `[redacted]`.
pub fn excerpt(text: &str, max: usize, secret: Option<&str>) -> String {
    let text = match secret.filter(|s| s.len() >= 4) {
        Some(secret) => text.replace(secret, "[redacted]"),
        None => text.to_string(),
    };
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_and_redacted() {
        assert_eq!(excerpt("  short  ", 10, None), "short");
        assert_eq!(excerpt("abcdef", 3, None), "abc…");
        assert_eq!(excerpt("ééé", 3, None), "é…");
        assert_eq!(
            excerpt("bad key sk-secret-1 given", 100, Some("sk-secret-1")),
            "bad key [redacted] given"
        );
    }
}
