//! Builds the first-party and test plugins (the `plugins/` workspace) for wasm32-wasip2 into
//! `target/plugins/`, so a plain `cargo build` or `cargo test` of the host needs no manual
//! step; `.cargo/config.toml` names that directory to `baton-bundled`. Installs the rustup
//! target when it is missing and says what to do when that is impossible. Also keeps the SDK's
//! copy of the WIT (which third-party scaffolds vendor) identical to `wit/`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = crate_dir
        .ancestors()
        .nth(2)
        .expect("host/plugins-build/ sits two levels below the repository root")
        .to_path_buf();
    let plugins = root.join("plugins");
    let target_dir = root.join("target").join("plugins");
    watch(&root.join("wit"));
    watch_plugins(&plugins);
    sync_wit(&root.join("wit"), &plugins.join("sdk").join("wit"));
    embed_sdk(&plugins);
    ensure_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the plugins: {e}"));
    if !status.success() {
        panic!(
            "building the plugins failed (see the cargo output above); reproduce with: cargo build --release --target {TARGET} --manifest-path plugins/Cargo.toml"
        );
    }
}

fn ensure_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == TARGET) => {}
        Ok(_) => {
            println!("cargo:warning=installing the {TARGET} target with rustup");
            let added = Command::new("rustup")
                .args(["target", "add", TARGET])
                .status();
            if !matches!(added, Ok(s) if s.success()) {
                panic!(
                    "the {TARGET} target is missing and `rustup target add {TARGET}` failed; run it by hand (it needs network access to the Rust distribution server) and build again"
                );
            }
        }
        Err(_) => {
            // No rustup: the toolchain may still have the target (e.g. a distribution's rustc).
            println!(
                "cargo:warning=rustup not found; assuming the toolchain already has the {TARGET} target"
            );
        }
    }
}

/// Re-run when the WIT changes.
fn watch(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
}

/// Re-run when a plugin's sources change, but not when build outputs appear.
fn watch_plugins(plugins: &Path) {
    for file in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", plugins.join(file).display());
    }
    let mut stack = vec![plugins.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if !path.is_dir() || name == "target" || name == "python-resolver" {
                continue;
            }
            if name == "src" || name == "wit" {
                watch(&path);
            } else {
                if path.join("Cargo.toml").is_file() {
                    println!(
                        "cargo:rerun-if-changed={}",
                        path.join("Cargo.toml").display()
                    );
                }
                stack.push(path);
            }
        }
    }
}

/// Copies `wit/` into the SDK when they differ.
fn sync_wit(source: &Path, copy: &Path) {
    let mut files = vec![PathBuf::from("baton.wit")];
    if let Ok(deps) = std::fs::read_dir(source.join("deps")) {
        files.extend(
            deps.flatten()
                .map(|e| PathBuf::from("deps").join(e.file_name())),
        );
    }
    for relative in files {
        let from = source.join(&relative);
        let to = copy.join(&relative);
        let wanted =
            std::fs::read(&from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
        if std::fs::read(&to).ok().as_deref() != Some(&wanted[..]) {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
            }
            std::fs::write(&to, &wanted)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", to.display()));
        }
    }
}

/// Writes `$OUT_DIR/sdk_files.rs`: every file of the SDK crate (plus the plugin workspace's
/// manifest and lock file), embedded so `baton plugin new` can vendor the SDK anywhere.
fn embed_sdk(plugins: &Path) {
    let sdk = plugins.join("sdk");
    let mut files = Vec::new();
    let mut stack = vec![sdk.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut code = String::from(
        "/// (path inside the SDK crate, content)\npub const SDK_FILES: &[(&str, &str)] = &[\n",
    );
    for file in files {
        let relative = file.strip_prefix(&sdk).expect("under sdk/");
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.to_string_lossy(),
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&format!(
        "/// The plugin workspace's `Cargo.toml`.\npub const WORKSPACE_MANIFEST: &str = include_str!({:?});\n/// The plugin workspace's `Cargo.lock`.\npub const WORKSPACE_LOCK: &str = include_str!({:?});\n",
        plugins.join("Cargo.toml").display().to_string(),
        plugins.join("Cargo.lock").display().to_string()
    ));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("sdk_files.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
