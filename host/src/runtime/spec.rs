//! Builds a [`PluginSpec`] from a `[plugins.NAME]` entry and the configured defaults.

use super::inspect::World;
use super::plugin::{Limits, PluginSpec};
use crate::config::Config;
use crate::config::plugins::PluginEntry;
use crate::config::units::{parse_duration, parse_size};
use anyhow::{Result, anyhow};

/// The limits of `entry`, falling back to `defaults.*`.
pub fn limits(config: &Config, entry: Option<&PluginEntry>) -> Result<Limits> {
    let size = |value: Option<&String>, key: &str| -> Result<u64> {
        value.map_or(Ok(config.size(key)), |v| {
            parse_size(v).map_err(|e| anyhow!(e))
        })
    };
    let duration = |value: Option<&String>, key: &str| -> Result<std::time::Duration> {
        value.map_or(Ok(config.duration(key)), |v| {
            parse_duration(v).map_err(|e| anyhow!(e))
        })
    };
    Ok(Limits {
        memory: size(entry.and_then(|e| e.memory.as_ref()), "defaults.memory")?,
        timeout: duration(entry.and_then(|e| e.timeout.as_ref()), "defaults.timeout")?,
        wall_timeout: duration(
            entry.and_then(|e| e.wall_timeout.as_ref()),
            "defaults.wall-timeout",
        )?,
        output_cap: size(
            entry.and_then(|e| e.output_cap.as_ref()),
            "defaults.output-cap",
        )?,
        http_response_cap: config.size("defaults.http-response-cap"),
        exec_timeout: config.duration("defaults.exec-timeout"),
        warm: entry.and_then(|e| e.warm),
    })
}

/// The spec of the configured plugin `name`, with paths resolved against the project root.
pub fn from_config(config: &Config, name: &str) -> Result<PluginSpec> {
    let entry = config.plugins.get(name).ok_or_else(|| {
        let known: Vec<&str> = config.plugins.keys().map(String::as_str).collect();
        anyhow!(
            "unknown plugin `{name}`; configured plugins: {}",
            if known.is_empty() {
                "none (add one with `baton plugin add FILE`)".to_string()
            } else {
                known.join(", ")
            }
        )
    })?;
    let mut grants = entry.grants.clone();
    for file in &mut grants.files {
        file.host = config.root.join(&file.host).to_string_lossy().into_owned();
    }
    let settings = serde_json::to_value(&entry.settings)?;
    Ok(PluginSpec {
        name: Some(name.to_string()),
        path: config.root.join(&entry.path),
        sha256: entry.sha256.clone(),
        expected: entry.kind.as_deref().and_then(World::parse),
        settings,
        grants,
        limits: limits(config, Some(entry))?,
    })
}
