//! Output directories: where a stage's outputs may be promoted, and how Baton knows that a
//! directory is its own before it replaces one.
//!
//! A stage's `output-dir` is a plain relative path inside the project: not absolute, no
//! `..`, not the project root, not through a symlink leading out of the project, and clear
//! of Baton's own files (`baton.toml`, `pipelines/`, `.baton/`) and of `.git/`. Validation
//! (`graph`) refuses the rest with the stage's file and line.
//!
//! Every directory Baton promotes carries a marker file, [`MARKER`]. Promotion replaces an
//! existing directory only when it holds that marker (or, for directories promoted before
//! markers existed, when every file in it is byte for byte what the stage's last recorded
//! success promoted); anything else is refused and nothing is deleted.

use super::realpath::RealPaths;
use anyhow::{Context, Result, bail};
use baton_core::digest::file_digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file Baton writes into every output directory it promotes. Glob walks never list it.
pub const MARKER: &str = ".baton-output";

/// The first line of a marker; a file named [`MARKER`] without it is not Baton's.
const MARKER_HEADER: &str = "baton stage output";

/// Directories no walk enters and no stage writes into: Baton's state and Git's.
pub const NEVER_WALKED: [&str; 2] = [".baton", ".git"];

/// Top-level project entries an output directory may not overlap: Baton's configuration,
/// its pipeline files, its state directory, and Git's.
pub const RESERVED: [&str; 4] = ["baton.toml", "pipelines", ".baton", ".git"];

/// Whether a directory with this name is never walked ([`NEVER_WALKED`]).
pub fn never_walked(name: &str) -> bool {
    NEVER_WALKED.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// `dir` with `.` and empty segments dropped and no trailing `/` (`./out//x/` is
/// `out/x`); the project root is the empty string. `..` and a leading `/` are kept, for
/// [`check`] to refuse.
pub fn normalize(dir: &str) -> String {
    let absolute = dir.starts_with('/');
    let parts: Vec<&str> = dir
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Whether project path `path` is `dir` or below it (both normalized, `/`-separated). The
/// root (`""`) contains everything.
pub fn within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The reserved top-level entry (`pipelines`, `.baton`, ...) that `dir` is or is inside.
pub fn reserved(dir: &str) -> Option<&'static str> {
    let first = dir.split('/').next().unwrap_or_default();
    RESERVED
        .iter()
        .find(|r| r.eq_ignore_ascii_case(first))
        .copied()
}

/// Checks the written form of an output directory (already [`normalize`]d): relative,
/// without `..`, not the root, no glob characters, clear of [`RESERVED`] entries. The
/// error says what is wrong.
pub fn check(dir: &str) -> Result<(), String> {
    if dir.starts_with('/') || dir.starts_with('\\') || Path::new(dir).is_absolute() {
        return Err("must be a path relative to the project, not an absolute path".into());
    }
    if dir.split(['/', '\\']).any(|part| part == "..") {
        return Err("must stay inside the project (no `..`)".into());
    }
    if dir.is_empty() {
        return Err(
            "is the project root; give the stage a directory of its own, such as `out/<id>`".into(),
        );
    }
    if dir.contains(['*', '?', '[', ']', '{', '}', '\\']) {
        return Err("must be a plain path (no glob characters or backslashes)".into());
    }
    if let Some(entry) = reserved(dir) {
        let shown = if entry.contains('.') && !entry.starts_with('.') {
            entry.to_string()
        } else {
            format!("{entry}/")
        };
        return Err(format!(
            "overlaps `{shown}`, which Baton (or Git) owns; choose a directory such as `out/<id>`"
        ));
    }
    Ok(())
}

/// Where `dir` (relative, checked) really is, as a path relative to the project root once
/// every symlink on the way is followed: the deepest part that exists is canonicalized and
/// the rest appended. The error says when that leaves the project.
pub fn resolve(paths: &RealPaths, dir: &str) -> Result<String, String> {
    if paths.real_root().is_err() {
        // No project on disk (nothing can be promoted either): judge the written form.
        return Ok(dir.to_string());
    }
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for existing in (0..=parts.len()).rev() {
        let Ok(base) = existing_dir(paths, &parts[..existing]) else {
            continue;
        };
        let rest = &parts[existing..];
        let Some(base) = base else {
            return Err(if rest.is_empty() {
                "is a file, not a directory".to_string()
            } else {
                format!(
                    "passes through `{}`, which is a file, not a directory",
                    parts[..existing].join("/")
                )
            });
        };
        if !rest.is_empty() && paths.dangling(&parts[..=existing]) {
            // A symlink that does not resolve: dangling or looping. (A directory that
            // another stage made since `paths` looked is no such thing: it is where the
            // rest goes.)
            return Err(format!(
                "passes through `{}`, a symlink that leads nowhere",
                parts[..=existing].join("/")
            ));
        }
        let full = rest.iter().fold(base, |path, part| path.join(part));
        return match paths.project_path(&full) {
            Some(relative) => Ok(relative),
            None => Err(format!(
                "resolves outside the project through a symlink (to {})",
                full.display()
            )),
        };
    }
    Ok(dir.to_string())
}

/// The canonical directory at project path `parts`: `Ok(None)` when it is a file, `Err` when
/// nothing resolves there. Plain paths go through what `paths` remembers (a plan asks for
/// each stage's output directory several times, and their parents are shared).
fn existing_dir(paths: &RealPaths, parts: &[&str]) -> Result<Option<PathBuf>, ()> {
    let plain = parts.iter().all(|part| *part != "." && *part != "..");
    if !plain {
        let base = paths.canonicalize(&parts.join("/")).map_err(|_| ())?;
        return Ok(base.is_dir().then_some(base));
    }
    match paths.dir(parts) {
        Ok(base) => Ok(Some(base)),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotADirectory
                && paths.canonicalize(&parts.join("/")).is_ok() =>
        {
            Ok(None)
        }
        Err(_) => Err(()),
    }
}

/// Checks `dir` the way validation does, then resolves it ([`resolve`]) and checks where it
/// really is; returns the resolved form.
pub fn check_resolved(paths: &RealPaths, dir: &str) -> Result<String, String> {
    check(dir)?;
    let real = resolve(paths, dir)?;
    if real != dir {
        check(&real).map_err(|e| format!("leads through a symlink to `{real}`, which {e}"))?;
    }
    Ok(real)
}

/// Whether Baton may replace what is at `target` now.
#[derive(Debug, Clone, PartialEq)]
pub enum Ownership {
    /// Nothing is there.
    Absent,
    /// A directory Baton promoted.
    Owned,
    /// Something Baton did not create, and why Baton thinks so.
    Foreign(String),
}

/// Whether the directory at `target` is Baton's: it holds a [`MARKER`] Baton wrote, or
/// every file in it is one the stage's last success promoted, unchanged (`recorded`:
/// project path → sha256, with `root` the project). A symlink, a file, or a directory
/// holding anything else is not.
pub fn ownership(
    target: &Path,
    root: &Path,
    recorded: Option<&BTreeMap<String, String>>,
) -> Result<Ownership> {
    let meta = match std::fs::symlink_metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ownership::Absent),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", target.display())),
    };
    if meta.file_type().is_symlink() {
        return Ok(Ownership::Foreign("it is a symlink".into()));
    }
    if !meta.is_dir() {
        return Ok(Ownership::Foreign("it is a file, not a directory".into()));
    }
    if has_marker(target) {
        return Ok(Ownership::Owned);
    }
    let Some(recorded) = recorded.filter(|r| !r.is_empty()) else {
        return Ok(Ownership::Foreign(format!(
            "it has no `{MARKER}` marker from an earlier promotion"
        )));
    };
    // Promoted before markers existed: Baton's if it holds only the recorded outputs.
    let mut files = 0;
    for entry in walkdir::WalkDir::new(target).follow_links(false) {
        let entry = entry.with_context(|| format!("cannot list {}", target.display()))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let same = entry.file_type().is_file()
            && recorded
                .get(&relative)
                .is_some_and(|digest| file_digest(entry.path()).is_ok_and(|now| &now == digest));
        if !same {
            return Ok(Ownership::Foreign(format!(
                "it has no `{MARKER}` marker and holds `{}`, which Baton did not write there",
                entry.path().display()
            )));
        }
        files += 1;
    }
    if files == 0 {
        return Ok(Ownership::Foreign(format!(
            "it has no `{MARKER}` marker from an earlier promotion"
        )));
    }
    Ok(Ownership::Owned)
}

/// Whether `dir` holds a marker Baton wrote (a regular file starting with its header).
fn has_marker(dir: &Path) -> bool {
    let path = dir.join(MARKER);
    std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
        && std::fs::read_to_string(&path).is_ok_and(|text| text.starts_with(MARKER_HEADER))
}

/// Writes the marker into `dir` (a staged output about to be promoted), replacing whatever
/// the stage left under that name.
pub fn write_marker(dir: &Path, pipeline: &str, stage: &str) -> Result<()> {
    let path = dir.join(MARKER);
    if std::fs::symlink_metadata(&path).is_ok() {
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    let text = format!(
        "{MARKER_HEADER}\n\
         Baton promoted this directory: the outputs of stage `{stage}` of pipeline `{pipeline}`.\n\
         Each run of that stage replaces the whole directory; keep nothing else in it.\n"
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The directory `dir` (relative to `root`) where a stage's outputs go, once it is checked
/// again (the disk may have changed since validation) and whatever is there is Baton's to
/// replace. The error names the directory and what to do; nothing is deleted.
pub fn claim(
    root: &Path,
    dir: &str,
    stage: &str,
    recorded: Option<&BTreeMap<String, String>>,
) -> Result<PathBuf> {
    if let Err(e) = check_resolved(&RealPaths::new(root), dir) {
        bail!("stage `{stage}`: output-dir `{dir}` {e}");
    }
    let target = root.join(dir);
    match ownership(&target, root, recorded)? {
        Ownership::Absent | Ownership::Owned => Ok(target),
        Ownership::Foreign(why) => bail!(
            "output directory `{dir}` already exists and Baton did not create it ({why}); \
             nothing was deleted. Move or delete `{dir}`, or give stage `{stage}` another \
             `output-dir`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolver remembers `out` as missing; another stage then makes it (stages run at
    /// once): `out/page` still resolves to itself, not to "a symlink that leads nowhere".
    #[cfg(unix)]
    #[test]
    fn a_directory_made_since_the_resolver_looked_is_not_a_dangling_link() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RealPaths::new(dir.path());
        assert!(paths.dir(&["out"]).is_err());
        std::fs::create_dir(dir.path().join("out")).unwrap();
        assert_eq!(resolve(&paths, "out/page"), Ok("out/page".to_string()));
        std::os::unix::fs::symlink("nowhere", dir.path().join("gone")).unwrap();
        let dangling = resolve(&RealPaths::new(dir.path()), "gone/page").unwrap_err();
        assert!(dangling.contains("leads nowhere"), "{dangling}");
    }

    #[test]
    fn written_forms_are_normalized_and_checked() {
        assert_eq!(normalize("./out//x/"), "out/x");
        assert_eq!(normalize("."), "");
        assert_eq!(normalize("/tmp/x"), "/tmp/x");
        assert!(check("out/x").is_ok());
        assert!(check("data/out").is_ok());
        for (bad, needle) in [
            ("/tmp/victim", "absolute"),
            ("../victim", "`..`"),
            ("out/../../x", "`..`"),
            ("", "project root"),
            ("pipelines", "`pipelines/`"),
            ("pipelines/x", "`pipelines/`"),
            (".baton", "`.baton/`"),
            (".Baton/runs", "`.baton/`"),
            ("baton.toml", "`baton.toml`"),
            (".git/x", "`.git/`"),
            ("out/*", "glob"),
        ] {
            let error = check(bad).expect_err(bad);
            assert!(error.contains(needle), "{bad}: {error}");
        }
    }

    #[test]
    fn nesting_is_by_whole_segments() {
        assert!(within("out/x/sub", "out/x"));
        assert!(within("out/x", "out/x"));
        assert!(!within("out/xy", "out/x"));
        assert!(within("data/in.jsonl", "data"));
        assert!(!within("database/in.jsonl", "data"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_to_where_the_directory_really_is() {
        let outside = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("away")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("inside")).unwrap();
        std::os::unix::fs::symlink(root.join(".baton"), root.join("state")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).unwrap();
        std::os::unix::fs::symlink(root, root.join("here")).unwrap();
        std::fs::create_dir_all(root.join(".baton")).unwrap();
        let paths = RealPaths::new(root);
        assert_eq!(resolve(&paths, "out/x").unwrap(), "out/x");
        assert_eq!(resolve(&paths, "inside/dir/new").unwrap(), "real/dir/new");
        let away = resolve(&paths, "away/sub").unwrap_err();
        assert!(away.contains("outside the project"), "{away}");
        assert!(
            resolve(&paths, "dangling/x")
                .unwrap_err()
                .contains("leads nowhere")
        );
        let state = check_resolved(&paths, "state/x").unwrap_err();
        assert!(state.contains("`.baton/`"), "{state}");
        let here = check_resolved(&paths, "here").unwrap_err();
        assert!(here.contains("project root"), "{here}");
        std::fs::write(root.join("plain"), "x").unwrap();
        let through_file = resolve(&paths, "plain/x").unwrap_err();
        assert!(
            through_file.contains("`plain`, which is a file"),
            "{through_file}"
        );
    }

    #[test]
    fn only_marked_or_recorded_directories_are_owned() {
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        let target = root.join("out/s");
        assert_eq!(ownership(&target, root, None).unwrap(), Ownership::Absent);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("o.jsonl"), "{}\n").unwrap();
        assert!(matches!(
            ownership(&target, root, None).unwrap(),
            Ownership::Foreign(_)
        ));
        // A file that only claims to be a marker is not one.
        std::fs::write(target.join(MARKER), "mine\n").unwrap();
        assert!(matches!(
            ownership(&target, root, None).unwrap(),
            Ownership::Foreign(_)
        ));
        write_marker(&target, "p", "s").unwrap();
        assert_eq!(ownership(&target, root, None).unwrap(), Ownership::Owned);
        // Before markers: exactly the recorded outputs, unchanged.
        std::fs::remove_file(target.join(MARKER)).unwrap();
        let digest = file_digest(&target.join("o.jsonl")).unwrap();
        let recorded = BTreeMap::from([("out/s/o.jsonl".to_string(), digest)]);
        assert_eq!(
            ownership(&target, root, Some(&recorded)).unwrap(),
            Ownership::Owned
        );
        std::fs::write(target.join("notes.txt"), "mine").unwrap();
        let Ownership::Foreign(why) = ownership(&target, root, Some(&recorded)).unwrap() else {
            panic!("a user's file was adopted");
        };
        assert!(why.contains("notes.txt"), "{why}");
        std::fs::remove_file(target.join("notes.txt")).unwrap();
        std::fs::write(target.join("o.jsonl"), "edited\n").unwrap();
        assert!(matches!(
            ownership(&target, root, Some(&recorded)).unwrap(),
            Ownership::Foreign(_)
        ));
        std::fs::write(root.join("file"), "x").unwrap();
        assert!(matches!(
            ownership(&root.join("file"), root, None).unwrap(),
            Ownership::Foreign(_)
        ));
    }

    #[test]
    fn claiming_a_foreign_directory_names_it_and_deletes_nothing() {
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/keep.txt"), "x").unwrap();
        let error = claim(root, "data", "s", None).unwrap_err().to_string();
        assert!(
            error.contains("`data`") && error.contains("nothing was deleted"),
            "{error}"
        );
        assert!(root.join("data/keep.txt").is_file());
        assert!(claim(root, "../x", "s", None).is_err());
        assert_eq!(claim(root, "out/s", "s", None).unwrap(), root.join("out/s"));
    }
}
