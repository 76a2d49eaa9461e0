//! Lease owners: this process's id (`host:pid:start-ms`), and which owners of running leases
//! were processes on this host that no longer exist (their leases are recovered at once).

/// This process's lease owner id: `host:pid:start-ms`.
pub fn owner_id() -> String {
    format!(
        "{}:{}:{}",
        hostname(),
        std::process::id(),
        baton_core::clock::now_ms()
    )
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Owners of running leases that were processes on this host which no longer exist.
pub fn dead_local_owners(owners: &[String]) -> Vec<String> {
    let me = hostname();
    owners
        .iter()
        .filter(|owner| {
            let mut parts = owner.split(':');
            let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
                return false;
            };
            let Ok(pid) = pid.parse::<i32>() else {
                return false;
            };
            host == me && pid != std::process::id() as i32 && !alive(pid)
        })
        .cloned()
        .collect()
}

/// Whether a process with this pid exists on this host.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Marks the open runs whose process on this host is gone as `interrupted` (their jobs wait
/// for `pipeline run --resume`, not for a worker).
pub fn judge_runs(runs: &mut [baton_core::store::OpenRun]) {
    let owners: Vec<String> = runs.iter().filter_map(|run| run.owner.clone()).collect();
    let dead = dead_local_owners(&owners);
    for run in runs {
        if run.owner.as_ref().is_some_and(|owner| dead.contains(owner)) {
            run.state = "interrupted";
        }
    }
}
