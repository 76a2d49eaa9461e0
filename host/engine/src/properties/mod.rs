//! Property-based tests of the engine's readers of user files: the JSON Lines import
//! (`import`), pipeline files and their graphs (`pipeline`), `baton.toml` (`config`) and
//! `--env-file` files (`env_file`). Each property runs the real entry point on generated
//! input: arbitrary bytes never panic, no valid line is lost, and every rejection names its
//! line. This module holds only what they share; failing cases found by a property are kept
//! as ordinary regression tests beside the code they exercise, so proptest persists nothing.

mod config;
mod env_file;
mod import;
mod pipeline;

use proptest::prelude::*;

/// A property's configuration: `cases` runs (or `PROPTEST_CASES`, for a longer search) and
/// no failure files (see the module header).
fn cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `test` on values of `strategy` as `config` says; a failure panics with the reason and
/// the shrunk input.
fn check<S: Strategy>(
    config: ProptestConfig,
    strategy: &S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(error) = runner.run(strategy, test) {
        panic!("{error}");
    }
}

/// Text lines as `read_until(b'\n')` and `str::lines` count them: a final line without its
/// newline still counts, an empty input has none.
fn line_count(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').count() - usize::from(bytes.is_empty() || bytes.ends_with(b"\n"))
}

/// Fragments that make generated text look like a file of the format under test: the
/// format's own tokens (`tokens`) mixed with line ends, quotes, a byte-order mark, non-ASCII
/// text and arbitrary bytes, including invalid UTF-8.
fn file_like(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        4 => proptest::sample::select(tokens).prop_map(|t| t.as_bytes().to_vec()),
        2 => proptest::sample::select(&["\n", "\r\n", "\r", " ", "\t", "\"", "'", "#", "=",
            "\u{feff}", "é", "\u{2028}", "\\", "\0"][..]).prop_map(|t| t.as_bytes().to_vec()),
        1 => "[a-zA-Z0-9_. -]{1,12}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 1..8),
    ];
    proptest::collection::vec(fragment, 0..max).prop_map(|parts| parts.concat())
}

#[test]
fn line_count_counts_like_a_line_reader() {
    assert_eq!(line_count(b""), 0);
    assert_eq!(line_count(b"a"), 1);
    assert_eq!(line_count(b"a\n"), 1);
    assert_eq!(line_count(b"a\nb"), 2);
    assert_eq!(line_count(b"\n\n"), 2);
}
