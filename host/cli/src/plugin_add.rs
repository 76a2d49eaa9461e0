//! `baton plugin add FILE [--name N] [--update]`: pins a component in baton.toml. A new entry
//! is appended with the grants it asks for as comments; `--update` re-pins an existing entry
//! to a rebuilt file in place (the rest of the file, comments and layout included, is kept)
//! and says what changed: sha256, version, world, capabilities asked and not granted. What
//! each entry was pinned to is remembered in `.baton/plugin-pins.json`, so the next update
//! can name the version it replaces.

use super::exit::{CliResult, Exit, runtime, usage};
use super::output::{self, FAIL, Format, INFO, OK};
use anyhow::anyhow;
use baton_engine::plugins as spec;
use baton_engine::settings::Settings;
use baton_runtime::Runtime;
use baton_runtime::policy::{Asks, missing_grants};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file under `.baton/` that remembers what each entry was pinned to.
const PINS_FILE: &str = "plugin-pins.json";

/// What `plugin add` pinned an entry to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Pin {
    sha256: String,
    version: String,
    world: String,
    asks: Asks,
}

fn pins_path(settings: &Settings) -> PathBuf {
    settings.state_dir.join(PINS_FILE)
}

fn read_pins(settings: &Settings) -> BTreeMap<String, Pin> {
    std::fs::read(pins_path(settings))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Records `pin` for `name`; a failure only costs the next update its "before" version.
fn write_pin(settings: &Settings, name: &str, pin: Pin) {
    let mut pins = read_pins(settings);
    pins.insert(name.to_string(), pin);
    let path = pins_path(settings);
    let written = (|| -> anyhow::Result<()> {
        std::fs::create_dir_all(&settings.state_dir)?;
        std::fs::write(&path, serde_json::to_vec_pretty(&pins)?)?;
        Ok(())
    })();
    if let Err(e) = written {
        eprintln!("{FAIL} cannot record the pin in {}: {e}", path.display());
    }
}

/// The config file entries are written to (created by `add` when there is none).
fn config_file(settings: &Settings) -> PathBuf {
    settings
        .config
        .file
        .clone()
        .unwrap_or_else(|| settings.root.join(baton_engine::settings::CONFIG_FILE))
}

/// `path` as written into baton.toml: relative to the project root when inside it.
fn config_path(settings: &Settings, path: &Path) -> String {
    path.strip_prefix(&settings.root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// `baton plugin add FILE [--name NAME] [--update]`.
pub async fn add(
    settings: &Settings,
    rt: &Runtime,
    file: &Path,
    name: Option<&str>,
    update: bool,
    format: Format,
) -> CliResult {
    let spec = spec::for_file(settings, file).map_err(usage)?;
    let examined = match rt.examine(&spec).await {
        Ok(examined) => examined,
        Err(error) => return super::plugin::plugin_error_exit(error, format),
    };
    let name = name.unwrap_or(&examined.description.name).to_string();
    let pin = Pin {
        sha256: examined.digest.clone(),
        version: examined.description.version.clone(),
        world: examined.world.name().to_string(),
        asks: examined.description.asks.clone(),
    };
    let path = config_path(settings, &spec.path);
    match (settings.plugins.contains_key(&name), update) {
        (true, false) => Err(usage(anyhow!(
            "a plugin named `{name}` is already configured: re-pin it to this file with `baton plugin add {} --update --name {name}`, or choose another name with --name",
            file.display()
        ))),
        (false, true) => Err(usage(anyhow!(
            "no plugin `{name}` is configured, so there is nothing to update: add it with `baton plugin add {}`{}",
            file.display(),
            if settings.plugins.is_empty() {
                String::new()
            } else {
                format!(
                    " (configured: {})",
                    settings
                        .plugins
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ))),
        (false, false) => append_entry(settings, &name, &path, pin, format),
        (true, true) => repin(settings, &name, &path, pin, format),
    }
}

fn append_entry(
    settings: &Settings,
    name: &str,
    path: &str,
    pin: Pin,
    format: Format,
) -> CliResult {
    let asks = &pin.asks;
    let mut entry = format!(
        "\n[plugins.{name}]\npath = {path:?}\nsha256 = \"{}\"\nkind = \"{}\"\n",
        pin.sha256, pin.world
    );
    let mut todo = Vec::new();
    if !asks.http.is_empty() {
        todo.push(format!("# http = [] # asks for {:?}", asks.http));
    }
    for (guest, writable) in &asks.files {
        todo.push(format!(
            "# files = [{{ host = \"DIR\", guest = \"{guest}\", writable = {writable} }}]"
        ));
    }
    if !asks.exec.is_empty() {
        todo.push(format!("# exec = [] # asks for {:?}", asks.exec));
    }
    if !asks.env.is_empty() {
        todo.push(format!("# env = {:?}", asks.env));
    }
    if asks.state {
        todo.push("# state = true".into());
    }
    if !todo.is_empty() {
        entry.push_str(&format!(
            "[plugins.{name}.grants]\n# The plugin asks for these; grant what you allow:\n{}\n",
            todo.join("\n")
        ));
    }
    let target = config_file(settings);
    let mut text = std::fs::read_to_string(&target).unwrap_or_default();
    text.push_str(&entry);
    std::fs::write(&target, text)
        .map_err(|e| runtime(anyhow!("cannot write {}: {e}", target.display())))?;
    let sha256 = pin.sha256.clone();
    write_pin(settings, name, pin);
    if format == Format::Json {
        output::json(&json!({"added": name, "file": target, "sha256": sha256}));
    } else {
        println!("{OK} added `{name}` to {}", target.display());
        if !todo.is_empty() {
            println!("{INFO} it asks for capabilities: edit [plugins.{name}.grants] to grant them");
        }
    }
    Ok(Exit::Success)
}

/// Re-pins `[plugins.NAME]` in place with toml_edit, keeping everything else of the file.
fn repin(settings: &Settings, name: &str, path: &str, pin: Pin, format: Format) -> CliResult {
    let target = config_file(settings);
    let text = std::fs::read_to_string(&target)
        .map_err(|e| runtime(anyhow!("cannot read {}: {e}", target.display())))?;
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| usage(anyhow!("{} is not valid TOML: {e}", target.display())))?;
    let table = document
        .get_mut("plugins")
        .and_then(|plugins| plugins.get_mut(name))
        .and_then(|entry| entry.as_table_like_mut())
        .ok_or_else(|| {
            usage(anyhow!(
                "[plugins.{name}] is not a table in {}: edit it by hand",
                target.display()
            ))
        })?;
    let text_of = |item: Option<&toml_edit::Item>| {
        item.and_then(|i| i.as_str())
            .map(String::from)
            .unwrap_or_default()
    };
    let old_sha = text_of(table.get("sha256"));
    let old_path = text_of(table.get("path"));
    let old_kind = text_of(table.get("kind"));
    let before = read_pins(settings).remove(name);
    let same_file = Path::new(&old_path) == Path::new(path);
    set_keeping_decor(table, "sha256", &pin.sha256);
    if !same_file {
        set_keeping_decor(table, "path", path);
    }
    if !old_kind.is_empty() && old_kind != pin.world {
        set_keeping_decor(table, "kind", &pin.world);
    }
    let changed =
        old_sha != pin.sha256 || !same_file || (!old_kind.is_empty() && old_kind != pin.world);
    if changed {
        std::fs::write(&target, document.to_string())
            .map_err(|e| runtime(anyhow!("cannot write {}: {e}", target.display())))?;
    }
    let entry = &settings.plugins[name];
    let ungranted = missing_grants(name, &pin.asks, &entry.grants);
    let (asks_added, asks_removed) = match &before {
        Some(before) => asks_diff(&before.asks, &pin.asks),
        None => (Vec::new(), Vec::new()),
    };
    let old_version = before.as_ref().map(|b| b.version.clone());
    let old_world = before
        .as_ref()
        .map(|b| b.world.clone())
        .or((!old_kind.is_empty()).then(|| old_kind.clone()));
    write_pin(settings, name, pin.clone());
    if format == Format::Json {
        output::json(&json!({
            "updated": name, "file": target, "changed": changed,
            "sha256": {"old": old_sha, "new": pin.sha256},
            "path": {"old": old_path, "new": path},
            "version": {"old": old_version, "new": pin.version},
            "world": {"old": old_world, "new": pin.world},
            "asks": {"added": asks_added, "removed": asks_removed},
            "ungranted": ungranted,
        }));
        return Ok(Exit::Success);
    }
    if !changed {
        println!(
            "{OK} `{name}` is already pinned to {} ({}); nothing changed",
            pin.sha256,
            output::safe(path, false)
        );
    } else {
        println!("{OK} re-pinned `{name}` in {}", target.display());
        println!(
            "  sha256   {} → {}",
            if old_sha.is_empty() {
                "(none)"
            } else {
                old_sha.as_str()
            },
            pin.sha256
        );
        if !same_file {
            println!(
                "  path     {} → {}",
                output::safe(&old_path, false),
                output::safe(path, false)
            );
        }
    }
    match &old_version {
        Some(old) if *old != pin.version => println!(
            "  version  {} → {}",
            output::safe(old, false),
            output::safe(&pin.version, false)
        ),
        Some(_) => println!(
            "  version  {} (unchanged)",
            output::safe(&pin.version, false)
        ),
        None => println!(
            "  version  {} (the version before is unknown: the entry was not pinned by `plugin add`)",
            output::safe(&pin.version, false)
        ),
    }
    if old_world.as_deref().is_some_and(|w| w != pin.world) {
        println!(
            "  world    {} → {}",
            old_world.as_deref().unwrap_or(""),
            pin.world
        );
    }
    for ask in &asks_added {
        println!("  asks     + {}", output::safe(ask, false));
    }
    for ask in &asks_removed {
        println!("  asks     − {}", output::safe(ask, false));
    }
    for missing in &ungranted {
        println!("{FAIL} not granted: {}", output::safe(missing, false));
    }
    if !ungranted.is_empty() {
        println!("{INFO} grant them under [plugins.{name}.grants] or the plugin will not load");
    }
    Ok(Exit::Success)
}

/// Sets `key` to the string `value`, keeping the comments and spacing around the old value.
fn set_keeping_decor(table: &mut dyn toml_edit::TableLike, key: &str, value: &str) {
    let mut new = toml_edit::Value::from(value);
    if let Some(old) = table.get(key).and_then(|item| item.as_value()) {
        *new.decor_mut() = old.decor().clone();
    }
    table.insert(key, toml_edit::Item::Value(new));
}

/// Each capability as one line (`http https://x`, `file /data (rw)`, `exec git`, `env KEY`,
/// `state`), and which were added and removed between `before` and `after`.
fn asks_diff(before: &Asks, after: &Asks) -> (Vec<String>, Vec<String>) {
    fn lines(asks: &Asks) -> Vec<String> {
        let mut lines: Vec<String> = asks.http.iter().map(|h| format!("http {h}")).collect();
        lines.extend(asks.files.iter().map(|(path, writable)| {
            format!("file {path}{}", if *writable { " (rw)" } else { "" })
        }));
        lines.extend(asks.exec.iter().map(|p| format!("exec {p}")));
        lines.extend(asks.env.iter().map(|e| format!("env {e}")));
        if asks.state {
            lines.push("state".into());
        }
        lines
    }
    let (old, new) = (lines(before), lines(after));
    let added = new.iter().filter(|l| !old.contains(l)).cloned().collect();
    let removed = old.iter().filter(|l| !new.contains(l)).cloned().collect();
    (added, removed)
}
