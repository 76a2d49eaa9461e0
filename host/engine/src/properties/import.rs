//! Properties of the JSON Lines import (`queue::import::read_lines`, then the store's
//! `enqueue` the way `baton queue import` commits each batch): arbitrary bytes never panic
//! and every line is accounted for exactly once (a job, a numbered rejection, or blank);
//! valid lines interleaved with garbage are all enqueued once per idempotency key, in order,
//! and each garbage line is rejected under its own 1-based number; `limit` keeps the first
//! good lines and says nothing past them.

use super::{cases, check, file_like, line_count};
use crate::queue::import::{BadLine, MAX_LINE_BYTES, read_lines};
use crate::settings::{StoreLocation, StoreSettings};
use baton_core::model::NewJob;
use baton_core::store::commit;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

/// Ids as written, with the idempotency key each must get: DOIs in several written forms
/// share one key, so the same artifact is enqueued once however each line spells it.
const IDS: &[(&str, &str)] = &[
    ("a", "a"),
    (" a ", "a"),
    ("b", "b"),
    ("10.1038/Nature1", "10.1038/nature1"),
    ("https://doi.org/10.1038/nature1", "10.1038/nature1"),
    ("doi:10.1038/NATURE1", "10.1038/nature1"),
    (
        "DOI: https://dx.doi.org/10.1038%2Fnature1",
        "10.1038/nature1",
    ),
    ("é/ü \"quoted\" \\ back", "é/ü \"quoted\" \\ back"),
    ("tab\there", "tab\there"),
];

/// A valid line: its id as written and the key it must get, the fields the queue reads, a
/// payload field, and white space around the object.
#[derive(Debug, Clone)]
struct Valid {
    id: String,
    key: String,
    resolver: Option<String>,
    priority: Option<i64>,
    /// A payload field, sometimes long enough to bring the line near the size limit.
    extra: Option<String>,
    padding: (&'static str, &'static str),
}

impl Valid {
    /// The JSON object (the payload the job must keep).
    fn object(&self) -> String {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), self.id.clone().into());
        if let Some(resolver) = &self.resolver {
            object.insert("resolver".into(), resolver.clone().into());
        }
        if let Some(priority) = self.priority {
            object.insert("priority".into(), priority.into());
        }
        if let Some(extra) = &self.extra {
            object.insert("title".into(), extra.clone().into());
        }
        serde_json::Value::Object(object).to_string()
    }
}

/// Lines that must be refused, each with a word its reason must contain.
#[derive(Debug, Clone)]
enum Garbage {
    /// `{"id": 5}`.
    NumericId(i64),
    /// An object without `id`.
    NoId(String),
    /// An `id` of white space only.
    BlankId(&'static str),
    /// `{` and text without a closing brace.
    Unclosed(String),
    /// Text that is not an object.
    NotObject(&'static str, String),
    /// A line holding bytes that are not UTF-8.
    NotUtf8(Vec<u8>),
    /// A well-formed line longer than the limit.
    Oversized(usize),
}

impl Garbage {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Garbage::NumericId(n) => format!("{{\"id\": {n}}}").into_bytes(),
            Garbage::NoId(doi) => serde_json::json!({ "doi": doi }).to_string().into_bytes(),
            Garbage::BlankId(space) => serde_json::json!({ "id": space }).to_string().into_bytes(),
            Garbage::Unclosed(rest) => format!("{{{rest}").into_bytes(),
            Garbage::NotObject(head, rest) => format!("{head}{rest}").into_bytes(),
            Garbage::NotUtf8(bytes) => bytes.clone(),
            Garbage::Oversized(extra) => {
                format!("{{\"id\":\"{}\"}}", "x".repeat(MAX_LINE_BYTES + extra)).into_bytes()
            }
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Garbage::NumericId(_) | Garbage::Unclosed(_) => "invalid JSON",
            Garbage::NoId(_) | Garbage::BlankId(_) => "no string `id`",
            Garbage::NotObject(..) => "not a JSON object",
            Garbage::NotUtf8(_) => "not UTF-8",
            Garbage::Oversized(_) => "the limit is",
        }
    }
}

#[derive(Debug, Clone)]
enum Line {
    Valid(Valid),
    Garbage(Garbage),
    /// White space only (skipped, but counted).
    Blank(&'static str),
}

fn valid() -> impl Strategy<Value = Valid> {
    let id = prop_oneof![
        3 => proptest::sample::select(IDS).prop_map(|(id, key)| (id.to_string(), key.to_string())),
        1 => "[a-z]{1,4}".prop_map(|id| (id.clone(), id)),
    ];
    let extra = prop_oneof![
        4 => Just(None),
        2 => "[^\u{0}]{0,12}".prop_map(Some),
        // Near the limit, yet within it whatever the line end.
        1 => Just(Some("x".repeat(MAX_LINE_BYTES - 200))),
    ];
    let padding =
        proptest::sample::select(&[("", ""), (" ", ""), ("\t", "  "), ("\u{a0}", " ")][..]);
    (
        id,
        proptest::option::of("[a-z-]{1,10}"),
        proptest::option::of(any::<i64>()),
        extra,
        padding,
    )
        .prop_map(|((id, key), resolver, priority, extra, padding)| Valid {
            id,
            key,
            resolver,
            priority,
            extra,
            padding,
        })
}

fn garbage() -> impl Strategy<Value = Garbage> {
    let not_utf8 = (
        proptest::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            0..12,
        ),
        // Bytes that appear nowhere in UTF-8 text.
        proptest::sample::select(&[0xff_u8, 0xfe, 0xc0, 0xc1, 0xf8][..]),
        proptest::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            0..12,
        ),
    )
        .prop_map(|(head, bad, tail)| [&b"{\"id\":\""[..], &head, &[bad], &tail, b"\"}"].concat());
    prop_oneof![
        any::<i64>().prop_map(Garbage::NumericId),
        "[^\n]{0,16}".prop_map(Garbage::NoId),
        proptest::sample::select(&["", " ", "\t", "\u{a0}"][..]).prop_map(Garbage::BlankId),
        "[^}\n]{0,20}".prop_map(Garbage::Unclosed),
        (
            proptest::sample::select(&["[", "\"", "1", "x", "null", "}"][..]),
            "[^\n]{0,20}"
        )
            .prop_map(|(head, rest)| Garbage::NotObject(head, rest)),
        not_utf8.prop_map(Garbage::NotUtf8),
        (0..64usize).prop_map(Garbage::Oversized),
    ]
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => valid().prop_map(Line::Valid),
        3 => garbage().prop_map(Line::Garbage),
        1 => proptest::sample::select(&["", " ", "\t", "\r", " \u{a0}\u{2028} "][..])
            .prop_map(Line::Blank),
    ]
}

/// A generated file: its lines, each with its line end, an optional byte-order mark and an
/// optional missing newline at the end.
#[derive(Debug, Clone)]
struct File {
    lines: Vec<(Line, &'static str)>,
    bom: bool,
    final_newline: bool,
}

impl File {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.bom {
            out.extend_from_slice("\u{feff}".as_bytes());
        }
        for (n, (line, end)) in self.lines.iter().enumerate() {
            match line {
                Line::Valid(v) => out.extend_from_slice(
                    format!("{}{}{}", v.padding.0, v.object(), v.padding.1).as_bytes(),
                ),
                Line::Garbage(g) => out.extend_from_slice(&g.bytes()),
                Line::Blank(space) => out.extend_from_slice(space.as_bytes()),
            }
            if n + 1 < self.lines.len() || self.final_newline {
                out.extend_from_slice(end.as_bytes());
            }
        }
        out
    }
}

fn file(max_lines: usize) -> impl Strategy<Value = File> {
    (
        proptest::collection::vec(
            (line(), proptest::sample::select(&["\n", "\r\n"][..])),
            0..max_lines,
        ),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, bom, final_newline)| File {
            lines,
            bom,
            final_newline,
        })
}

/// What one import returned: the jobs by batch (with their lines), the bad lines, the last
/// progress report.
struct Read {
    batches: Vec<Vec<(u64, NewJob)>>,
    bad: Vec<BadLine>,
    progress: Option<u64>,
}

fn read(bytes: &[u8], limit: Option<u64>, max_attempts: u32, batch_size: usize) -> Read {
    let mut batches = Vec::new();
    let mut progress = None;
    let bad = read_lines(
        bytes,
        limit,
        max_attempts,
        batch_size,
        |batch| {
            batches.push(batch);
            Ok(())
        },
        |line| progress = Some(line),
    )
    .expect("reading from memory does not fail");
    Read {
        batches,
        bad,
        progress,
    }
}

/// Whether `read_lines` must skip line `number` (`text` without its newline) as blank; for
/// lines under the size limit.
fn is_blank(number: usize, text: &[u8]) -> bool {
    match std::str::from_utf8(text) {
        Ok(text) if number == 1 => text
            .strip_prefix('\u{feff}')
            .unwrap_or(text)
            .trim()
            .is_empty(),
        Ok(text) => text.trim().is_empty(),
        Err(_) => false,
    }
}

/// JSON Lines fragments for arbitrary input.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "\"id\"",
    ":",
    "\"x\"",
    ",",
    "[",
    "]",
    "null",
    "1",
    "{\"id\":\"a\"}",
];

/// Any bytes: no panic, and every line is a job, a rejection or blank, exactly once,
/// each rejection under a line number of the input, in order.
#[test]
fn arbitrary_bytes_never_panic_and_every_line_is_accounted_for() {
    check(
        cases(1024),
        &(
            prop_oneof![
                file_like(TOKENS, 40),
                proptest::collection::vec(any::<u8>(), 0..512),
            ],
            1..5usize,
        ),
        |(bytes, batch_size)| {
            let read = read(&bytes, None, 3, batch_size);
            let lines = line_count(&bytes);
            let good: Vec<u64> = read.batches.iter().flatten().map(|(n, _)| *n).collect();
            let bad: Vec<u64> = read.bad.iter().map(|b| b.line).collect();
            prop_assert!(
                read.batches
                    .iter()
                    .all(|b| !b.is_empty() && b.len() <= batch_size)
            );
            prop_assert!(
                good.windows(2).all(|w| w[0] < w[1]),
                "good lines in order: {good:?}"
            );
            prop_assert!(
                bad.windows(2).all(|w| w[0] < w[1]),
                "bad lines in order: {bad:?}"
            );
            let blank: Vec<u64> = bytes
                .split(|&b| b == b'\n')
                .take(lines)
                .enumerate()
                .filter(|(i, text)| is_blank(i + 1, text))
                .map(|(i, _)| i as u64 + 1)
                .collect();
            let mut seen: Vec<u64> = good.iter().chain(&bad).chain(&blank).copied().collect();
            seen.sort_unstable();
            let all: Vec<u64> = (1..=lines as u64).collect();
            prop_assert_eq!(
                seen,
                all,
                "each line once: good {:?} bad {:?} blank {:?}",
                good,
                bad,
                blank
            );
            prop_assert!(read.bad.iter().all(|b| !b.reason.is_empty()));
            prop_assert_eq!(read.progress, Some(lines as u64));
            Ok(())
        },
    );
}

/// Valid lines among garbage: exactly the valid ones become jobs (in order, with their
/// line, key, resolver, priority and payload); each garbage line is rejected under its
/// own number and for its own reason; the store enqueues the first line of each key and
/// reports every later one as a duplicate.
#[test]
fn valid_lines_among_garbage_are_all_enqueued_once_and_garbage_is_named() {
    check(
        cases(40),
        &(file(24), 1..6usize, 1..5u32),
        |(file, batch_size, max_attempts)| {
            let bytes = file.bytes();
            let read = read(&bytes, None, max_attempts, batch_size);
            let jobs: Vec<&(u64, NewJob)> = read.batches.iter().flatten().collect();
            let expected: Vec<(u64, &Valid)> = file
                .lines
                .iter()
                .enumerate()
                .filter_map(|(i, (line, _))| match line {
                    Line::Valid(v) => Some((i as u64 + 1, v)),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(jobs.len(), expected.len(), "jobs {:?}", jobs);
            for ((line, job), (number, valid)) in jobs.iter().zip(&expected) {
                prop_assert_eq!(line, number);
                prop_assert_eq!(&job.key, &valid.key);
                prop_assert_eq!(&job.plugin, &valid.resolver);
                prop_assert_eq!(job.priority, valid.priority.unwrap_or(0));
                prop_assert_eq!(&job.payload, &valid.object());
                prop_assert_eq!(job.max_attempts, max_attempts);
            }
            let garbage: Vec<(u64, &Garbage)> = file
                .lines
                .iter()
                .enumerate()
                .filter_map(|(i, (line, _))| match line {
                    Line::Garbage(g) => Some((i as u64 + 1, g)),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(read.bad.len(), garbage.len(), "bad {:?}", read.bad);
            for (bad, (number, garbage)) in read.bad.iter().zip(&garbage) {
                prop_assert_eq!(bad.line, *number);
                prop_assert!(
                    bad.reason.contains(garbage.reason()),
                    "line {}: {} for {:?}",
                    number,
                    bad.reason,
                    garbage
                );
            }

            // The store, batch by batch as `baton queue import` commits them.
            let dir = tempfile::tempdir().expect("a temporary directory");
            let mut store = crate::store::open(&StoreSettings {
                location: StoreLocation::Sqlite(dir.path().join("baton.db")),
                ledger_dir: dir.path().join("ledger"),
                durability: baton_core::store::Durability::Normal,
            })
            .expect("a new store opens");
            let mut inserted = Vec::new();
            for batch in &read.batches {
                let jobs: Vec<NewJob> = batch.iter().map(|(_, job)| job.clone()).collect();
                inserted.extend(
                    commit(store.as_mut(), 0, |tx| tx.enqueue(&jobs, false)).expect("enqueue"),
                );
            }
            let mut first: HashMap<&str, &Valid> = HashMap::new();
            for ((_, valid), new) in expected.iter().zip(&inserted) {
                let is_first = !first.contains_key(valid.key.as_str());
                prop_assert_eq!(*new, is_first, "{:?}", valid.key);
                first.entry(&valid.key).or_insert(valid);
            }
            let stored = store.list(None, 10_000).expect("list");
            let keys: BTreeSet<&str> = stored.iter().map(|j| j.key.as_str()).collect();
            prop_assert_eq!(keys, first.keys().copied().collect::<BTreeSet<_>>());
            for job in &stored {
                let valid = first[job.key.as_str()];
                let payload: serde_json::Value =
                    serde_json::from_str(&valid.object()).expect("JSON");
                prop_assert_eq!(&job.payload, &payload);
            }
            Ok(())
        },
    );
}

/// `limit`: the first `limit` valid lines become jobs; garbage before the last of them is
/// still named, and nothing after it is read.
#[test]
fn a_limit_keeps_the_first_good_lines_and_names_the_garbage_before_them() {
    check(cases(128), &(file(16), 0..12u64), |(file, limit)| {
        let read = read(&file.bytes(), Some(limit), 3, 4);
        let valid: Vec<u64> = file
            .lines
            .iter()
            .enumerate()
            .filter(|(_, (line, _))| matches!(line, Line::Valid(_)))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        let kept: Vec<u64> = valid.iter().copied().take(limit as usize).collect();
        let last = match limit {
            0 => 0,
            _ if (limit as usize) <= valid.len() => kept[kept.len() - 1],
            _ => u64::MAX,
        };
        let garbage: Vec<u64> = file
            .lines
            .iter()
            .enumerate()
            .filter(|(_, (line, _))| matches!(line, Line::Garbage(_)))
            .map(|(i, _)| i as u64 + 1)
            .filter(|&n| n < last)
            .collect();
        let jobs: Vec<u64> = read.batches.iter().flatten().map(|(n, _)| *n).collect();
        prop_assert_eq!(jobs, kept);
        prop_assert_eq!(read.bad.iter().map(|b| b.line).collect::<Vec<_>>(), garbage);
        Ok(())
    });
}
