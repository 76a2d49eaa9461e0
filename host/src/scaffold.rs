//! `baton plugin new`: writes a plugin crate outside this repository that builds with one
//! cargo command and answers `baton plugin call` out of the box.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

pub fn create(kind: &str, name: &str, parent: &Path) -> Result<PathBuf> {
    let _ = (kind, parent);
    bail!("scaffolding `{name}` is not available yet")
}
