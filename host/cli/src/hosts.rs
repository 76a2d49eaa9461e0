//! `baton hosts`: the processes working on the store — each `queue run` and `pipeline run`
//! registers itself with every heartbeat — and which one leads maintenance (lease recovery).
//! A process silent for two leases is shown as `silent` (killed, or its host lost), and
//! forgotten after ten minutes.

use super::exit::{CliResult, Exit, runtime};
use super::output::{self, Format};
use baton_core::clock::{format_ms, now_ms};
use baton_engine::settings::Settings;
use serde_json::json;
use std::time::Duration;

/// Lists the store's members and its leader.
pub fn run(settings: &Settings, format: Format) -> CliResult {
    let store = crate::open::store(settings)?;
    let members = store.members().map_err(runtime)?;
    let leader = store.leadership().map_err(runtime)?;
    let now = now_ms();
    // Heartbeats come every third of the lease: two leases without one is a process gone.
    let silent_before = now - 2 * settings.queue.lease.as_millis() as i64;
    let state = |last_beat: i64| {
        if last_beat < silent_before {
            "silent"
        } else {
            "working"
        }
    };
    let leads = |owner: &str| {
        leader
            .as_ref()
            .is_some_and(|l| l.owner == owner && l.expires > now)
    };
    if format == Format::Json {
        output::json(&json!({
            "members": members.iter().map(|m| json!({
                "owner": m.owner, "host": m.host, "pid": m.pid, "role": m.role,
                "version": m.version, "started_at": m.started_at, "last_beat": m.last_beat,
                "state": state(m.last_beat), "leader": leads(&m.owner),
            })).collect::<Vec<_>>(),
            "leader": leader,
        }));
        return Ok(Exit::Success);
    }
    if members.is_empty() {
        println!("no process is working on this store");
        return Ok(Exit::Success);
    }
    let ago = |ms: i64| {
        humantime::format_duration(Duration::from_secs(((now - ms).max(0) / 1000) as u64))
            .to_string()
    };
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                m.host.clone(),
                m.pid.to_string(),
                m.role.clone(),
                format_ms(m.started_at),
                format!("{} ago", ago(m.last_beat)),
                state(m.last_beat).to_string(),
                match &leader {
                    Some(l) if leads(&m.owner) => format!("leader (term {})", l.term),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    output::table(
        &[
            "host",
            "pid",
            "role",
            "started",
            "last heartbeat",
            "state",
            "",
        ],
        &rows,
    );
    Ok(Exit::Success)
}
