//! `baton config init | show | validate | get KEY`.

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, Format, OK};
use anyhow::anyhow;
use baton_engine::settings::{CONFIG_FILE, Config, SETTINGS, Settings};
use clap::Subcommand;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented baton.toml with every setting at its default.
    Init {
        /// Overwrite an existing baton.toml.
        #[arg(long)]
        force: bool,
    },
    /// Print every effective setting and where it came from (flag, file, env, default).
    Show,
    /// Check the configuration, reporting every problem at once (exit 20 if any).
    Validate,
    /// Print one value, e.g. `defaults.memory` or `plugins.unpaywall.path`.
    Get { key: String },
}

pub fn run(command: &ConfigCommand, settings: &Settings, cwd: &Path, format: Format) -> CliResult {
    let config = &settings.config;
    match command {
        ConfigCommand::Init { force } => init(cwd, *force),
        ConfigCommand::Show => {
            show(config, format);
            Ok(Exit::Success)
        }
        ConfigCommand::Validate => {
            // Loading already refused an invalid file; what is left to check is on disk: each
            // plugin's component exists and matches its sha256 pin.
            let problems = plugin_file_problems(settings);
            if !problems.is_empty() {
                return Err(usage(anyhow!(
                    "invalid configuration{}:\n  - {}",
                    config
                        .file
                        .as_ref()
                        .map(|f| format!(" in {}", f.display()))
                        .unwrap_or_default(),
                    problems.join("\n  - ")
                )));
            }
            if format == Format::Json {
                output::json(&serde_json::json!({
                    "valid": true,
                    "file": config.file,
                    "plugins": config.plugins.keys().collect::<Vec<_>>(),
                }));
            } else {
                let file = config
                    .file
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_else(|| "no baton.toml (defaults only)".into());
                println!(
                    "{OK} configuration is valid: {file}, {} plugin(s)",
                    config.plugins.len()
                );
            }
            Ok(Exit::Success)
        }
        ConfigCommand::Get { key } => match config.lookup(key).map(|v| masked(key, v)) {
            Some(value) => {
                if format == Format::Json {
                    output::json(&serde_json::json!({"key": key, "value": value}));
                } else {
                    println!("{value}");
                }
                Ok(Exit::Success)
            }
            None => Err(usage(anyhow!(
                "unknown key `{key}`; known settings: {}, or plugins.NAME.FIELD",
                SETTINGS
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

fn init(cwd: &Path, force: bool) -> CliResult {
    let path = cwd.join(CONFIG_FILE);
    if path.exists() && !force {
        return Err(usage(anyhow!(
            "{} already exists (use --force to overwrite)",
            path.display()
        )));
    }
    let mut text = String::from(
        "# Baton configuration. Precedence: flags > this file > BATON_* environment > defaults.\n\
         # Every setting below is at its default; uncomment to change.\n",
    );
    let mut section = "";
    for setting in SETTINGS {
        let (table, key) = setting.key.split_once('.').unwrap_or(("", setting.key));
        if table != section {
            text.push_str(&format!("\n[{table}]\n"));
            section = table;
        }
        // Lists are TOML arrays; every other default is written as a string.
        let value = if setting.default.starts_with('[') {
            setting.default.to_string()
        } else {
            format!("\"{}\"", setting.default)
        };
        text.push_str(&format!(
            "# {} (env {})\n# {key} = {value}\n",
            setting.help, setting.env
        ));
    }
    text.push_str(
        "\n# A plugin: the component, an optional sha256 pin, and what it may use.\n\
         # [plugins.unpaywall]\n\
         # path = \"plugins/unpaywall.wasm\"\n\
         # kind = \"resolver\"\n\
         # settings = { email = \"you@example.org\" }\n\
         # [plugins.unpaywall.grants]\n\
         # http = [\"https://api.unpaywall.org:443\"]\n",
    );
    std::fs::write(&path, text)
        .map_err(|e| runtime(anyhow!("cannot write {}: {e}", path.display())))?;
    println!("{OK} wrote {}", path.display());
    Ok(Exit::Success)
}

/// A setting's value as shown: a store address without its password.
fn masked(key: &str, value: String) -> String {
    if key != "store.db" {
        return value;
    }
    match url::Url::parse(&value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => value,
    }
}

fn show(config: &Config, format: Format) {
    if format == Format::Json {
        let mut settings = serde_json::to_value(&config.values).unwrap_or_default();
        if let Some(db) = settings.pointer_mut("/store.db/value")
            && let Some(text) = db.as_str()
        {
            *db = serde_json::Value::from(masked("store.db", text.to_string()));
        }
        output::json(&serde_json::json!({
            "root": config.root,
            "file": config.file,
            "settings": settings,
            "plugins": config.plugins,
        }));
        return;
    }
    println!(
        "root: {}\nfile: {}",
        config.root.display(),
        config
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "(none)".into())
    );
    let rows: Vec<Vec<String>> = config
        .values
        .iter()
        .map(|(key, value)| {
            vec![
                key.to_string(),
                masked(key, value.value.clone()),
                value.source.name().to_string(),
            ]
        })
        .collect();
    output::table(&["setting", "value", "source"], &rows);
    if !config.plugins.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = config
            .plugins
            .iter()
            .map(|(name, entry)| vec![name.clone(), entry.path.clone()])
            .collect();
        output::table(&["plugin", "path"], &rows);
    }
}

/// Each configured plugin whose component is missing, unreadable, or does not match its
/// `sha256` pin, with the command that re-pins it.
fn plugin_file_problems(settings: &Settings) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, entry) in &settings.plugins {
        let path = settings.root.join(&entry.path);
        if !path.is_file() {
            problems.push(format!(
                "plugins.{name}: component {} does not exist (build it, or fix `path`)",
                path.display()
            ));
            continue;
        }
        let Some(pin) = &entry.sha256 else { continue };
        match baton_core::digest::file_digest(&path) {
            Ok(digest) if digest.eq_ignore_ascii_case(pin) => {}
            Ok(digest) => problems.push(format!(
                "plugins.{name}: {} has sha256 {digest}, but the pin is {pin} (if you rebuilt it on purpose, update `sha256` in baton.toml)",
                path.display()
            )),
            Err(e) => problems.push(format!("plugins.{name}: {e:#}")),
        }
    }
    problems
}
