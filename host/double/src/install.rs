//! `baton-double install DIR [--mode MODE] [--record FILE]`: writes the wrapper scripts
//! `DIR/gemini`, `DIR/claude` and `DIR/codex`, each `exec`ing this binary as that stand-in
//! with the `--double-*` options. Baton's `exec` clears the environment, so the operator
//! grants the script's path (`path = "DIR/claude"`) and the mode travels in it. A file the
//! double did not write is never overwritten.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::cli::Tool;
use crate::mode::Mode;

/// The line that marks a script as the double's own (so it may be rewritten).
const MARK: &str = "# written by baton-double install";

/// Runs `install` with its arguments.
pub fn main(args: Vec<String>) -> Result<(), String> {
    let mut iter = args.into_iter();
    let dir = iter
        .next()
        .filter(|dir| !dir.starts_with('-'))
        .ok_or("install needs a directory: baton-double install DIR [--mode MODE]")?;
    let mut mode = Mode::Ok;
    let mut record = None;
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--mode" => mode = Mode::parse(&value)?,
            "--record" => record = Some(absolute(Path::new(&value))?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let double =
        std::env::current_exe().map_err(|error| format!("cannot find this executable: {error}"))?;
    let dir = absolute(Path::new(&dir))?;
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    for tool in [Tool::Gemini, Tool::Claude, Tool::Codex] {
        let path = write_wrapper(&dir, tool, &double, mode, record.as_deref())?;
        println!("{}", path.display());
    }
    Ok(())
}

/// Writes `DIR/TOOL` and returns its path.
pub fn write_wrapper(
    dir: &Path,
    tool: Tool,
    double: &Path,
    mode: Mode,
    record: Option<&Path>,
) -> Result<PathBuf, String> {
    let path = dir.join(tool.name());
    if let Ok(existing) = std::fs::read_to_string(&path)
        && !existing.contains(MARK)
    {
        return Err(format!(
            "{} exists and was not written by baton-double: move it away or pick another directory",
            path.display()
        ));
    }
    if path.exists() && !path.is_file() {
        return Err(format!("{} exists and is not a file", path.display()));
    }
    let mut command = format!(
        "exec {} {} --double-mode {}",
        quote(&double.to_string_lossy()),
        tool.name(),
        quote(&mode.to_string())
    );
    if let Some(record) = record {
        command.push_str(&format!(
            " --double-record {}",
            quote(&record.to_string_lossy())
        ));
    }
    let script = format!("#!/bin/sh\n{MARK}\n{command} \"$@\"\n");
    std::fs::write(&path, script)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|error| format!("cannot make {} executable: {error}", path.display()))?;
    Ok(path)
}

/// A path made absolute against the current directory.
fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|error| format!("{}: {error}", path.display()))
}

/// Single-quotes a word for `sh`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_rewrites_its_own_scripts_only() {
        let dir = std::env::temp_dir().join(format!("baton-double-install-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let double = Path::new("/opt/it's/baton-double");
        let path = write_wrapper(&dir, Tool::Claude, double, Mode::Auth, None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(r#"exec '/opt/it'\''s/baton-double' claude --double-mode 'auth' "$@""#),
            "{text}"
        );
        write_wrapper(&dir, Tool::Claude, double, Mode::Ok, None).unwrap();
        std::fs::write(dir.join("codex"), "#!/bin/sh\necho mine\n").unwrap();
        let error = write_wrapper(&dir, Tool::Codex, double, Mode::Ok, None).unwrap_err();
        assert!(error.contains("was not written by baton-double"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
