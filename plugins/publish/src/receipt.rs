//! The receipt a publish run writes as its output: what was sent where and what the
//! endpoint answered, one entry per file in published-path order. It holds nothing that
//! changes from run to run by itself (no times, no attempt counts, never the token), so
//! `baton compare` of two runs' receipts says whether they published the same bytes to the
//! same places with the same answers.
use serde::Serialize;

/// The whole receipt, written as pretty-printed JSON.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Receipt {
    /// The base URL the paths are relative to.
    pub url: String,
    /// The request method, `PUT` or `POST`.
    pub method: String,
    /// How many files were published.
    pub files: usize,
    /// Their bytes, summed.
    pub bytes: u64,
    /// One entry per file.
    pub published: Vec<Published>,
}

/// One published file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Published {
    /// Its path relative to the base URL, as on disk (not percent-encoded).
    pub path: String,
    /// Its project path (the stage input it came from).
    pub input: String,
    /// The URL it was sent to (percent-encoded).
    pub url: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The SHA-256 of its content, lowercase hex.
    pub sha256: String,
    /// The `Content-Type` it was sent with.
    pub content_type: String,
    /// The 2xx status that accepted it.
    pub status: u16,
}

impl Receipt {
    /// The receipt as its file's text: pretty-printed JSON and a final newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_a_stable_order() {
        let receipt = Receipt {
            url: "http://h/site/".into(),
            method: "PUT".into(),
            files: 1,
            bytes: 2,
            published: vec![Published {
                path: "a b.txt".into(),
                input: "static/a b.txt".into(),
                url: "http://h/site/a%20b.txt".into(),
                bytes: 2,
                sha256: "ab".into(),
                content_type: "text/plain; charset=utf-8".into(),
                status: 201,
            }],
        };
        let text = receipt.to_text();
        assert!(text.ends_with("}\n"));
        let order: Vec<usize> = [
            "\"url\"",
            "\"method\"",
            "\"files\"",
            "\"published\"",
            "\"sha256\"",
            "\"status\"",
        ]
        .iter()
        .map(|key| text.find(key).unwrap())
        .collect();
        assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    }
}
