//! `baton plugin new`: writes a plugin outside this repository that builds with one command
//! and answers `baton plugin call` out of the box. Rust: a crate (`cargo build --release`,
//! the target set in `.cargo/config.toml`) with the guest SDK vendored from copies embedded
//! in this binary, with the plugin workspace's lock file, so it builds the same dependency
//! versions Baton's own plugins do. Python and JavaScript: see [`starters`].

mod starters;

use anyhow::{Context, Result, anyhow, bail};
use baton_runtime::inspect::{WIT_VERSION, World};
use std::path::{Path, PathBuf};

use baton_plugins_build::sdk::{SDK_FILES, WORKSPACE_LOCK, WORKSPACE_MANIFEST};

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// A Rust crate on the guest SDK, built with cargo.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

impl Lang {
    /// The one command that builds the plugin, run in its directory.
    pub fn build_command(self) -> &'static str {
        match self {
            Lang::Rust => "cargo build --release",
            Lang::Python | Lang::Js => "./build.sh",
        }
    }

    /// The component the build command writes, relative to the plugin's directory.
    pub fn component(self, name: &str) -> String {
        match self {
            Lang::Rust => format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
            Lang::Python | Lang::Js => format!("{name}.wasm"),
        }
    }

    /// The command that runs the starter's test, in its directory.
    pub fn test_command(self) -> &'static str {
        match self {
            Lang::Rust => "baton plugin call (see README.md)",
            Lang::Python => "python3 test_plugin.py",
            Lang::Js => "npm test",
        }
    }
}

/// The WIT files (`baton.wit`, `deps/*.wit`) as the SDK carries them, relative to `wit/`.
fn wit_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    SDK_FILES
        .iter()
        .filter_map(|(path, content)| path.strip_prefix("wit/").map(|p| (p, *content)))
}

const SDK_DIR: &str = "vendor/baton-sdk";

fn template(kind: World) -> &'static str {
    match kind {
        World::Resolver => include_str!("resolver.rs.tmpl"),
        World::Stage => include_str!("stage.rs.tmpl"),
        World::Agent => include_str!("agent.rs.tmpl"),
    }
}

/// Creates `parent/name/` with a `lang` starter of world `kind` and returns its path. Fails
/// when the name is not a plugin name, the directory exists or a file cannot be written.
pub fn create(kind: World, name: &str, parent: &Path, lang: Lang) -> Result<PathBuf> {
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
    let files = match lang {
        Lang::Rust => rust_files(kind, name)?,
        Lang::Python | Lang::Js => starters::files(kind, name, lang),
    };
    write_all(&dir, files)?;
    Ok(dir)
}

/// Writes every file under `dir`; `build.sh` is made executable.
fn write_all(dir: &Path, files: Vec<(PathBuf, String)>) -> Result<()> {
    for (path, content) in files {
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, content)
            .with_context(|| format!("cannot write {}", target.display()))?;
        if path.extension().is_some_and(|e| e == "sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", target.display()))?;
        }
    }
    Ok(())
}

/// The Rust crate: manifest, lock file, target config, source and the vendored SDK.
fn rust_files(kind: World, name: &str) -> Result<Vec<(PathBuf, String)>> {
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
    Ok(files)
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
        "# {name}\n\nA Baton {kind} plugin (WIT `baton:plugin@{WIT_VERSION}`).\n\n\
         ```sh\ncargo build --release      # builds target/wasm32-wasip2/release/{crate_name}.wasm\n\
         baton plugin inspect target/wasm32-wasip2/release/{crate_name}.wasm\n\
         baton plugin call target/wasm32-wasip2/release/{crate_name}.wasm --input '...'\n```\n\n\
         `vendor/baton-sdk` is Baton's guest SDK (bindings, HTTP client, JSON and log helpers).\n\
         Needs the target once: `rustup target add wasm32-wasip2`.\n"
    )
}
