//! The on-disk compile cache: a component is compiled once per engine configuration and kept
//! as `<sha256>-<engine hash>.cwasm`, its modification time renewed at each use.
//! Deserializing runs native code, so only files this cache wrote are ever loaded: regular
//! files (no symlinks) owned by this user, in a directory private to this user, written
//! atomically (temp file + rename).

use anyhow::{Context, Result, anyhow};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The compile cache in one directory, keyed by the component's sha256 and a hash of the
/// engine's precompile compatibility (so another wasmtime version or config never matches).
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

/// How a component was obtained, for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Deserialized from a trusted `.cwasm` entry written for this engine.
    Hit,
    /// Compiled with Cranelift now (no usable entry) and stored, if the cache is writable.
    Compiled,
}

impl CompileCache {
    /// A cache in `dir` for components compiled by `engine`; `dir` is created on the first store.
    pub fn new(dir: PathBuf, engine: &Engine) -> CompileCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn entry(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `bytes` (whose sha256 is `digest`), from the cache or
    /// freshly compiled and stored. A cache that cannot be written only costs a recompile.
    pub fn load(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(Component, CacheOutcome), wasmtime::Error> {
        let path = self.entry(digest);
        if trusted_cache_file(&path) {
            // SAFETY: the file was written by `store` below from `Component::serialize`
            // (see `trusted_cache_file`), and wasmtime checks it matches this engine.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    // An entry's modification time is its last use: `baton cleanup` removes
                    // entries unused for its retention.
                    let used = std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|file| file.set_modified(std::time::SystemTime::now()));
                    if let Err(e) = used {
                        tracing::debug!(path = %path.display(), "cannot mark the cache entry used: {e}");
                    }
                    return Ok((component, CacheOutcome::Hit));
                }
                Err(e) => tracing::warn!(path = %path.display(), "ignoring cache entry: {e}"),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(dir = %self.dir.display(), "cannot cache compiled plugin: {e:#}");
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let bytes = component.serialize().map_err(|e| anyhow!("{e}"))?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        temp.persist(path)?;
        Ok(())
    }
}

/// A regular file owned by us, not writable by others, in a directory only we can write.
fn trusted_cache_file(path: &Path) -> bool {
    let uid = unsafe { libc::geteuid() };
    let private = |meta: &std::fs::Metadata| meta.uid() == uid && meta.mode() & 0o022 == 0;
    let Ok(file) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let Some(dir) = path
        .parent()
        .and_then(|d| std::fs::symlink_metadata(d).ok())
    else {
        return false;
    };
    file.file_type().is_file() && private(&file) && dir.is_dir() && private(&dir)
}
