//! `baton plugin new`: writes a plugin crate outside this repository that builds with one
//! cargo command (`cargo build --release`, the target is set in `.cargo/config.toml`) and
//! answers `baton plugin call` out of the box. The guest SDK is vendored into the crate from
//! copies embedded in this binary, with the plugin workspace's lock file, so the scaffold
//! builds the same dependency versions Baton's own plugins do.

use anyhow::{Context, Result, anyhow, bail};
use baton_runtime::inspect::World;
use std::path::{Path, PathBuf};

use baton_plugins_build::sdk::{SDK_FILES, WORKSPACE_LOCK, WORKSPACE_MANIFEST};

const SDK_DIR: &str = "vendor/baton-sdk";

fn template(kind: World) -> &'static str {
    match kind {
        World::Resolver => include_str!("resolver.rs.tmpl"),
        World::Stage => include_str!("stage.rs.tmpl"),
        World::Agent => include_str!("agent.rs.tmpl"),
    }
}

/// Creates `parent/name/` and returns its path.
pub fn create(kind: World, name: &str, parent: &Path) -> Result<PathBuf> {
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a plugin name: use lowercase letters, digits, `-` and `_`, starting with a letter"
        );
    }
    let dir = if parent == Path::new(".") {
        PathBuf::from(name)
    } else {
        parent.join(name)
    };
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let crate_name = name.replace('-', "_");
    let source = template(kind)
        .replace("{{name}}", name)
        .replace("{{crate}}", &crate_name);
    let (workspace_package, workspace_deps) = workspace_tables()?;
    let mut files: Vec<(PathBuf, String)> = vec![
        (
            PathBuf::from("Cargo.toml"),
            plugin_manifest(name, &workspace_deps)?,
        ),
        (PathBuf::from("Cargo.lock"), WORKSPACE_LOCK.to_string()),
        (
            PathBuf::from(".cargo/config.toml"),
            "[build]\ntarget = \"wasm32-wasip2\"\n".to_string(),
        ),
        (PathBuf::from("src/lib.rs"), source),
        (PathBuf::from(".gitignore"), "/target\n".to_string()),
        (
            PathBuf::from("README.md"),
            readme(kind.name(), name, &crate_name),
        ),
    ];
    for (path, content) in SDK_FILES {
        let content = if *path == "Cargo.toml" {
            standalone_manifest(content, &workspace_package, &workspace_deps)?
        } else {
            content.to_string()
        };
        files.push((Path::new(SDK_DIR).join(path), content));
    }
    for (path, content) in files {
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, content)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    Ok(dir)
}

fn workspace_tables() -> Result<(toml::Table, toml::Table)> {
    let workspace: toml::Table = toml::from_str(WORKSPACE_MANIFEST)?;
    let section = |key: &str| -> Result<toml::Table> {
        workspace
            .get("workspace")
            .and_then(|w| w.get(key))
            .and_then(|t| t.as_table())
            .cloned()
            .ok_or_else(|| anyhow!("the embedded plugin workspace has no [workspace.{key}]"))
    };
    Ok((section("package")?, section("dependencies")?))
}

/// Replaces every `x.workspace = true` of a member manifest with the workspace's value.
fn standalone_manifest(text: &str, package: &toml::Table, deps: &toml::Table) -> Result<String> {
    let mut manifest: toml::Table = toml::from_str(text)?;
    for (section, source) in [("package", package), ("dependencies", deps)] {
        if let Some(table) = manifest.get_mut(section).and_then(|t| t.as_table_mut()) {
            for (key, value) in table.iter_mut() {
                let inherits = value
                    .as_table()
                    .and_then(|t| t.get("workspace"))
                    .and_then(|w| w.as_bool())
                    == Some(true);
                if inherits {
                    *value = source
                        .get(key)
                        .cloned()
                        .ok_or_else(|| anyhow!("workspace value `{key}` is missing"))?;
                }
            }
        }
    }
    Ok(toml::to_string(&manifest)?)
}

fn plugin_manifest(name: &str, deps: &toml::Table) -> Result<String> {
    let dep = |key: &str| -> Result<String> {
        let value = deps
            .get(key)
            .ok_or_else(|| anyhow!("workspace dependency `{key}` is missing"))?;
        Ok(format!("{key} = {value}"))
    };
    Ok(format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nbaton-sdk = {{ path = \"{SDK_DIR}\" }}\n{}\n{}\n\n\
         [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\nstrip = true\n\n\
         # Keeps this crate out of any workspace it is created in.\n[workspace]\n",
        dep("serde")?,
        dep("serde_json")?
    ))
}

fn readme(kind: &str, name: &str, crate_name: &str) -> String {
    format!(
        "# {name}\n\nA Baton {kind} plugin (WIT `baton:plugin@0.1.0`).\n\n\
         ```sh\ncargo build --release      # builds target/wasm32-wasip2/release/{crate_name}.wasm\n\
         baton plugin inspect target/wasm32-wasip2/release/{crate_name}.wasm\n\
         baton plugin call target/wasm32-wasip2/release/{crate_name}.wasm --input '...'\n```\n\n\
         `vendor/baton-sdk` is Baton's guest SDK (bindings, HTTP client, JSON and log helpers).\n\
         Needs the target once: `rustup target add wasm32-wasip2`.\n"
    )
}
