//! The one place a plugin spec is built: a configured `[plugins.NAME]` entry (paths resolved
//! against the project root, limits falling back to `[defaults]`), or a plugin bundled with
//! this build when none is configured under that name. Also the digest a stage's cache key
//! uses for its runner.

use crate::settings::Settings;
use crate::settings::plugins::PluginEntry;
use anyhow::{Result, anyhow};
use baton_core::units::{parse_duration, parse_size};
use baton_runtime::inspect::World;
use baton_runtime::plugin::{Limits, PluginSpec};

/// The limits of `entry`, falling back to `[defaults]`.
pub fn limits(settings: &Settings, entry: Option<&PluginEntry>) -> Result<Limits> {
    let defaults = &settings.defaults;
    let size = |value: Option<&String>, default: u64| -> Result<u64> {
        value.map_or(Ok(default), |v| parse_size(v).map_err(|e| anyhow!(e)))
    };
    let duration =
        |value: Option<&String>, default: std::time::Duration| -> Result<std::time::Duration> {
            value.map_or(Ok(default), |v| parse_duration(v).map_err(|e| anyhow!(e)))
        };
    Ok(Limits {
        memory: size(entry.and_then(|e| e.memory.as_ref()), defaults.memory)?,
        timeout: duration(entry.and_then(|e| e.timeout.as_ref()), defaults.timeout)?,
        wall_timeout: duration(
            entry.and_then(|e| e.wall_timeout.as_ref()),
            defaults.wall_timeout,
        )?,
        output_cap: size(
            entry.and_then(|e| e.output_cap.as_ref()),
            defaults.output_cap,
        )?,
        http_response_cap: defaults.http_response_cap,
        exec_timeout: defaults.exec_timeout,
        warm: entry.and_then(|e| e.warm),
    })
}

/// The spec of the configured plugin `name`; the error lists the configured plugins.
pub fn configured(settings: &Settings, name: &str) -> Result<PluginSpec> {
    let entry = settings.plugins.get(name).ok_or_else(|| {
        let known: Vec<&str> = settings.plugins.keys().map(String::as_str).collect();
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
        file.host = settings
            .root
            .join(&file.host)
            .to_string_lossy()
            .into_owned();
    }
    // A program's path, like a directory's, may be given relative to the project.
    for exec in &mut grants.exec {
        if let Some(path) = exec.path.as_mut() {
            *path = settings.root.join(&*path).to_string_lossy().into_owned();
        }
    }
    Ok(PluginSpec {
        name: Some(name.to_string()),
        path: settings.root.join(&entry.path),
        sha256: entry.sha256.clone(),
        expected: entry.world(),
        settings: crate::settings::toml_json::table_to_json(&entry.settings),
        grants,
        limits: limits(settings, Some(entry))?,
    })
}

/// The spec of plugin `name` of world `world`: its `[plugins.NAME]` entry, or else the
/// plugin of that name bundled with Baton, with no grants.
pub fn spec(settings: &Settings, name: &str, world: World) -> Result<PluginSpec> {
    let mut spec = if settings.plugins.contains_key(name) {
        configured(settings, name)?
    } else {
        let path = baton_bundled::plugin(name).ok_or_else(|| {
            anyhow!(
                "{} `{name}` is not configured: add [plugins.{name}] with its path to baton.toml (`baton plugin add FILE`)",
                world.name()
            )
        })?;
        PluginSpec {
            name: Some(name.to_string()),
            ..unconfigured(settings, path)?
        }
    };
    spec.expected = Some(world);
    Ok(spec)
}

/// The spec of a component file no `[plugins.NAME]` entry describes: no name, no pin, no
/// settings, no grants, the `[defaults]` limits.
fn unconfigured(settings: &Settings, path: std::path::PathBuf) -> Result<PluginSpec> {
    Ok(PluginSpec {
        name: None,
        path,
        sha256: None,
        expected: None,
        settings: serde_json::json!({}),
        grants: Default::default(),
        limits: limits(settings, None)?,
    })
}

/// The spec of a component file given on the command line (relative to the current
/// directory), with no grants and the default limits; the error names a missing file.
pub fn for_file(settings: &Settings, file: &std::path::Path) -> Result<PluginSpec> {
    let path = settings.cwd.join(file);
    if !path.is_file() {
        return Err(anyhow!("no such file: {}", path.display()));
    }
    unconfigured(settings, path)
}

/// Whether plugin `name` resolves (configured or bundled).
pub fn exists(settings: &Settings, name: &str) -> bool {
    settings.plugins.contains_key(name) || baton_bundled::plugin(name).is_some()
}

/// The digest a stage's cache key uses for stage plugin `name` whose component has digest
/// `component`: that digest alone when `[plugins.NAME]` gives no `settings`, else SHA-256
/// over it and the settings as JSON. Settings reach the plugin on every call (a publishing
/// plugin's endpoint, say), so changing them runs its stages again.
pub fn runner_digest(settings: &Settings, name: &str, component: &str) -> String {
    match settings.plugins.get(name) {
        Some(entry) if !entry.settings.is_empty() => {
            let text = serde_json::to_string(&entry.settings).unwrap_or_default();
            baton_core::digest::sha256_hex(format!("{component}\n{text}").as_bytes())
        }
        _ => component.to_string(),
    }
}

/// The digest of plugin `name`'s component file, without loading it (empty if unreadable),
/// through `digests`, which hashes the file only when its metadata changed.
pub fn file_digest(
    settings: &Settings,
    name: &str,
    digests: &baton_core::digest_cache::DigestCache,
) -> String {
    settings
        .plugins
        .get(name)
        .map(|e| settings.root.join(&e.path))
        .or_else(|| baton_bundled::plugin(name))
        .and_then(|p| digests.digest(&p).ok())
        .unwrap_or_default()
}
