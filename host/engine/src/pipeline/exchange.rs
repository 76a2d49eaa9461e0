//! Swapping two directories in one step, so a promotion never leaves the stage's output
//! directory missing: Linux's `renameat2(2)` with `RENAME_EXCHANGE` exchanges two existing
//! paths atomically (a `kill -9` sees either the old directory in place or the new one,
//! never neither). File systems without it (`EINVAL`, `ENOSYS`, `EOPNOTSUPP`) say so, and the
//! caller falls back to two renames.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Exchanges `a` and `b`, which must both exist. `Ok(false)` when the file system (or the
/// kernel) cannot exchange, and nothing changed; any other failure is an error naming both.
pub fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    let c = |path: &Path| {
        CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL byte"))
    };
    let (from, to) = (c(a)?, c(b)?);
    // SAFETY: both pointers are NUL-terminated strings that live through the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(io::Error::new(
            error.kind(),
            format!(
                "cannot exchange {} and {}: {error}",
                a.display(),
                b.display()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::exchange;

    #[test]
    fn two_directories_trade_places() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("from-a"), "a").unwrap();
        std::fs::write(b.join("from-b"), "b").unwrap();
        // tmpfs and ext4 both exchange; a file system that cannot is not this test's.
        assert!(exchange(&a, &b).unwrap());
        assert!(a.join("from-b").is_file() && b.join("from-a").is_file());
        let missing = exchange(&a, &dir.path().join("gone")).unwrap_err();
        assert!(missing.to_string().contains("gone"), "{missing}");
    }
}
