//! Recording a maintenance action in the audit log (`.baton/audit/YYYY-MM-DD.jsonl`, see
//! `baton_engine::audit`) after the command has reported it; `who` is the user running
//! Baton. Dry runs change nothing and are not recorded.

use crate::exit::{CliError, runtime};
use baton_engine::audit::{Actor, AuditLog};
use baton_engine::settings::Settings;
use serde_json::Value;

/// Appends `what` with `args` and `result` for the current user. A log that cannot be
/// written is a runtime error (exit 30) reported after the action's own output: the action
/// is not undone.
pub fn record(settings: &Settings, what: &str, args: Value, result: Value) -> Result<(), CliError> {
    AuditLog::new(&settings.state_dir)
        .record(&Actor::current_user(), what, args, result)
        .map(|_| ())
        .map_err(runtime)
}
