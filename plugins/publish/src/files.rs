//! Which files a publish run sends and where each goes: the stage's inputs (a directory
//! input's files, walked in sorted order), each published under its path relative to a
//! root directory, its URL (every path segment percent-encoded as RFC 3986 §2 asks, then
//! joined onto the base URL), and its content type by extension.
//!
//! This module reads directories, not file contents, and sends nothing (see `upload`).
use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use baton_sdk::fatal;
use baton_sdk::types::{Failure, StageInput};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

/// Everything but RFC 3986's unreserved characters (§2.3: `ALPHA DIGIT - . _ ~`) is
/// percent-encoded in a path segment, so no receiver can read a name another way.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One file to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Its path as published, relative to the base URL, `/`-separated.
    pub path: String,
    /// Its project path (the input's name, and below it for a directory input).
    pub name: String,
    /// Where the stage reads it (under `/inputs`).
    pub source: String,
}

/// The files of `inputs`, each with its published path relative to the first of `roots`
/// that holds it (no roots: the inputs' longest common directory), sorted by that path.
/// Fatal when an input is under no root, or two files would be published at one path.
pub fn plan(inputs: &[StageInput], roots: &[String]) -> Result<Vec<Planned>, Failure> {
    let mut files = Vec::new();
    for input in inputs {
        walk(&input.name, &input.path, &mut files)?;
    }
    let roots = if roots.is_empty() {
        vec![common_directory(
            files.iter().map(|(name, _)| name.as_str()),
        )]
    } else {
        roots.to_vec()
    };
    let mut planned = BTreeMap::new();
    for (name, source) in files {
        let path = roots
            .iter()
            .find_map(|root| relative_to(&name, root))
            .ok_or_else(|| {
                let listed: Vec<String> = roots.iter().map(|root| format!("`{root}`")).collect();
                fatal(format!(
                    "input `{name}` is in none of the roots {} (params.root): add its directory",
                    listed.join(", ")
                ))
            })?;
        if let Some(other) = planned.get(&path).map(|file: &Planned| file.name.clone()) {
            return Err(fatal(format!(
                "inputs `{other}` and `{name}` would both be published as `{path}`"
            )));
        }
        planned.insert(path.clone(), Planned { path, name, source });
    }
    Ok(planned.into_values().collect())
}

/// Adds the file `source` as `name`, or every file under the directory `source` as
/// `name/relative`, in sorted order.
fn walk(name: &str, source: &str, files: &mut Vec<(String, String)>) -> Result<(), Failure> {
    let unreadable =
        |error: std::io::Error| fatal(format!("input `{name}` ({source}): cannot read: {error}"));
    if name.split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Err(fatal(format!(
            "input `{name}` has an empty, `.` or `..` path segment and cannot be published"
        )));
    }
    let metadata = fs::metadata(source).map_err(unreadable)?;
    if !metadata.is_dir() {
        files.push((name.to_string(), source.to_string()));
        return Ok(());
    }
    let mut entries = BTreeSet::new();
    for entry in fs::read_dir(source).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let child = entry.file_name().into_string().map_err(|raw| {
            fatal(format!(
                "input `{name}` holds a file whose name is not UTF-8: {raw:?}"
            ))
        })?;
        entries.insert(child);
    }
    for child in entries {
        walk(
            &format!("{name}/{child}"),
            &format!("{source}/{child}"),
            files,
        )?;
    }
    Ok(())
}

/// The longest directory every name is in (`""` when they share none).
fn common_directory<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut common: Option<Vec<&str>> = None;
    for name in names {
        let directory: Vec<&str> = match name.rsplit_once('/') {
            Some((directory, _)) => directory.split('/').collect(),
            None => Vec::new(),
        };
        common = Some(match common {
            None => directory,
            Some(before) => before
                .iter()
                .zip(&directory)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    common.unwrap_or_default().join("/")
}

/// `name` relative to the directory `root` (`""`: the project root), if it is inside.
fn relative_to(name: &str, root: &str) -> Option<String> {
    if root.is_empty() {
        return Some(name.to_string());
    }
    name.strip_prefix(root)?
        .strip_prefix('/')
        .filter(|rest| !rest.is_empty())
        .map(str::to_string)
}

/// The URL of the file published at `path` under `base` (whose path ends with `/`): each
/// segment percent-encoded (see [`SEGMENT`]), the whole resolved against `base`.
pub fn url_of(base: &Url, path: &str) -> Result<Url, Failure> {
    let encoded: Vec<String> = path
        .split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect();
    base.join(&encoded.join("/")).map_err(|error| {
        fatal(format!(
            "cannot build the URL of `{path}` under {base}: {error}"
        ))
    })
}

/// The content type of `path`: `overrides` by lowercase extension, else the built-in
/// table, else `application/octet-stream`.
pub fn content_type(path: &str, overrides: &BTreeMap<String, String>) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let extension = match file.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => extension.to_ascii_lowercase(),
        _ => String::new(),
    };
    if let Some(kind) = overrides.get(&extension) {
        return kind.clone();
    }
    let known = match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "rss" => "application/rss+xml",
        "atom" => "application/atom+xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/vnd.microsoft.icon",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(names: &[&str], roots: &[&str]) -> Result<Vec<String>, Failure> {
        let dir = std::env::temp_dir().join(format!("publish-files-{}", std::process::id()));
        let inputs: Vec<StageInput> = names
            .iter()
            .map(|name| {
                let path = dir.join(name);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, name).unwrap();
                StageInput {
                    name: name.to_string(),
                    path: path.to_str().unwrap().to_string(),
                    digest: String::new(),
                }
            })
            .collect();
        let roots: Vec<String> = roots.iter().map(|root| root.to_string()).collect();
        let result = plan(&inputs, &roots).map(|files| files.into_iter().map(|f| f.path).collect());
        let _ = fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn paths_are_relative_to_the_common_directory_or_the_first_root_that_holds_them() {
        assert_eq!(
            planned(&["out/site/index.html", "out/site/css/a.css"], &[]).unwrap(),
            vec!["css/a.css", "index.html"]
        );
        assert_eq!(
            planned(&["out/site/index.html"], &[]).unwrap(),
            vec!["index.html"]
        );
        assert_eq!(
            planned(
                &["out/page/index.html", "static/docs/a b.txt"],
                &["out/page", "static"]
            )
            .unwrap(),
            vec!["docs/a b.txt", "index.html"]
        );
        assert_eq!(
            planned(&["a/x.txt", "b/y.txt"], &[]).unwrap(),
            vec!["a/x.txt", "b/y.txt"]
        );
        assert_eq!(
            planned(&["out/a/x.txt", "out/b/x.txt"], &["out/a", "out/b"]).unwrap_err(),
            fatal("inputs `out/a/x.txt` and `out/b/x.txt` would both be published as `x.txt`")
        );
        assert_eq!(
            planned(&["out/a/x.txt", "other/y.txt"], &["out/a"]).unwrap_err(),
            fatal("input `other/y.txt` is in none of the roots `out/a` (params.root): add its directory")
        );
        // A root is a whole directory name, not a prefix of one.
        assert!(planned(&["out/ab/x.txt"], &["out/a"]).is_err());
    }

    #[test]
    fn segments_are_percent_encoded_as_rfc_3986_asks() {
        let base = Url::parse("http://127.0.0.1:8080/site/").unwrap();
        assert_eq!(
            url_of(&base, "docs/read me é+%.txt").unwrap().as_str(),
            "http://127.0.0.1:8080/site/docs/read%20me%20%C3%A9%2B%25.txt"
        );
        assert_eq!(
            url_of(&base, "a:b/c?d#e").unwrap().as_str(),
            "http://127.0.0.1:8080/site/a%3Ab/c%3Fd%23e"
        );
        assert_eq!(
            url_of(&base, "~x/y-z_1.html").unwrap().as_str(),
            "http://127.0.0.1:8080/site/~x/y-z_1.html"
        );
    }

    #[test]
    fn content_types_by_extension() {
        let none = BTreeMap::new();
        assert_eq!(
            content_type("a/index.HTML", &none),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type("people.json", &none), "application/json");
        assert_eq!(content_type("Makefile", &none), "application/octet-stream");
        assert_eq!(content_type(".hidden", &none), "application/octet-stream");
        let overrides = BTreeMap::from([("jsonl".to_string(), "application/jsonl".to_string())]);
        assert_eq!(content_type("x.jsonl", &overrides), "application/jsonl");
    }
}
