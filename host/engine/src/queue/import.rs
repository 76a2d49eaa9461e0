//! JSON Lines import: one artifact per line, `{"id": ..., ...payload}`, optionally with
//! `resolver` (a resolver to use instead of the chain) and `priority`. Every good line is
//! imported; every bad one — broken JSON, empty, oversized, no string `id`, a duplicate — is
//! reported with its line number and reason. The whole line is kept as the payload.

use baton_core::model::{JobKind, NewJob};
use serde::Deserialize;
use std::io::BufRead;

/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// A line that was not imported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// Why the line was refused.
    pub reason: String,
}

/// The fields of a line the queue itself reads; the rest is the plugin's payload.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    resolver: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    priority: Option<i64>,
}

/// The longest job id, in bytes (UTF-8).
pub const MAX_ID_BYTES: usize = 2048;

/// Refuses an id longer than [`MAX_ID_BYTES`].
pub fn check_id(id: &str) -> Result<(), String> {
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "the id is {} bytes, the limit is {MAX_ID_BYTES} bytes",
            id.len()
        ));
    }
    Ok(())
}

/// Reads one line into `buffer` (its terminator, LF or CRLF, left out), keeping at most
/// `max + 1` bytes of it in memory however long it is. Returns `None` at the end of input,
/// else the line's full length in bytes (without its terminator).
fn read_line_bounded(
    reader: &mut impl BufRead,
    buffer: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    buffer.clear();
    let mut length = 0usize;
    let mut read_any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (take, ended) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (available.len(), false),
        };
        let room = (max + 1).saturating_sub(buffer.len());
        buffer.extend_from_slice(&available[..take.min(room)]);
        length += take;
        reader.consume(take + usize::from(ended));
        if ended {
            break;
        }
    }
    if !read_any {
        return Ok(None);
    }
    if buffer.last() == Some(&b'\r') && length <= max + 1 {
        buffer.pop();
        length -= 1;
    }
    Ok(Some(length))
}

/// Parses one non-blank line into a job, or says why it is bad. The job's key is the id's
/// idempotency key (a DOI in any written form is its bare lowercase DOI, see [`super::doi`]).
pub fn parse_line(text: &str, max_attempts: u32) -> Result<NewJob, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty line".into());
    }
    if !trimmed.starts_with('{') {
        return Err("not a JSON object".into());
    }
    let head: Head<'_> = serde_json::from_str(trimmed).map_err(|e| format!("invalid JSON: {e}"))?;
    let id = head
        .id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| "no string `id`".to_string())?;
    check_id(&id)?;
    Ok(NewJob {
        key: super::doi::idempotency_key(&id),
        kind: JobKind::Resolve,
        plugin: head.resolver.map(|r| r.into_owned()),
        payload: trimmed.to_string(),
        priority: head.priority.unwrap_or(0),
        max_attempts,
    })
}

/// Reads JSON Lines from `reader`, calling `batch` with each full batch of good jobs (with
/// their line numbers) and collecting bad lines. A UTF-8 byte-order mark before the first
/// line is dropped, lines may end in LF or CRLF, and blank lines are skipped (they still
/// count for the line numbers). Stops after `limit` good lines when given.
pub fn read_lines(
    reader: impl BufRead,
    limit: Option<u64>,
    max_attempts: u32,
    batch_size: usize,
    mut batch: impl FnMut(Vec<(u64, NewJob)>) -> anyhow::Result<()>,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Vec<BadLine>> {
    let mut bad = Vec::new();
    let mut pending = Vec::with_capacity(batch_size);
    let mut good = 0u64;
    let mut reader = reader;
    let mut buffer = Vec::with_capacity(1024);
    let mut number = 0u64;
    while let Some(length) = read_line_bounded(&mut reader, &mut buffer, MAX_LINE_BYTES)? {
        number += 1;
        if limit.is_some_and(|limit| good >= limit) {
            break;
        }
        if length > MAX_LINE_BYTES {
            bad.push(BadLine {
                line: number,
                reason: format!("line is {length} bytes, the limit is {MAX_LINE_BYTES} bytes"),
            });
            continue;
        }
        let text = match std::str::from_utf8(&buffer) {
            Ok(text) if number == 1 => text.strip_prefix('\u{feff}').unwrap_or(text),
            Ok(text) => text,
            Err(_) => {
                bad.push(BadLine {
                    line: number,
                    reason: "not UTF-8 text".into(),
                });
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(text, max_attempts);
        match parsed {
            Ok(job) => {
                good += 1;
                pending.push((number, job));
                if pending.len() == batch_size {
                    batch(std::mem::replace(
                        &mut pending,
                        Vec::with_capacity(batch_size),
                    ))?;
                    progress(number);
                }
            }
            Err(reason) => bad.push(BadLine {
                line: number,
                reason,
            }),
        }
    }
    if !pending.is_empty() {
        batch(pending)?;
    }
    progress(number);
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_jobs_keeping_the_payload() {
        let job = parse_line(
            r#" {"id": "10.1/x", "doi": "10.1/x", "resolver": "unpaywall", "priority": 5} "#,
            3,
        )
        .unwrap();
        assert_eq!(job.key, "10.1/x");
        assert_eq!(job.plugin.as_deref(), Some("unpaywall"));
        assert_eq!(job.priority, 5);
        assert!(job.payload.contains("\"doi\""));
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, reason) in [
            ("", "empty line"),
            ("[1, 2]", "not a JSON object"),
            ("{\"id\": ", "invalid JSON"),
            ("{\"doi\": \"x\"}", "no string `id`"),
            ("{\"id\": 5}", "invalid JSON"),
            ("{\"id\": \"  \"}", "no string `id`"),
        ] {
            let error = parse_line(line, 3).unwrap_err();
            assert!(error.contains(reason), "{line}: {error}");
        }
    }

    /// Every job (with its line) and every bad line of `input`, in batches of 10.
    fn read_all(input: &str, limit: Option<u64>) -> (Vec<(u64, NewJob)>, Vec<BadLine>) {
        let mut jobs = Vec::new();
        let bad = read_lines(
            input.as_bytes(),
            limit,
            3,
            10,
            |b| {
                jobs.extend(b);
                Ok(())
            },
            |_| {},
        )
        .unwrap();
        (jobs, bad)
    }

    #[test]
    fn every_bad_line_is_numbered_and_limit_counts_good_lines() {
        let input = format!(
            "{{\"id\":\"a\"}}\n\n{{broken\n{{\"id\":\"{}\"}}\n{{\"id\":\"b\"}}\n{{\"id\":\"c\"}}\n",
            "x".repeat(MAX_LINE_BYTES)
        );
        let (jobs, bad) = read_all(&input, Some(2));
        let keys: Vec<&str> = jobs.iter().map(|(_, j)| j.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        let lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4], "a blank line is skipped, not bad");
        assert!(bad[1].reason.contains("limit"));
    }

    #[test]
    fn the_line_limit_counts_content_bytes_and_keeps_memory_bounded() {
        let exact = format!(
            "{{\"id\":\"a\",\"pad\":\"{}\"}}",
            "x".repeat(MAX_LINE_BYTES - 19)
        );
        assert_eq!(exact.len(), MAX_LINE_BYTES);
        let huge = "y".repeat(8 * MAX_LINE_BYTES);
        let input = format!("{exact}\r\n{huge}\n{{\"id\":\"z\"}}");
        let mut reader = std::io::BufReader::with_capacity(4096, input.as_bytes());
        let mut buffer = Vec::new();
        assert_eq!(
            read_line_bounded(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap(),
            Some(MAX_LINE_BYTES)
        );
        assert_eq!(buffer, exact.as_bytes());
        assert_eq!(
            read_line_bounded(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap(),
            Some(huge.len())
        );
        assert!(
            buffer.len() <= MAX_LINE_BYTES + 1,
            "the long line was kept whole"
        );
        assert_eq!(
            read_line_bounded(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap(),
            Some(10)
        );
        assert_eq!(
            read_line_bounded(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap(),
            None
        );
        let (jobs, bad) = read_all(&input, None);
        assert_eq!(jobs.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert!(
            bad[0]
                .reason
                .contains(&format!("line is {} bytes", huge.len()))
        );
    }

    #[test]
    fn ids_longer_than_the_limit_are_refused() {
        let line = format!("{{\"id\":\"{}\"}}", "m".repeat(MAX_ID_BYTES + 1));
        let reason = parse_line(&line, 1).unwrap_err();
        assert!(reason.contains("the limit is 2048 bytes"), "{reason}");
    }

    #[test]
    fn a_byte_order_mark_crlf_and_blank_lines_lose_no_line() {
        let input = "\u{feff}{\"id\":\"first\"}\r\n\r\n  \r\n{\"id\":\"DOI: https://doi.org/10.1/ABC\"}\r\n";
        let (jobs, bad) = read_all(input, None);
        assert!(bad.is_empty(), "{bad:?}");
        let keys: Vec<(u64, &str)> = jobs.iter().map(|(n, j)| (*n, j.key.as_str())).collect();
        assert_eq!(keys, [(1, "first"), (4, "10.1/abc")]);
    }
}
