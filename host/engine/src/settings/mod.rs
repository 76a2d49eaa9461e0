//! Baton's configuration: finds `baton.toml`, layers flags > file > `BATON_*` environment >
//! defaults for every scalar setting, and holds the plugin entries. Relative paths resolve
//! against the project root (the directory of `baton.toml`, or the current directory).

pub mod plugins;
pub mod toml_json;
mod typed;

pub use typed::{
    DownloadSettings, Overrides, PipelineSettings, PluginDefaults, QueueSettings, RuntimeSettings,
    Settings, StoreLocation, StoreSettings,
};

use anyhow::{Context, Result, anyhow};
use plugins::PluginEntry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name Baton looks for in the current directory and its parents.
pub const CONFIG_FILE: &str = "baton.toml";

/// A scalar setting: its dotted key, its `BATON_*` variable, its default and what it does.
pub struct Setting {
    /// The dotted key, e.g. `queue.workers`.
    pub key: &'static str,
    /// The `BATON_*` variable that sets it.
    pub env: &'static str,
    /// The default value.
    pub default: &'static str,
    /// What it does, for `config init` and `config show`.
    pub help: &'static str,
}

/// Every scalar setting Baton reads. Plugin entries live under `[plugins.NAME]`.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "store.db",
        env: "BATON_DB",
        default: ".baton/baton.db",
        help: "SQLite file (relative to the project root) or postgres:// URL",
    },
    Setting {
        key: "store.sync",
        env: "BATON_SYNC",
        default: "full",
        help: "full: a commit is on disk before it is acknowledged; normal: faster, a power loss may lose the last commits (a crash of Baton loses nothing either way)",
    },
    Setting {
        key: "runtime.cache-dir",
        env: "BATON_CACHE_DIR",
        default: ".baton/cache",
        help: "where compiled plugins are cached (relative to the project root)",
    },
    Setting {
        key: "runtime.cache-max-size",
        env: "BATON_CACHE_MAX_SIZE",
        default: "2GiB",
        help: "total size of the compile cache; the least recently used entries Baton wrote go first",
    },
    Setting {
        key: "runtime.log-cap",
        env: "BATON_LOG_CAP",
        default: "1MiB",
        help: "cap on one job's log (.baton/logs/) and one stage's log (.baton/runs/RUN/STAGE.log)",
    },
    Setting {
        key: "runtime.max-instances",
        env: "BATON_MAX_INSTANCES",
        default: "1024",
        help: "plugin instances alive at once (pooling allocator slots; each open agent session holds one)",
    },
    Setting {
        key: "defaults.memory",
        env: "BATON_MEMORY",
        default: "256MiB",
        help: "linear memory cap per plugin instance",
    },
    Setting {
        key: "defaults.timeout",
        env: "BATON_TIMEOUT",
        default: "30s",
        help: "CPU deadline per plugin call",
    },
    Setting {
        key: "defaults.wall-timeout",
        env: "BATON_WALL_TIMEOUT",
        default: "2m",
        help: "wall-clock bound per plugin call, host I/O included",
    },
    Setting {
        key: "defaults.output-cap",
        env: "BATON_OUTPUT_CAP",
        default: "1MiB",
        help: "cap on a call's stdout and on its stderr",
    },
    Setting {
        key: "defaults.http-response-cap",
        env: "BATON_HTTP_RESPONSE_CAP",
        default: "64MiB",
        help: "cap on one HTTP response body a plugin receives",
    },
    Setting {
        key: "defaults.exec-timeout",
        env: "BATON_EXEC_TIMEOUT",
        default: "60s",
        help: "upper bound on one program run through `exec`",
    },
    Setting {
        key: "agent.session-idle-timeout",
        env: "BATON_SESSION_IDLE_TIMEOUT",
        default: "5m",
        help: "an agent session unused this long expires and its instance is dropped",
    },
    Setting {
        key: "agent.session-max-lifetime",
        env: "BATON_SESSION_MAX_LIFETIME",
        default: "1h",
        help: "an agent session expires this long after it opened, used or not",
    },
    Setting {
        key: "agent.session-warning",
        env: "BATON_SESSION_WARNING",
        default: "30s",
        help: "how long before its idle timeout a session's warning event comes",
    },
    Setting {
        key: "pipeline.allow-commands",
        env: "BATON_ALLOW_COMMANDS",
        default: "false",
        help: "let pipeline stages run trusted native commands (`command = [...]`) outside the sandbox",
    },
    Setting {
        key: "pipeline.auth-cooldown",
        env: "BATON_AUTH_COOLDOWN",
        default: "60s",
        help: "how long an agent credential's breaker stays open after 3 failed authentications (doubles each time it reopens, at most 1h)",
    },
    Setting {
        key: "queue.resolvers",
        env: "BATON_RESOLVERS",
        default: "direct",
        help: "resolver chain for jobs that name none, comma-separated, in order",
    },
    Setting {
        key: "queue.workers",
        env: "BATON_WORKERS",
        default: "8",
        help: "concurrent jobs of `queue run`",
    },
    Setting {
        key: "queue.max-attempts",
        env: "BATON_MAX_ATTEMPTS",
        default: "5",
        help: "attempts before a job fails (snoozes do not count)",
    },
    Setting {
        key: "queue.lease",
        env: "BATON_LEASE",
        default: "30s",
        help: "how long a worker holds a job between heartbeats before it is recovered",
    },
    Setting {
        key: "queue.max-recoveries",
        env: "BATON_MAX_RECOVERIES",
        default: "3",
        help: "lost leases before a job fails as a poison pill",
    },
    Setting {
        key: "queue.max-per-resolver",
        env: "BATON_MAX_PER_RESOLVER",
        default: "0",
        help: "jobs running per resolver at once (0: no cap)",
    },
    Setting {
        key: "queue.max-per-host",
        env: "BATON_MAX_PER_HOST",
        default: "2",
        help: "downloads running per host at once (0: no cap)",
    },
    Setting {
        key: "queue.backoff",
        env: "BATON_BACKOFF",
        default: "2s",
        help: "first retry delay; doubles per attempt, with jitter",
    },
    Setting {
        key: "queue.backoff-max",
        env: "BATON_BACKOFF_MAX",
        default: "10m",
        help: "longest retry delay",
    },
    Setting {
        key: "queue.download",
        env: "BATON_DOWNLOAD",
        default: "true",
        help: "download the best candidate (false: a resolved job is done with its candidates)",
    },
    Setting {
        key: "queue.accept",
        env: "BATON_ACCEPT",
        default: "",
        help: "content types accepted when a candidate names none, comma-separated (empty: any)",
    },
    Setting {
        key: "queue.max-size",
        env: "BATON_MAX_SIZE",
        default: "256MiB",
        help: "largest download",
    },
    Setting {
        key: "queue.connect-timeout",
        env: "BATON_CONNECT_TIMEOUT",
        default: "10s",
        help: "connect timeout of a download",
    },
    Setting {
        key: "queue.read-timeout",
        env: "BATON_READ_TIMEOUT",
        default: "30s",
        help: "longest wait for the first and between bytes of a download",
    },
    Setting {
        key: "queue.allow-schemes",
        env: "BATON_ALLOW_SCHEMES",
        default: r#"["https", "http"]"#,
        help: "schemes a download (candidate or redirect hop) may use: https, http",
    },
    Setting {
        key: "queue.allow-hosts",
        env: "BATON_ALLOW_HOSTS",
        default: r#"["*"]"#,
        help: "host patterns a download may reach (globs, case-insensitive; `*` matches dots too)",
    },
    Setting {
        key: "queue.allow-addresses",
        env: "BATON_ALLOW_ADDRESSES",
        default: "[]",
        help: "address ranges (CIDR) a download may reach beyond public addresses, e.g. [\"10.0.0.0/8\"]; loopback, private, link-local and metadata addresses are refused otherwise",
    },
    Setting {
        key: "queue.allow-downgrade",
        env: "BATON_ALLOW_DOWNGRADE",
        default: "false",
        help: "follow a redirect from https to http",
    },
];

/// Where a setting's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Built in.
    Default,
    /// A `BATON_*` environment variable.
    Env,
    /// `baton.toml`.
    File,
    /// A command-line flag.
    Flag,
}

impl Source {
    /// The lowercase name shown by `config show`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Env => "env",
            Source::File => "file",
            Source::Flag => "flag",
        }
    }
}

/// A setting's effective value and its source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Value {
    /// The value as written.
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory Baton was started in; paths given on the command line are relative to it.
    pub cwd: PathBuf,
    /// Directory that holds `baton.toml` (or the current directory when there is none).
    pub root: PathBuf,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// Every setting's effective value and source, by key.
    pub values: BTreeMap<&'static str, Value>,
    /// `[plugins.NAME]` entries.
    pub plugins: BTreeMap<String, PluginEntry>,
    /// `[limits."host:x"]`, `[limits."resolver:y"]`.
    pub limits: BTreeMap<String, crate::limiter::LimitSpec>,
}

/// Finds `baton.toml` in `start` or its parents.
fn find_config_file(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|candidate| candidate.is_file())
}

/// A section of scalar settings, each key with where it is written (so an unknown one can
/// be named by its line).
type Section = BTreeMap<toml::Spanned<String>, toml::Value>;

/// The parts of `baton.toml` Baton understands; anything else is an error.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    #[serde(default)]
    store: Section,
    #[serde(default)]
    runtime: Section,
    #[serde(default)]
    defaults: Section,
    #[serde(default)]
    queue: Section,
    #[serde(default)]
    pipeline: Section,
    #[serde(default)]
    agent: Section,
    #[serde(default)]
    limits: BTreeMap<String, crate::limiter::LimitSpec>,
    #[serde(default)]
    plugins: BTreeMap<String, PluginEntry>,
}

impl Config {
    /// Loads the configuration. `explicit` is `--config FILE`; `flags` are settings given on
    /// the command line, by key; `env` is the process environment (passed in for tests).
    pub fn load(
        cwd: &Path,
        explicit: Option<&Path>,
        flags: &[(&'static str, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let file = match explicit {
            Some(path) => {
                let path = cwd.join(path);
                if !path.is_file() {
                    return Err(anyhow!(
                        "config file {} does not exist (create one with `baton config init`)",
                        path.display()
                    ));
                }
                Some(path)
            }
            None => find_config_file(cwd),
        };
        let root = match &file {
            Some(path) => path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.to_path_buf()),
            None => cwd.to_path_buf(),
        };
        let (model, text) = match &file {
            Some(path) => parse_file(path)?,
            None => (FileModel::default(), String::new()),
        };
        let line = |offset: usize| text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1;
        let model_keys: Vec<(&'static str, Vec<(String, usize)>)> = [
            ("store", &model.store),
            ("runtime", &model.runtime),
            ("defaults", &model.defaults),
            ("queue", &model.queue),
            ("pipeline", &model.pipeline),
            ("agent", &model.agent),
        ]
        .into_iter()
        .map(|(section, table)| {
            let keys = table
                .keys()
                .map(|key| (key.get_ref().clone(), line(key.span().start)))
                .collect();
            (section, keys)
        })
        .collect();
        let mut values = BTreeMap::new();
        for setting in SETTINGS {
            let value = if let Some((_, flag)) = flags.iter().find(|(k, _)| *k == setting.key) {
                Value {
                    value: flag.clone(),
                    source: Source::Flag,
                }
            } else if let Some(text) = file_value(&model, setting.key) {
                Value {
                    value: text,
                    source: Source::File,
                }
            } else if let Some(text) = env(setting.env) {
                Value {
                    value: text,
                    source: Source::Env,
                }
            } else {
                Value {
                    value: setting.default.to_string(),
                    source: Source::Default,
                }
            };
            values.insert(setting.key, value);
        }
        let config = Config {
            cwd: cwd.to_path_buf(),
            root,
            file,
            values,
            plugins: model.plugins,
            limits: model.limits,
        };
        let mut problems = unknown_keys(&model_keys);
        problems.extend(config.problems());
        if !problems.is_empty() {
            return Err(anyhow!(
                "invalid configuration{}:\n  - {}",
                config
                    .file
                    .as_ref()
                    .map(|f| format!(" in {}", f.display()))
                    .unwrap_or_default(),
                problems.join("\n  - ")
            ));
        }
        Ok(config)
    }

    /// Every problem with the effective values and plugin entries, all at once.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in &self.values {
            if let Err(e) = check_value(key, &value.value) {
                problems.push(format!("{key} (from {}): {e}", value.source.name()));
            }
        }
        for (key, spec) in &self.limits {
            let agent = crate::limiter::windowed(key);
            if !key.starts_with("host:") && !key.starts_with("resolver:") && !agent {
                problems.push(format!(
                    "limits.\"{key}\": keys are `host:NAME`, `resolver:NAME`, `agent:ADAPTER` or `agent:ADAPTER/MODEL`"
                ));
            }
            if !agent && (spec.window.is_some() || spec.tokens_per_minute.is_some()) {
                problems.push(format!(
                    "limits.\"{key}\": `window` and `tokens-per-minute` are for provider limits on `agent:` keys"
                ));
            }
            if let Some(window) = &spec.window
                && !baton_core::units::parse_duration(window).is_ok_and(|d| d.as_millis() > 0)
            {
                problems.push(format!(
                    "limits.\"{key}\".window: `{window}` is not a duration above 0 (e.g. `1m`, `10s`)"
                ));
            }
            if let Some(zone) = &spec.time_zone
                && jiff::tz::TimeZone::get(zone).is_err()
            {
                problems.push(format!(
                    "limits.\"{key}\".time-zone: `{zone}` is not an IANA time zone (e.g. `UTC`, `America/Los_Angeles`)"
                ));
            }
            if spec.concurrency == Some(0) {
                problems.push(format!(
                    "limits.\"{key}\".concurrency: 0 would never let a job through (leave it out for no cap)"
                ));
            }
            if spec.per_second.is_some_and(|r| !r.is_finite() || r <= 0.0) {
                problems.push(format!(
                    "limits.\"{key}\".per-second: must be a number above 0 (leave it out for no limit)"
                ));
            }
            if spec.per_minute == Some(0)
                || spec.per_day == Some(0)
                || spec.tokens_per_minute == Some(0)
            {
                problems.push(format!(
                    "limits.\"{key}\": a rate or quota of 0 would never let a job through (leave it out for no limit)"
                ));
            }
        }
        let duration = |key: &str| baton_core::units::parse_duration(self.text(key)).ok();
        if let (Some(base), Some(max)) = (duration("queue.backoff"), duration("queue.backoff-max"))
            && base > max
        {
            problems.push(format!(
                "queue.backoff ({}) is longer than queue.backoff-max ({}): retries could never wait the backoff",
                self.text("queue.backoff"),
                self.text("queue.backoff-max")
            ));
        }
        if let Some(db) = self.values.get("store.db")
            && !db.value.contains("://")
            && self.root.join(&db.value).is_dir()
        {
            problems.push(format!(
                "store.db: {} is a directory, not a SQLite file; point it at a file",
                self.root.join(&db.value).display()
            ));
        }
        for name in parse_list(self.text("queue.resolvers")).unwrap_or_default() {
            if !self.plugins.contains_key(&name) && baton_bundled::plugin(&name).is_none() {
                problems.push(format!(
                    "queue.resolvers: `{name}` is neither configured ([plugins.{name}]) nor built with Baton"
                ));
            }
        }
        for (name, entry) in &self.plugins {
            problems.extend(
                plugin_problems(entry, &self.root)
                    .into_iter()
                    .map(|p| format!("plugins.{name}: {p}")),
            );
        }
        problems
    }

    /// The effective value of a setting, by key (for `config get`).
    #[cfg(test)]
    fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    fn text(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map(|v| v.value.as_str())
            .unwrap_or_default()
    }

    /// A path setting resolved against the project root.
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(self.text(key))
    }

    /// A size setting (validated at load).
    fn size(&self, key: &str) -> u64 {
        baton_core::units::parse_size(self.text(key)).unwrap_or(0)
    }

    /// A duration setting (validated at load).
    fn duration(&self, key: &str) -> Duration {
        baton_core::units::parse_duration(self.text(key)).unwrap_or_default()
    }

    /// A list setting (validated at load; see [`parse_list`]).
    fn list(&self, key: &str) -> Vec<String> {
        parse_list(self.text(key)).unwrap_or_default()
    }

    /// A boolean setting (validated at load).
    fn flag(&self, key: &str) -> bool {
        self.text(key) == "true"
    }

    /// A count setting (validated at load).
    fn count(&self, key: &str) -> u32 {
        self.text(key).parse().unwrap_or(0)
    }

    /// The value of a dotted key for `baton config get`: a setting or a plugin field.
    pub fn lookup(&self, key: &str) -> Option<String> {
        if let Some(value) = self.values.get(key) {
            return Some(value.value.clone());
        }
        let rest = key.strip_prefix("plugins.")?;
        let (name, field) = rest.split_once('.').unwrap_or((rest, ""));
        let entry = self.plugins.get(name)?;
        let mut value = toml::Value::try_from(entry).ok()?;
        for part in field.split('.').filter(|p| !p.is_empty()) {
            value = value.get(part)?.clone();
        }
        Some(match value {
            toml::Value::String(s) => s,
            other => toml::to_string(&other)
                .unwrap_or_else(|_| other.to_string())
                .trim()
                .to_string(),
        })
    }
}

/// The file's model and its text (for the lines of its keys).
fn parse_file(path: &Path) -> Result<(FileModel, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        anyhow!("{}: line {line} is not UTF-8 text", path.display())
    })?;
    let model = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: {}", path.display(), e.to_string().trim()))?;
    Ok((model, text))
}

fn file_value(model: &FileModel, key: &str) -> Option<String> {
    let (section, name) = key.split_once('.')?;
    let table = match section {
        "store" => &model.store,
        "runtime" => &model.runtime,
        "defaults" => &model.defaults,
        "queue" => &model.queue,
        "pipeline" => &model.pipeline,
        "agent" => &model.agent,
        _ => return None,
    };
    table.get(name).map(|value| match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Keys of the known sections that are not settings, each with its line and the closest
/// setting of its section (a mistyped `[queue] wrokers` must not be silently ignored).
fn unknown_keys(sections: &[(&'static str, Vec<(String, usize)>)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (section, keys) in sections {
        let known: Vec<&str> = SETTINGS
            .iter()
            .filter_map(|s| s.key.strip_prefix(section)?.strip_prefix('.'))
            .collect();
        for (key, line) in keys.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
            let closest = known
                .iter()
                .min_by_key(|candidate| edit_distance(key, candidate))
                .filter(|candidate| edit_distance(key, candidate) <= key.len().max(3) / 2);
            problems.push(match closest {
                Some(candidate) => format!(
                    "line {line}: unknown key `{section}.{key}` (did you mean `{section}.{candidate}`?)"
                ),
                None => format!(
                    "line {line}: unknown key `{section}.{key}` (known: {})",
                    known.join(", ")
                ),
            });
        }
    }
    problems
}

/// Levenshtein distance between two short keys (insertions, deletions, substitutions).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// A list setting's items: a TOML array of strings (`["a", "b"]`, as `baton.toml` writes
/// it and as `BATON_*` may give it) or one comma-separated string (`a, b`). Blank items are
/// dropped.
fn parse_list(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    let items: Vec<String> = if text.starts_with('[') {
        #[derive(serde::Deserialize)]
        struct List {
            v: Vec<String>,
        }
        toml::from_str::<List>(&format!("v = {text}"))
            .map_err(|_| format!("`{text}` is not a list of strings"))?
            .v
    } else {
        text.split(',').map(String::from).collect()
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect())
}

/// Problems with the download policy's lists, each naming the bad item.
fn check_egress(key: &str, text: &str) -> Result<(), String> {
    let items = parse_list(text)?;
    let first_error = |check: &dyn Fn(&str) -> Result<(), String>| {
        items.iter().map(|item| check(item)).find_map(Result::err)
    };
    let problem = match key {
        "queue.allow-schemes" if items.is_empty() => Some(format!(
            "must name at least one of {} (turn downloads off with queue.download = false)",
            crate::fetch::policy::SCHEMES.join(", ")
        )),
        "queue.allow-schemes" => first_error(&|item| {
            crate::fetch::policy::SCHEMES
                .contains(&item.to_ascii_lowercase().as_str())
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "`{item}` is not a scheme Baton downloads ({})",
                        crate::fetch::policy::SCHEMES.join(", ")
                    )
                })
        }),
        "queue.allow-hosts" if items.is_empty() => {
            Some("must name at least one pattern (`[\"*\"]`: any host)".into())
        }
        "queue.allow-hosts" => {
            first_error(&|item| crate::fetch::policy::host_glob(item).map(|_| ()))
        }
        _ => first_error(&|item| crate::fetch::policy::parse_range(item).map(|_| ())),
    };
    problem.map_or(Ok(()), Err)
}

/// The most workers one process runs (`queue.workers`, `--workers`, `--jobs`).
pub const MAX_WORKERS: u32 = 4096;

fn check_value(key: &str, text: &str) -> Result<(), String> {
    match key {
        "queue.allow-schemes" | "queue.allow-hosts" | "queue.allow-addresses" => {
            check_egress(key, text)
        }
        "queue.resolvers" => match parse_list(text) {
            Ok(chain) if chain.is_empty() => Err("must not be empty".into()),
            other => other.map(|_| ()),
        },
        "queue.accept" => parse_list(text).map(|_| ()),
        "queue.workers" => match text.parse::<u32>() {
            Ok(n) if n > 0 && n <= MAX_WORKERS => Ok(()),
            Ok(n) if n > 0 => Err(format!(
                "{n} workers is more than the {MAX_WORKERS} one process runs (each holds a task and its memory; run more processes instead)"
            )),
            _ => Err(format!("`{text}` is not a positive whole number")),
        },
        "queue.max-attempts" => match text.parse::<u32>() {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(format!("`{text}` is not a positive whole number")),
        },
        "queue.max-recoveries" | "queue.max-per-resolver" | "queue.max-per-host" => text
            .parse::<u32>()
            .map(|_| ())
            .map_err(|_| format!("`{text}` is not a whole number")),
        "queue.download" | "queue.allow-downgrade" | "pipeline.allow-commands" => text
            .parse::<bool>()
            .map(|_| ())
            .map_err(|_| format!("`{text}` is not true or false")),
        "queue.max-size" => baton_core::units::parse_size(text).map(|_| ()),
        "queue.lease" => match baton_core::units::parse_duration(text) {
            Ok(lease) if lease >= Duration::from_secs(1) => Ok(()),
            Ok(_) => Err(format!(
                "a lease of `{text}` would expire before a worker can renew it; use at least 1s (default 30s)"
            )),
            Err(e) => Err(e),
        },
        "pipeline.auth-cooldown" => match baton_core::units::parse_duration(text) {
            Ok(d) if d >= Duration::from_millis(100) => Ok(()),
            Ok(_) => Err(format!(
                "`{text}` is shorter than 100ms; a breaker that never stays open protects nothing"
            )),
            Err(e) => Err(e),
        },
        "queue.backoff" | "queue.backoff-max" | "queue.connect-timeout" | "queue.read-timeout" => {
            baton_core::units::parse_duration(text).map(|_| ())
        }
        "store.sync" => baton_core::store::Durability::parse(text).map(|_| ()),
        "runtime.max-instances" => match text.parse::<u32>() {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(format!("`{text}` is not a positive whole number")),
        },
        "defaults.memory"
        | "defaults.output-cap"
        | "defaults.http-response-cap"
        | "runtime.cache-max-size"
        | "runtime.log-cap" => baton_core::units::parse_size(text).map(|_| ()),
        "defaults.timeout" | "defaults.wall-timeout" | "defaults.exec-timeout" => {
            baton_core::units::parse_duration(text).map(|_| ())
        }
        "agent.session-idle-timeout" | "agent.session-max-lifetime" => {
            match baton_core::units::parse_duration(text) {
                Ok(timeout) if !timeout.is_zero() => Ok(()),
                Ok(_) => Err(format!(
                    "`{text}` would end every session at once; use at least 1s"
                )),
                Err(e) => Err(e),
            }
        }
        "agent.session-warning" => baton_core::units::parse_duration(text).map(|_| ()),
        _ if text.trim().is_empty() => Err("must not be empty".into()),
        _ => Ok(()),
    }
}

fn plugin_problems(entry: &PluginEntry, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if entry.path.trim().is_empty() {
        problems.push("`path` is required".into());
    }
    if let Some(pin) = &entry.sha256
        && (pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        problems.push(format!("`sha256` must be 64 hex digits, got `{pin}`"));
    }
    if let Some(kind) = &entry.kind
        && baton_runtime::inspect::World::parse(kind).is_none()
    {
        problems.push(format!(
            "`kind` must be resolver, stage or agent, got `{kind}`"
        ));
    }
    for (field, value) in [("memory", &entry.memory), ("output-cap", &entry.output_cap)] {
        if let Some(Err(e)) = value.as_deref().map(baton_core::units::parse_size) {
            problems.push(format!("`{field}`: {e}"));
        }
    }
    for (field, value) in [
        ("timeout", &entry.timeout),
        ("wall-timeout", &entry.wall_timeout),
    ] {
        if let Some(Err(e)) = value.as_deref().map(baton_core::units::parse_duration) {
            problems.push(format!("`{field}`: {e}"));
        }
    }
    if entry.warm == Some(0) {
        problems.push("`warm` must be at least 1 (omit it for a fresh instance per call)".into());
    }
    for pattern in &entry.grants.http {
        if let Err(e) = baton_runtime::policy::HostPattern::parse(pattern) {
            problems.push(format!("grants.http: {e}"));
        }
    }
    for file in &entry.grants.files {
        if !file.guest.starts_with('/') {
            problems.push(format!(
                "grants.files: guest path `{}` must be absolute",
                file.guest
            ));
        }
        if !root.join(&file.host).is_dir() {
            problems.push(format!(
                "grants.files: host directory `{}` does not exist",
                file.host
            ));
        }
    }
    for exec in &entry.grants.exec {
        if let Some(Err(e)) = exec
            .timeout
            .as_deref()
            .map(baton_core::units::parse_duration)
        {
            problems.push(format!("grants.exec `{}`: timeout: {e}", exec.program));
        }
    }
    for env in &entry.grants.env {
        let name = env.split_once('=').map(|(n, _)| n).unwrap_or(env);
        if name.is_empty() || name.contains(char::is_whitespace) {
            problems.push(format!("grants.env: `{env}` is not NAME or NAME=value"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_beat_file_beat_env_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[defaults]\nmemory = \"32MiB\"\ntimeout = \"5s\"\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "BATON_MEMORY" => Some("16MiB".to_string()),
            "BATON_TIMEOUT" => Some("9s".to_string()),
            "BATON_WALL_TIMEOUT" => Some("7s".to_string()),
            _ => None,
        };
        let flags = [("defaults.timeout", "1s".to_string())];
        let config = Config::load(dir.path(), None, &flags, &env).unwrap();
        assert_eq!(config.duration("defaults.timeout"), Duration::from_secs(1));
        assert_eq!(config.get("defaults.timeout").unwrap().source, Source::Flag);
        assert_eq!(config.size("defaults.memory"), 32 << 20);
        assert_eq!(config.get("defaults.memory").unwrap().source, Source::File);
        assert_eq!(
            config.duration("defaults.wall-timeout"),
            Duration::from_secs(7)
        );
        assert_eq!(
            config.get("defaults.wall-timeout").unwrap().source,
            Source::Env
        );
        assert_eq!(config.get("store.db").unwrap().source, Source::Default);
    }

    #[test]
    fn mistyped_keys_and_a_zero_lease_are_refused_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[queue]\nwrokers = 4\nlease = \"0s\"\n[runtime]\nzzz = 1\n",
        )
        .unwrap();
        let error = Config::load(dir.path(), None, &[], &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2: unknown key `queue.wrokers` (did you mean `queue.workers`?)"),
            "{error}"
        );
        assert!(
            error.contains("line 5: unknown key `runtime.zzz` (known: "),
            "{error}"
        );
        assert!(error.contains("queue.lease (from file)"), "{error}");
        assert!(error.contains("at least 1s"), "{error}");
    }

    /// A file that is not UTF-8 is refused naming the line (it was refused without one).
    #[test]
    fn text_that_is_not_utf8_is_refused_naming_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            b"[queue]\nworkers = \"\xff\"\n",
        )
        .unwrap();
        let error = Config::load(dir.path(), None, &[], &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("baton.toml: line 2 is not UTF-8 text"),
            "{error}"
        );
    }

    #[test]
    fn list_settings_take_a_toml_array_or_a_comma_separated_string() {
        assert_eq!(parse_list(r#"["a", " b ", ""]"#).unwrap(), ["a", "b"]);
        assert_eq!(parse_list("a, b,,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(parse_list("[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_list("").unwrap(), Vec::<String>::new());
        assert!(parse_list("[1, 2]").is_err());
        assert!(parse_list("[\"a\"").is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[queue]\naccept = [\"application/pdf\", \"application/epub+zip\"]\nallow-addresses = [\"10.0.0.0/8\", \"::1\"]\nallow-hosts = \"*.org, *.net\"\n",
        )
        .unwrap();
        let settings = Settings::load(dir.path(), None, &Overrides::default(), &no_env).unwrap();
        assert_eq!(
            settings.download.accept,
            ["application/pdf", "application/epub+zip"]
        );
        let egress = &settings.download.egress;
        assert!(egress.check_address("10.1.2.3".parse().unwrap()).is_ok());
        assert!(egress.check_address("::1".parse().unwrap()).is_ok());
        assert!(egress.check_address("127.0.0.1".parse().unwrap()).is_err());
        let url = |text: &str| url::Url::parse(text).unwrap();
        assert!(egress.check_url(&url("https://a.org/x")).is_ok());
        assert!(egress.check_url(&url("http://a.net/x")).is_ok());
        assert!(egress.check_url(&url("http://a.com/x")).is_err());
    }

    #[test]
    fn bad_egress_values_are_refused_naming_the_key_and_the_item() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[queue]\nallow-schemes = [\"gopher\"]\nallow-hosts = [\"{a\"]\nallow-addresses = [\"10.0.0.0/8\", \"10.0.0.1/99\"]\nallow-downgrade = 1\n",
        )
        .unwrap();
        let error = Config::load(dir.path(), None, &[], &no_env)
            .unwrap_err()
            .to_string();
        for needle in [
            "queue.allow-schemes (from file): `gopher` is not a scheme Baton downloads (https, http)",
            "queue.allow-hosts (from file): `{a` is not a host pattern",
            "queue.allow-addresses (from file): `10.0.0.1/99` is not an address range",
            "queue.allow-downgrade (from file): `1` is not true or false",
        ] {
            assert!(error.contains(needle), "missing `{needle}` in:\n{error}");
        }
        let env = |name: &str| (name == "BATON_ALLOW_SCHEMES").then(String::new);
        let empty = tempfile::tempdir().unwrap();
        let error = Config::load(empty.path(), None, &[], &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("queue.allow-schemes (from env): must name at least one of https, http"),
            "{error}"
        );
    }

    #[test]
    fn config_is_found_in_a_parent_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "").unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let config = Config::load(&nested, None, &[], &no_env).unwrap();
        assert_eq!(config.root, dir.path());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            r#"
[defaults]
memory = "lots"
[plugins.a]
path = "a.wasm"
sha256 = "abc"
kind = "printer"
[plugins.a.grants]
http = ["ftp://x"]
"#,
        )
        .unwrap();
        let error = Config::load(dir.path(), None, &[], &no_env)
            .unwrap_err()
            .to_string();
        for needle in [
            "defaults.memory (from file)",
            "`sha256` must be 64 hex digits",
            "`kind` must be resolver",
            "grants.http",
        ] {
            assert!(error.contains(needle), "missing `{needle}` in:\n{error}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "\n[plugins.a]\npth = \"x\"\n").unwrap();
        let error = Config::load(dir.path(), None, &[], &no_env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("pth"), "{error}");
        assert!(error.contains("line 3"), "{error}");
    }

    #[test]
    fn lookup_reads_settings_and_plugin_fields() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[plugins.u]\npath = \"u.wasm\"\n[plugins.u.grants]\nhttp = [\"http://127.0.0.1:*\"]\n",
        )
        .unwrap();
        let config = Config::load(dir.path(), None, &[], &no_env).unwrap();
        assert_eq!(config.lookup("plugins.u.path").unwrap(), "u.wasm");
        assert!(
            config
                .lookup("plugins.u.grants.http")
                .unwrap()
                .contains("127.0.0.1")
        );
        assert_eq!(config.lookup("defaults.memory").unwrap(), "256MiB");
        assert!(config.lookup("nope").is_none());
    }
}
