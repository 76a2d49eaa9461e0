//! Reads a component's type without running it: which Baton world it targets, which served
//! version of `baton:plugin` it was built against, and its imports and exports. Refuses components of
//! another world or an unserved WIT version with a message naming both sides.

use super::error::ErrorKind;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The current version of `baton:plugin` (`wit/baton.wit`): what new plugins and the
/// scaffolds target. The host also serves the older versions in [`WitVersion::SERVED`].
pub const WIT_VERSION: &str = "0.2.0";

/// A version of `baton:plugin` this host serves; a component's imports and exports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum WitVersion {
    /// `baton:plugin@0.1.0`, frozen in `wit/0.1.0/`: interface `types`, agents fail with
    /// the generic `failure`.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `baton:plugin@0.2.0`, the current contract: interface `plugin-types`, agents fail with
    /// `agent-failure`.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl WitVersion {
    /// Every served version, newest first.
    pub const SERVED: [WitVersion; 2] = [WitVersion::V0_2, WitVersion::V0_1];

    /// The version new plugins target ([`WIT_VERSION`]).
    pub const CURRENT: WitVersion = WitVersion::V0_2;

    /// The semver text, e.g. `0.2.0`.
    pub fn number(self) -> &'static str {
        match self {
            WitVersion::V0_1 => "0.1.0",
            WitVersion::V0_2 => WIT_VERSION,
        }
    }

    /// The package name with its version, e.g. `baton:plugin@0.2.0`.
    pub fn package(self) -> String {
        format!("baton:plugin@{}", self.number())
    }

    /// The served version a component's `baton:plugin` version is compatible with (for 0.x,
    /// the same minor version, as the component model's semver matching has it).
    pub fn serving(version: &str) -> Option<WitVersion> {
        WitVersion::SERVED
            .into_iter()
            .find(|served| compatible(version, served.number()))
    }

    /// `baton:plugin@0.2.0 and baton:plugin@0.1.0`, for messages.
    pub fn served_list() -> String {
        WitVersion::SERVED.map(WitVersion::package).join(" and ")
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.number())
    }
}

/// The three plugin worlds: the one shape of a plugin's kind, in config (`kind = "stage"`),
/// on the command line and in JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum World {
    /// Exports `resolve`: an artifact id to download candidates.
    Resolver,
    /// Exports `run`: a pipeline stage over preopened inputs and an output directory.
    Stage,
    /// Exports the `session` resource: an agent adapter.
    Agent,
}

impl std::str::FromStr for World {
    type Err = String;

    fn from_str(text: &str) -> Result<World, String> {
        World::parse(text)
            .ok_or_else(|| format!("`{text}` is not a plugin kind (resolver, stage or agent)"))
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl World {
    /// Every world.
    pub const ALL: [World; 3] = [World::Resolver, World::Stage, World::Agent];

    /// The lowercase name (`resolver`, `stage`, `agent`).
    pub fn name(self) -> &'static str {
        match self {
            World::Resolver => "resolver",
            World::Stage => "stage",
            World::Agent => "agent",
        }
    }

    /// The world named `text`, if any.
    pub fn parse(text: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.name() == text)
    }

    /// The interface only this world exports.
    pub fn work_interface(self) -> &'static str {
        match self {
            World::Resolver => "resolution",
            World::Stage => "stage-runner",
            World::Agent => "agent-sessions",
        }
    }

    /// How the world is named in messages, at the current version:
    /// `baton:plugin/resolver@0.2.0`.
    pub fn qualified(self) -> String {
        self.qualified_at(WitVersion::CURRENT)
    }

    /// How the world is named at `version`: `baton:plugin/resolver@0.1.0`.
    pub fn qualified_at(self, version: WitVersion) -> String {
        format!("baton:plugin/{}@{version}", self.name())
    }
}

/// What `inspect` learns from a component's type.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInfo {
    /// Names of the component's imports, e.g. `wasi:http/outgoing-handler@0.2.12`.
    pub imports: Vec<String>,
    /// Names of its exports, e.g. `baton:plugin/resolution@0.1.0`.
    pub exports: Vec<String>,
}

impl ComponentInfo {
    /// Reads the import and export names from the component's type, without instantiating it.
    pub fn read(engine: &Engine, component: &Component) -> ComponentInfo {
        let ty = component.component_type();
        ComponentInfo {
            imports: ty
                .imports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
            exports: ty
                .exports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
        }
    }

    /// The `baton:plugin` version the component was built against: every Baton name it
    /// imports or exports must carry one version, compatible with a served one. A component
    /// naming no Baton interface at all is left to [`ComponentInfo::world`] to refuse; it gets
    /// the current version.
    pub fn version(&self) -> Result<WitVersion, ErrorKind> {
        let mut found: Option<&str> = None;
        for (_, version) in self
            .exports
            .iter()
            .chain(&self.imports)
            .filter_map(|name| split_baton_name(name))
        {
            let Some(serving) = WitVersion::serving(version) else {
                return Err(ErrorKind::WitVersion {
                    found: format!("baton:plugin@{version}"),
                    served: WitVersion::served_list(),
                });
            };
            match found {
                Some(first) if WitVersion::serving(first) != Some(serving) => {
                    return Err(ErrorKind::WitVersion {
                        found: format!("baton:plugin@{first} mixed with baton:plugin@{version}"),
                        served: WitVersion::served_list(),
                    });
                }
                Some(_) => {}
                None => found = Some(version),
            }
        }
        Ok(found
            .and_then(WitVersion::serving)
            .unwrap_or(WitVersion::CURRENT))
    }

    /// The world and `baton:plugin` version the component targets, checked against what the
    /// caller expects (if anything).
    pub fn world(&self, expected: Option<World>) -> Result<(World, WitVersion), ErrorKind> {
        let version = self.version()?;
        let exported: Vec<&str> = self
            .exports
            .iter()
            .filter_map(|name| split_baton_name(name).map(|(interface, _)| interface))
            .collect();
        let found = World::ALL
            .into_iter()
            .find(|w| exported.contains(&w.work_interface()));
        let describe = |exports: &[String]| {
            if exports.is_empty() {
                "a component that exports nothing".to_string()
            } else {
                format!("a component exporting {}", exports.join(", "))
            }
        };
        match (found, expected) {
            (Some(world), Some(expected)) if world != expected => Err(ErrorKind::WrongWorld {
                expected: format!(
                    "baton:plugin/{}@{version} (world {})",
                    expected.work_interface(),
                    expected.name()
                ),
                found: format!(
                    "a {} plugin ({})",
                    world.name(),
                    world.qualified_at(version)
                ),
            }),
            (Some(world), _) if !exported.contains(&"metadata") => Err(ErrorKind::WrongWorld {
                expected: format!("baton:plugin/metadata@{version}"),
                found: format!(
                    "{} ({})",
                    describe(&self.exports),
                    world.qualified_at(version)
                ),
            }),
            (Some(world), _) => Ok((world, version)),
            (None, expected) => Err(ErrorKind::WrongWorld {
                expected: match expected {
                    Some(w) => w.qualified(),
                    None => World::ALL.map(World::qualified).join(" or "),
                },
                found: describe(&self.exports),
            }),
        }
    }
}

/// `baton:plugin/resolution@0.1.0` → (`resolution`, `0.1.0`).
fn split_baton_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("baton:plugin/")?;
    Some(rest.split_once('@').unwrap_or((rest, "unversioned")))
}

/// Semver compatibility as the component model sees it: for 0.x, the same minor version.
fn compatible(version: &str, served: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parts(version), parts(served)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b && a != 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(exports: &[&str]) -> ComponentInfo {
        ComponentInfo {
            imports: vec![],
            exports: exports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn worlds_are_recognised_by_their_exports() {
        let resolver = info(&[
            "baton:plugin/metadata@0.2.0",
            "baton:plugin/resolution@0.2.0",
        ]);
        assert_eq!(
            resolver.world(None).unwrap(),
            (World::Resolver, WitVersion::V0_2)
        );
        let err = resolver.world(Some(World::Stage)).unwrap_err().to_string();
        assert!(
            err.contains("stage-runner") && err.contains("resolver"),
            "{err}"
        );
    }

    #[test]
    fn every_served_version_is_recognised() {
        let old = info(&[
            "baton:plugin/metadata@0.1.0",
            "baton:plugin/agent-sessions@0.1.0",
        ]);
        assert_eq!(old.world(None).unwrap(), (World::Agent, WitVersion::V0_1));
        let patch = info(&[
            "baton:plugin/metadata@0.2.3",
            "baton:plugin/resolution@0.2.3",
        ]);
        assert_eq!(
            patch.world(None).unwrap(),
            (World::Resolver, WitVersion::V0_2)
        );
    }

    #[test]
    fn other_versions_are_named() {
        let future = info(&[
            "baton:plugin/metadata@0.3.0",
            "baton:plugin/resolution@0.3.0",
        ]);
        let err = future.world(None).unwrap_err().to_string();
        assert!(
            err.contains("baton:plugin@0.3.0")
                && err.contains("baton:plugin@0.2.0")
                && err.contains("baton:plugin@0.1.0"),
            "{err}"
        );
        let mixed = info(&[
            "baton:plugin/metadata@0.1.0",
            "baton:plugin/resolution@0.2.0",
        ]);
        let err = mixed.world(None).unwrap_err().to_string();
        assert!(err.contains("mixed"), "{err}");
    }

    #[test]
    fn non_plugins_are_refused() {
        let command = info(&["wasi:cli/run@0.2.6"]);
        let err = command.world(None).unwrap_err().to_string();
        assert!(
            err.contains("wasi:cli/run@0.2.6") && err.contains("baton:plugin/resolver"),
            "{err}"
        );
    }
}
