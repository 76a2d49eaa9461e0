//! Path globs for stage inputs and outputs, on globset (the glob dialect of ripgrep and
//! Cargo): `*` and `?` match within one path segment, `**` any number of segments, `[a-z]`
//! and `[!x]` character classes, `{a,b}` alternation. Expansion walks (walkdir) only below
//! the pattern's literal prefix, never into a symlinked directory (so a link to `.` cannot
//! loop), never into Baton's state (`.baton/`) or Git's (`.git/`), never lists the marker
//! Baton leaves in the output directories it promotes, and returns paths in sorted order.

use super::outdir;
use globset::{Glob, GlobBuilder, GlobMatcher};
use std::path::Path;

/// Parses `pattern` with `/` as a literal separator.
fn parse(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("`{pattern}` is not a valid glob: {}", e.kind()))
}

/// Compiles `pattern` into a matcher (a regular expression: the costly part, so only for
/// patterns that are globs and only where something is matched).
fn compile(pattern: &str) -> Result<GlobMatcher, String> {
    parse(pattern).map(|glob| glob.compile_matcher())
}

/// Whether `pattern` is a valid glob; the error says what is wrong with it. Parses only:
/// every pattern that parses compiles.
pub fn check(pattern: &str) -> Result<(), String> {
    if !pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
        return Ok(());
    }
    parse(pattern).map(|_| ())
}

/// A pattern ready to match many paths: a literal path compares as a string, a glob
/// compiles once. An invalid pattern matches nothing (validation refuses it first, see
/// [`check`]).
pub enum Matcher {
    /// A literal path, without leading or trailing `/`.
    Literal(String),
    /// A compiled glob (`None` when the pattern is invalid).
    Glob(Option<GlobMatcher>),
}

impl Matcher {
    /// Prepares `pattern` for matching.
    pub fn new(pattern: &str) -> Matcher {
        if is_glob(pattern) {
            Matcher::Glob(compile(pattern).ok())
        } else {
            Matcher::Literal(pattern.trim_matches('/').to_string())
        }
    }

    /// Whether `path` (project-relative, with `/` separators) matches.
    pub fn is_match(&self, path: &str) -> bool {
        match self {
            Matcher::Literal(literal) => literal == path.trim_matches('/'),
            Matcher::Glob(glob) => glob.as_ref().is_some_and(|g| g.is_match(path)),
        }
    }
}

/// Whether `path` (project-relative, with `/` separators) matches `pattern`; to match
/// many paths against one pattern, prepare a [`Matcher`] once.
pub fn matches(pattern: &str, path: &str) -> bool {
    Matcher::new(pattern).is_match(path)
}

/// Whether `pattern` has glob characters (`*`, `?`, `[`, `{`).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// The literal directory part of `pattern`: its segments before the first one with a glob
/// character (`data/x/*.csv` gives `data/x`; a literal path gives itself), with `.` and
/// empty segments dropped.
pub fn base(pattern: &str) -> String {
    let literal: Vec<&str> = pattern
        .split('/')
        .take_while(|part| !is_glob(part))
        .collect();
    outdir::normalize(&literal.join("/"))
}

/// Whether `path` (relative, `/`-separated) is in a directory no walk enters (`.baton/`,
/// `.git/`, at any depth) or is a promotion marker: never a stage's input.
pub fn hidden(path: &str) -> bool {
    let mut parts = path.split('/').filter(|p| !p.is_empty() && *p != ".");
    let last = parts.next_back();
    parts.any(outdir::never_walked)
        || last.is_some_and(|name| name == outdir::MARKER || outdir::never_walked(name))
}

/// Files under `root` matching `pattern` (relative, `/`-separated), sorted. A literal path
/// is returned when it names a file. Symlinked files are listed; symlinked directories are
/// not entered, nor are `.baton/` and `.git/` (whatever the pattern), and promotion markers
/// are never listed.
pub fn expand(root: &Path, pattern: &str) -> Vec<String> {
    if !is_glob(pattern) {
        return if !hidden(pattern) && root.join(pattern).is_file() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let Ok(glob) = compile(pattern) else {
        return Vec::new();
    };
    let base = base(pattern);
    if hidden(&base) {
        return Vec::new();
    }
    let mut found: Vec<String> = walkdir::WalkDir::new(root.join(&base))
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            !(entry.depth() > 0
                && entry.file_type().is_dir()
                && outdir::never_walked(&entry.file_name().to_string_lossy()))
        })
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_type().is_dir() && entry.path().is_file())
        .filter(|entry| entry.file_name() != outdir::MARKER)
        .filter_map(|entry| {
            let relative = entry.path().strip_prefix(root).ok()?;
            let relative = relative.to_string_lossy().replace('\\', "/");
            glob.is_match(&relative).then_some(relative)
        })
        .collect();
    found.sort();
    found
}

/// Whether some path could match both patterns (used to find outputs claimed twice).
pub fn overlap(a: &str, b: &str) -> bool {
    a == b || (!is_glob(a) && matches(b, a)) || (!is_glob(b) && matches(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_segments() {
        assert!(matches("data/*.csv", "data/a.csv"));
        assert!(!matches("data/*.csv", "data/x/a.csv"));
        assert!(matches("data/**/*.csv", "data/x/y/a.csv"));
        assert!(matches("data/**/*.csv", "data/a.csv"));
        assert!(matches("out/?.json", "out/a.json"));
        assert!(!matches("out/?.json", "out/ab.json"));
        assert!(overlap("out/a.json", "out/*.json"));
        assert!(!overlap("out/*.csv", "out/*.json"));
    }

    #[test]
    fn classes_and_alternation_match_and_bad_globs_are_named() {
        assert!(matches("data/[ab].csv", "data/a.csv"));
        assert!(!matches("data/[ab].csv", "data/c.csv"));
        assert!(matches("data/[!ab].csv", "data/c.csv"));
        assert!(matches("data/*.{csv,tsv}", "data/x.tsv"));
        assert!(!matches("data/*.{csv,tsv}", "data/x.json"));
        assert!(check("data/[a.csv").unwrap_err().contains("data/[a.csv"));
        assert!(check("data/**/*.csv").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_the_project_does_not_loop_and_order_is_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data/x")).unwrap();
        for f in ["data/b.csv", "data/a.csv", "data/x/c.csv"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::os::unix::fs::symlink(dir.path(), dir.path().join("data/loop")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("data/x/loop")).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            expand(dir.path(), "data/**/*.csv"),
            ["data/a.csv", "data/b.csv", "data/x/c.csv"]
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn expansion_walks_below_the_literal_prefix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data/x")).unwrap();
        for f in ["data/a.csv", "data/b.txt", "data/x/c.csv"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        assert_eq!(expand(dir.path(), "data/*.csv"), ["data/a.csv"]);
        assert_eq!(
            expand(dir.path(), "data/**/*.csv"),
            ["data/a.csv", "data/x/c.csv"]
        );
        assert_eq!(expand(dir.path(), "data/b.txt"), ["data/b.txt"]);
        assert!(expand(dir.path(), "nope/*.csv").is_empty());
    }

    #[test]
    fn walks_skip_baton_state_git_and_promotion_markers() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "in.jsonl",
            ".baton/baton.db",
            ".baton/ledger/2024-01-01.jsonl",
            ".baton/runs/r.jsonl",
            ".git/objects/x.jsonl",
            "sub/.git/y.jsonl",
            "vendor/p/.baton/runs/z.jsonl",
            "out/s/o.jsonl",
            "out/s/.baton-output",
            ".hidden/h.jsonl",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}\n").unwrap();
        }
        assert_eq!(
            expand(dir.path(), "**/*.jsonl"),
            [".hidden/h.jsonl", "in.jsonl", "out/s/o.jsonl"]
        );
        assert_eq!(
            expand(dir.path(), "**"),
            [".hidden/h.jsonl", "in.jsonl", "out/s/o.jsonl"]
        );
        assert!(expand(dir.path(), ".baton/**").is_empty());
        assert!(expand(dir.path(), ".baton/baton.db").is_empty());
        assert!(expand(dir.path(), ".git/objects/*.jsonl").is_empty());
        assert!(expand(dir.path(), "out/s/.baton-output").is_empty());
        assert!(
            expand(dir.path(), "out/s/*")
                .iter()
                .all(|f| f == "out/s/o.jsonl")
        );
        assert_eq!(base("out/s/*.jsonl"), "out/s");
        assert_eq!(base("./data/x.csv"), "data/x.csv");
        assert_eq!(base("**/*.jsonl"), "");
        assert!(hidden(".baton/ledger/x.jsonl") && hidden("a/.git/b") && !hidden("a/b"));
    }
}
