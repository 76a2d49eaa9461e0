//! Path globs for stage inputs and outputs: `*` matches within one path segment, `**` any
//! number of segments, `?` one character. Expansion walks only below the literal prefix.

use std::path::Path;

fn match_segment(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            match_segment(&pattern[1..], text)
                || (!text.is_empty() && match_segment(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => match_segment(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => match_segment(&pattern[1..], &text[1..]),
        _ => false,
    }
}

fn match_parts(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            match_parts(&pattern[1..], path)
                || (!path.is_empty() && match_parts(pattern, &path[1..]))
        }
        (Some(p), Some(t)) => {
            match_segment(p.as_bytes(), t.as_bytes()) && match_parts(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

/// Whether `path` (with `/` separators) matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_parts(&pattern, &path)
}

/// Whether `pattern` has glob characters (`*`, `?`, `[`).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// Files under `root` matching `pattern` (relative, `/`-separated), sorted.
pub fn expand(root: &Path, pattern: &str) -> Vec<String> {
    if !is_glob(pattern) {
        return if root.join(pattern).is_file() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let literal: Vec<&str> = pattern
        .split('/')
        .take_while(|part| !is_glob(part))
        .collect();
    let base = literal.join("/");
    let mut found = Vec::new();
    let mut stack = vec![root.join(&base)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                stack.push(path);
            } else if matches(pattern, &relative) {
                found.push(relative);
            }
        }
    }
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
}
