//! Failures of Baton's own environment rather than of a job: a full disk (ENOSPC), a disk
//! quota (EDQUOT), a file size limit (EFBIG), a read-only file system (EROFS), or a state
//! directory Baton cannot write. A job that meets one is put back without using an attempt
//! and its run stops (`Verdict::Halt`): other jobs would only fail the same way and burn
//! their attempts.

use baton_core::model::Failure;
use std::io::ErrorKind;

/// The code of a failure of the environment (see the module header).
pub const ENVIRONMENT: &str = "environment";

/// Whether an I/O error is resource exhaustion: no space, no quota, a file size limit, a
/// read-only file system.
pub fn is_exhaustion(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::FileTooLarge
            | ErrorKind::ReadOnlyFilesystem
    )
}

/// Whether any cause in `error`'s chain is resource exhaustion ([`is_exhaustion`]).
pub fn exhausted(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(is_exhaustion)
    })
}

/// A failure of the environment, with its remedy appended.
pub fn failure(message: impl std::fmt::Display) -> Failure {
    Failure::coded(
        ENVIRONMENT,
        format!("{message} (free space or fix the directory, then run again)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exhaustion_is_found_anywhere_in_the_chain() {
        for errno in [libc::ENOSPC, libc::EDQUOT, libc::EFBIG, libc::EROFS] {
            let io = std::io::Error::from_raw_os_error(errno);
            assert!(is_exhaustion(&io), "{io}");
            let wrapped = Err::<(), _>(io)
                .context("cannot write .baton/artifacts/tmp/1/x")
                .unwrap_err();
            assert!(exhausted(&wrapped));
        }
        let not_found = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(!exhausted(&not_found));
    }
}
