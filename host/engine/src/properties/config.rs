//! Properties of the configuration loader (`settings::Settings::load`: `baton.toml`, the
//! `BATON_*` layer, flags, then the typed structs): arbitrary bytes and arbitrary key-value
//! tables never panic; every unknown key of a settings section is reported with its line
//! (and no known key is); a generated valid configuration (scalar settings from the file, the
//! environment or flags, plugin entries, limits) resolves to exactly the typed values written.

use super::{cases, check, file_like};
use crate::limiter::LimitSpec;
use crate::settings::plugins::PluginEntry;
use crate::settings::{Overrides, SETTINGS, Settings, Source, StoreLocation};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

/// The sections of scalar settings.
const SECTIONS: &[&str] = &["store", "runtime", "defaults", "queue", "pipeline"];

/// Writes `text` as `baton.toml` in a fresh directory and loads the settings.
fn load(
    text: &[u8],
    env: &HashMap<&'static str, String>,
    overrides: &Overrides,
) -> (tempfile::TempDir, anyhow::Result<Settings>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("baton.toml"), text).expect("write baton.toml");
    let settings = Settings::load(dir.path(), None, overrides, &|name| env.get(name).cloned());
    (dir, settings)
}

/// A TOML string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML key as a basic string (the serializer may choose a multi-line string, which no
/// key can be).
fn quote_key(key: &str) -> String {
    let mut quoted = String::from("\"");
    for c in key.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A TOML value: scalars of every type, arrays and inline tables.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[^\u{0}]{0,12}".prop_map(|s| quote(&s)),
        any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
        proptest::sample::select(&["30s", "0s", "1ms", "64MiB", "lots", "true", "0", "-1", ""][..])
            .prop_map(quote),
        Just("[1, \"two\"]".to_string()),
        Just("{ x = 1 }".to_string()),
        Just("1979-05-27".to_string()),
    ]
}

/// A key of `section`: one of its settings, a near miss, or anything.
fn key(section: &'static str) -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = SETTINGS
        .iter()
        .filter_map(|s| s.key.strip_prefix(section)?.strip_prefix('.'))
        .collect();
    prop_oneof![
        3 => proptest::sample::select(known.clone()).prop_map(String::from),
        2 => (proptest::sample::select(known), any::<prop::sample::Index>(), "[a-z]")
            .prop_map(|(k, at, c)| {
                // A near miss: one character replaced.
                let mut chars: Vec<char> = k.chars().collect();
                let i = at.index(chars.len());
                chars[i] = c.chars().next().unwrap_or('x');
                chars.into_iter().collect()
            }),
        1 => "[a-z][a-z-]{0,10}",
        1 => "[^\u{0}\n]{0,6}",
    ]
}

/// `baton.toml` fragments for arbitrary input.
const TOKENS: &[&str] = &[
    "[store]\n",
    "[queue]\n",
    "[defaults]\n",
    "[plugins.a]\n",
    "[limits.\"host:x\"]\n",
    "[plugins.a.grants]\n",
    "workers = ",
    "db = ",
    "memory = ",
    "path = ",
    "kind = ",
    "8",
    "\"30s\"",
    "\"x\"",
    "true",
    "[",
    "]",
    "{",
    "}",
    "=",
    "\n",
    "lease = \"0s\"",
    "concurrency = 2",
    "http = [\"ftp://x\"]",
    "warm = 0",
];

/// Any bytes as `baton.toml`: no panic; text that is not UTF-8 is refused naming the
/// line of its first bad byte.
#[test]
fn arbitrary_bytes_never_panic() {
    check(
        cases(256),
        &prop_oneof![
            file_like(TOKENS, 40),
            proptest::collection::vec(any::<u8>(), 0..256),
        ],
        |bytes| {
            let (_dir, settings) = load(&bytes, &HashMap::new(), &Overrides::default());
            if let Err(e) = std::str::from_utf8(&bytes) {
                let line = bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                let error = settings.err().map(|e| e.to_string()).unwrap_or_default();
                prop_assert!(
                    error.ends_with(&format!(": line {line} is not UTF-8 text")),
                    "{error}"
                );
            }
            Ok(())
        },
    );
}

/// Unknown keys outside the settings sections: tables to append, the unknown key and its
/// line among them.
const STRAY: &[(&str, &str, usize)] = &[
    ("[extra]\nx = 1\n", "extra", 1),
    ("[plugins.a]\npath = \"a.wasm\"\npth = 1\n", "pth", 3),
    (
        "[plugins.a]\npath = \"a.wasm\"\n[plugins.a.grants]\nhtp = 1\n",
        "htp",
        4,
    ),
    ("[limits.\"host:x\"]\nconcurency = 1\n", "concurency", 2),
];

/// Arbitrary key-value tables in the settings sections: no panic; every unknown key is
/// reported with its line, and no known key is. An unknown key elsewhere (a section, a
/// plugin or limit field) is refused at its line.
#[test]
fn unknown_keys_are_reported_with_their_line() {
    check(
        cases(256),
        &(
            proptest::collection::vec(
                proptest::sample::select(SECTIONS).prop_flat_map(|section| {
                    (
                        Just(section),
                        proptest::collection::vec((key(section), toml_value()), 0..5),
                    )
                }),
                0..5,
            ),
            proptest::option::of(proptest::sample::select(STRAY)),
        ),
        |(tables, stray)| {
            let mut text = String::new();
            // Section → key → line (TOML refuses a key written twice, a section opened twice).
            let mut written: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
            for (section, pairs) in &tables {
                if written.contains_key(section) {
                    continue;
                }
                text.push_str(&format!("[{section}]\n"));
                let keys = written.entry(section).or_default();
                for (key, value) in pairs {
                    if keys.contains_key(key) {
                        continue;
                    }
                    keys.insert(key.clone(), text.matches('\n').count() + 1);
                    text.push_str(&format!("{} = {value}\n", quote_key(key)));
                }
            }
            if let Some((tables, unknown, at)) = stray {
                // Outside the settings sections the file's model refuses the first unknown key.
                let line = text.matches('\n').count() + at;
                text.push_str(tables);
                let (_dir, settings) =
                    load(text.as_bytes(), &HashMap::new(), &Overrides::default());
                let error = settings.err().map(|e| e.to_string()).unwrap_or_default();
                prop_assert!(
                    error.contains(&format!("at line {line}, ")),
                    "{error}\nfor\n{text}"
                );
                prop_assert!(
                    error.contains(&format!("unknown field `{unknown}`")),
                    "{error}\nfor\n{text}"
                );
                return Ok(());
            }
            let (_dir, settings) = load(text.as_bytes(), &HashMap::new(), &Overrides::default());
            let error = settings.err().map(|e| e.to_string()).unwrap_or_default();
            for (section, keys) in &written {
                for (key, line) in keys {
                    let known = SETTINGS.iter().any(|s| s.key == format!("{section}.{key}"));
                    let reported = format!("unknown key `{section}.{key}`");
                    if known {
                        prop_assert!(
                            !error.contains(&format!("{reported} ")),
                            "{error}\nfor\n{text}"
                        );
                    } else {
                        prop_assert!(
                            error.contains(&format!("line {line}: {reported} (")),
                            "`{section}.{key}` at line {line}: {error}\nfor\n{text}"
                        );
                    }
                }
            }
            Ok(())
        },
    );
}

/// What a setting must resolve to.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Size(u64),
    Duration(Duration),
    Count(u32),
    Flag(bool),
    List(Vec<String>),
    /// Relative to the project root.
    Path(String),
    /// A SQLite file, relative to the project root.
    Sqlite(String),
    Postgres(String),
    /// One of a setting's named values (`store.sync`).
    Word(String),
}

/// A valid value of setting `key`: how it is written in TOML, as a `BATON_*` variable,
/// and what it must resolve to.
fn valid(key: &'static str) -> BoxedStrategy<(String, String, Typed)> {
    /// A value written as a TOML string.
    fn string(text: String, typed: Typed) -> (String, String, Typed) {
        (quote(&text), text, typed)
    }
    let size = (
        0..5000u64,
        proptest::sample::select(
            &[
                ("", 1u64),
                ("B", 1),
                (" KiB", 1 << 10),
                ("k", 1 << 10),
                ("MB", 1 << 20),
                ("mib", 1 << 20),
                ("G", 1 << 30),
            ][..],
        ),
    )
        .prop_map(move |(n, (unit, times))| string(format!("{n}{unit}"), Typed::Size(n * times)));
    let duration = |min_ms: u64| {
        (
            1..5000u64,
            proptest::sample::select(
                &[("ms", 1u64), ("s", 1000), ("m", 60_000), ("h", 3_600_000)][..],
            ),
        )
            .prop_filter("long enough", move |(n, (_, ms))| n * ms >= min_ms)
            .prop_map(move |(n, (unit, ms))| {
                string(
                    format!("{n}{unit}"),
                    Typed::Duration(Duration::from_millis(n * ms)),
                )
            })
    };
    let count = |min: u32| {
        (min..100_000u32, any::<bool>()).prop_map(|(n, bare)| {
            let written = if bare {
                n.to_string()
            } else {
                quote(&n.to_string())
            };
            (written, n.to_string(), Typed::Count(n))
        })
    };
    let flag = (any::<bool>(), any::<bool>()).prop_map(|(b, bare)| {
        let written = if bare {
            b.to_string()
        } else {
            quote(&b.to_string())
        };
        (written, b.to_string(), Typed::Flag(b))
    });
    let list = |min: usize| {
        (
            proptest::collection::vec("[a-z][a-z0-9/-]{0,8}", min..4),
            proptest::sample::select(&[",", ", ", " ,"][..]),
        )
            .prop_map(move |(items, comma)| string(items.join(comma), Typed::List(items)))
    };
    match key {
        "store.db" => prop_oneof![
            "[a-z]{1,6}/[a-z]{1,6}\\.db".prop_map(move |p| string(p.clone(), Typed::Sqlite(p))),
            "postgres(ql)?://[a-z]{1,6}/[a-z]{1,6}"
                .prop_map(|url| string(url.clone(), Typed::Postgres(url))),
        ]
        .boxed(),
        "runtime.cache-dir" => "[a-z]{1,6}(/[a-z]{1,6})?"
            .prop_map(|p| string(p.clone(), Typed::Path(p)))
            .boxed(),
        "store.sync" => proptest::sample::select(&["full", "normal"][..])
            .prop_map(|w| string(w.to_string(), Typed::Word(w.to_string())))
            .boxed(),
        "runtime.max-instances" | "queue.max-attempts" => count(1).boxed(),
        "queue.workers" => count(1)
            .prop_filter("at most MAX_WORKERS", |(_, text, _)| {
                text.parse::<u32>()
                    .is_ok_and(|n| n <= crate::settings::MAX_WORKERS)
            })
            .boxed(),
        "queue.max-recoveries" | "queue.max-per-resolver" | "queue.max-per-host" => {
            count(0).boxed()
        }
        "defaults.memory"
        | "defaults.output-cap"
        | "defaults.http-response-cap"
        | "runtime.cache-max-size"
        | "runtime.log-cap"
        | "queue.max-size" => size.boxed(),
        "queue.lease"
        | "pipeline.auth-cooldown"
        | "agent.session-idle-timeout"
        | "agent.session-max-lifetime" => duration(1000).boxed(),
        "agent.session-warning" => duration(0).boxed(),
        "defaults.timeout"
        | "defaults.wall-timeout"
        | "defaults.exec-timeout"
        | "queue.backoff"
        | "queue.backoff-max"
        | "queue.connect-timeout"
        | "queue.read-timeout" => duration(0).boxed(),
        "queue.download" | "pipeline.allow-commands" => flag.boxed(),
        "queue.resolvers" => list(1).boxed(),
        "queue.accept" => list(0).boxed(),
        "queue.allow-downgrade" => flag.boxed(),
        "queue.allow-schemes" => proptest::sample::subsequence(vec!["https", "http"], 1..=2)
            .prop_map(|schemes| {
                let items: Vec<String> = schemes.into_iter().map(String::from).collect();
                string(items.join(","), Typed::List(items))
            })
            .boxed(),
        "queue.allow-hosts" => {
            proptest::collection::vec("\\*|(\\*\\.)?[a-z]{1,6}\\.(org|net)", 1..4)
                .prop_map(|items| string(items.join(", "), Typed::List(items)))
                .boxed()
        }
        "queue.allow-addresses" => proptest::sample::subsequence(
            vec![
                "127.0.0.0/8",
                "10.0.0.0/8",
                "192.168.1.0/24",
                "fd00::/8",
                "::1/128",
            ],
            0..=3,
        )
        .prop_map(|ranges| {
            let items: Vec<String> = ranges.into_iter().map(String::from).collect();
            string(items.join(","), Typed::List(items))
        })
        .boxed(),
        other => unreachable!("a setting without a generator: {other}"),
    }
}

/// What setting `key` resolved to.
fn resolved(settings: &Settings, key: &str) -> Typed {
    let relative = |path: &Path| {
        path.strip_prefix(&settings.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    };
    match key {
        "store.db" => match &settings.store.location {
            StoreLocation::Sqlite(path) => Typed::Sqlite(relative(path)),
            StoreLocation::Postgres(url) => Typed::Postgres(url.clone()),
        },
        "runtime.cache-dir" => Typed::Path(relative(&settings.runtime.cache_dir)),
        "store.sync" => Typed::Word(settings.store.durability.name().to_string()),
        "runtime.max-instances" => Typed::Count(settings.runtime.max_instances),
        "defaults.memory" => Typed::Size(settings.defaults.memory),
        "runtime.cache-max-size" => Typed::Size(settings.runtime.cache_max_size),
        "runtime.log-cap" => Typed::Size(settings.runtime.log_cap),
        "pipeline.auth-cooldown" => Typed::Duration(settings.pipeline.auth_cooldown),
        "agent.session-idle-timeout" => Typed::Duration(settings.sessions.idle_timeout),
        "agent.session-max-lifetime" => Typed::Duration(settings.sessions.max_lifetime),
        "agent.session-warning" => Typed::Duration(settings.sessions.warning_before),
        "defaults.timeout" => Typed::Duration(settings.defaults.timeout),
        "defaults.wall-timeout" => Typed::Duration(settings.defaults.wall_timeout),
        "defaults.output-cap" => Typed::Size(settings.defaults.output_cap),
        "defaults.http-response-cap" => Typed::Size(settings.defaults.http_response_cap),
        "defaults.exec-timeout" => Typed::Duration(settings.defaults.exec_timeout),
        "pipeline.allow-commands" => Typed::Flag(settings.pipeline.allow_commands),
        "queue.resolvers" => Typed::List(settings.queue.resolvers.clone()),
        "queue.workers" => Typed::Count(settings.queue.workers as u32),
        "queue.max-attempts" => Typed::Count(settings.queue.max_attempts),
        "queue.lease" => Typed::Duration(settings.queue.lease),
        "queue.max-recoveries" => Typed::Count(settings.queue.max_recoveries),
        "queue.max-per-resolver" => Typed::Count(settings.queue.max_per_resolver),
        "queue.max-per-host" => Typed::Count(settings.queue.max_per_host),
        "queue.backoff" => Typed::Duration(settings.queue.backoff),
        "queue.backoff-max" => Typed::Duration(settings.queue.backoff_max),
        "queue.download" => Typed::Flag(settings.queue.download),
        "queue.accept" => Typed::List(settings.download.accept.clone()),
        "queue.max-size" => Typed::Size(settings.download.max_size),
        "queue.connect-timeout" => Typed::Duration(settings.download.connect_timeout),
        "queue.read-timeout" => Typed::Duration(settings.download.read_timeout),
        "queue.allow-schemes" => Typed::List(settings.download.egress.parts().0),
        "queue.allow-hosts" => Typed::List(settings.download.egress.parts().1),
        "queue.allow-addresses" => Typed::List(settings.download.egress.parts().2),
        "queue.allow-downgrade" => Typed::Flag(settings.download.egress.parts().3),
        other => unreachable!("a setting without a typed field: {other}"),
    }
}

/// The typed default of every setting, written out here rather than parsed from
/// [`SETTINGS`].
fn default(key: &str) -> Typed {
    let secs = |s| Typed::Duration(Duration::from_secs(s));
    match key {
        "store.db" => Typed::Sqlite(".baton/baton.db".into()),
        "runtime.cache-dir" => Typed::Path(".baton/cache".into()),
        "runtime.cache-max-size" => Typed::Size(2 << 30),
        "runtime.log-cap" => Typed::Size(1 << 20),
        "pipeline.auth-cooldown" => secs(60),
        "agent.session-idle-timeout" => secs(300),
        "agent.session-max-lifetime" => secs(3600),
        "agent.session-warning" => secs(30),
        "store.sync" => Typed::Word("full".into()),
        "runtime.max-instances" => Typed::Count(1024),
        "defaults.memory" | "queue.max-size" => Typed::Size(256 << 20),
        "defaults.timeout" | "queue.lease" | "queue.read-timeout" => secs(30),
        "defaults.wall-timeout" => secs(120),
        "defaults.output-cap" => Typed::Size(1 << 20),
        "defaults.http-response-cap" => Typed::Size(64 << 20),
        "defaults.exec-timeout" => secs(60),
        "pipeline.allow-commands" => Typed::Flag(false),
        "queue.resolvers" => Typed::List(vec!["direct".into()]),
        "queue.workers" => Typed::Count(8),
        "queue.max-attempts" => Typed::Count(5),
        "queue.max-recoveries" => Typed::Count(3),
        "queue.max-per-resolver" => Typed::Count(0),
        "queue.max-per-host" => Typed::Count(2),
        "queue.backoff" => secs(2),
        "queue.backoff-max" => secs(600),
        "queue.download" => Typed::Flag(true),
        "queue.accept" => Typed::List(Vec::new()),
        "queue.connect-timeout" => secs(10),
        "queue.allow-schemes" => Typed::List(vec!["https".into(), "http".into()]),
        "queue.allow-hosts" => Typed::List(vec!["*".into()]),
        "queue.allow-addresses" => Typed::List(Vec::new()),
        "queue.allow-downgrade" => Typed::Flag(false),
        other => unreachable!("a setting without a default here: {other}"),
    }
}

/// Where a generated setting is given: nowhere, the file, the environment, or both (the file
/// wins).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layer {
    Default,
    File,
    Env,
    Both,
}

/// A generated `[plugins.NAME]` entry.
fn plugin_entry() -> impl Strategy<Value = PluginEntry> {
    let setting = prop_oneof![
        "[^\u{0}]{0,8}".prop_map(toml::Value::String),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<bool>().prop_map(toml::Value::Boolean),
    ];
    (
        "[a-z]{1,6}\\.wasm",
        proptest::option::of("[0-9a-f]{64}"),
        proptest::option::of(proptest::sample::select(
            &["resolver", "stage", "agent"][..],
        )),
        proptest::collection::btree_map("[a-z][a-z_-]{0,6}", setting, 0..3),
        proptest::option::of((1..512u32).prop_map(|n| format!("{n}MiB"))),
        proptest::option::of((1..120u32).prop_map(|n| format!("{n}s"))),
        proptest::option::of(1..10u32),
        proptest::collection::vec("NAME_[A-Z]{1,4}(=[a-z]{0,4})?", 0..2),
    )
        .prop_map(
            |(path, sha256, kind, settings, memory, timeout, warm, env)| {
                let mut entry = PluginEntry {
                    path,
                    sha256,
                    kind: kind.map(String::from),
                    settings,
                    memory,
                    timeout,
                    warm,
                    ..PluginEntry::default()
                };
                entry.grants.env = env;
                entry
            },
        )
}

/// A generated `[limits."KEY"]` entry.
fn limit() -> impl Strategy<Value = LimitSpec> {
    (
        proptest::option::of(1..100u32),
        proptest::option::of((1..10_000u32).prop_map(|n| f64::from(n) / 8.0)),
        proptest::option::of(1..1000u32),
        proptest::option::of(1..1_000_000u64),
    )
        .prop_map(|(concurrency, per_second, per_minute, per_day)| LimitSpec {
            concurrency,
            per_second,
            per_minute,
            per_day,
            ..LimitSpec::default()
        })
}

/// A valid generated configuration resolves to exactly the typed values written: flags
/// over the file over `BATON_*` over the defaults, each with its source; plugin entries
/// and limits as written.
#[test]
fn a_valid_config_round_trips_to_the_typed_values() {
    check(
        cases(128),
        &(
            SETTINGS
                .iter()
                .map(|s| {
                    (
                        proptest::sample::select(
                            &[Layer::Default, Layer::File, Layer::Env, Layer::Both][..],
                        ),
                        valid(s.key),
                        valid(s.key),
                    )
                })
                .collect::<Vec<_>>(),
            proptest::collection::btree_map("[a-z][a-z0-9-]{0,6}", plugin_entry(), 0..3),
            proptest::collection::btree_map("(host|resolver):[a-z.]{1,8}", limit(), 0..3),
            proptest::option::of("[a-z]{1,6}\\.db"),
        ),
        |(values, plugins, limits, db_flag)| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let root = dir.path();
            let mut sections: BTreeMap<&str, String> = BTreeMap::new();
            let mut env: HashMap<&'static str, String> = HashMap::new();
            let mut expected: Vec<(&'static str, Typed, Source)> = Vec::new();
            for (setting, (layer, file_value, env_value)) in SETTINGS.iter().zip(values) {
                let (section, name) = setting.key.split_once('.').expect("dotted keys");
                let in_file = matches!(layer, Layer::File | Layer::Both).then_some(file_value);
                let in_env = matches!(layer, Layer::Env | Layer::Both).then_some(env_value);
                if let Some((written, _, _)) = &in_file {
                    sections
                        .entry(section)
                        .or_default()
                        .push_str(&format!("{name} = {written}\n"));
                }
                if let Some((_, text, _)) = &in_env {
                    env.insert(setting.env, text.clone());
                }
                let (typed, source) = match (in_file, in_env) {
                    (Some((_, _, typed)), _) => (typed, Source::File),
                    (None, Some((_, _, typed))) => (typed, Source::Env),
                    (None, None) => (default(setting.key), Source::Default),
                };
                expected.push((setting.key, typed, source));
            }
            if let Some(db) = &db_flag {
                expected[0] = ("store.db", Typed::Sqlite(db.clone()), Source::Flag);
            }
            let mut text = String::new();
            for (section, body) in &sections {
                text.push_str(&format!("[{section}]\n{body}\n"));
            }
            // Backoff may not exceed its maximum, and every resolver of the chain must be a
            // plugin (configured here unless built with Baton).
            let written = |key: &str| {
                expected
                    .iter()
                    .find(|(k, _, _)| *k == key)
                    .map(|(_, typed, _)| typed.clone())
            };
            if let (Some(Typed::Duration(base)), Some(Typed::Duration(max))) =
                (written("queue.backoff"), written("queue.backoff-max"))
            {
                prop_assume!(base <= max);
            }
            let mut entries: BTreeMap<String, PluginEntry> = plugins;
            if let Some(Typed::List(chain)) = written("queue.resolvers") {
                for name in chain {
                    if baton_bundled::plugin(&name).is_none() {
                        entries.entry(name).or_insert_with(|| PluginEntry {
                            path: "resolver.wasm".into(),
                            ..PluginEntry::default()
                        });
                    }
                }
            }
            #[derive(serde::Serialize)]
            struct Tables<'a> {
                plugins: &'a BTreeMap<String, PluginEntry>,
                limits: &'a BTreeMap<String, LimitSpec>,
            }
            let tables = Tables {
                plugins: &entries,
                limits: &limits,
            };
            text.push_str(&toml::to_string(&tables).expect("plugin entries and limits serialize"));
            std::fs::write(root.join("baton.toml"), &text).expect("write baton.toml");
            let overrides = Overrides {
                db: db_flag.clone(),
                cache_dir: None,
            };
            let settings = Settings::load(root, None, &overrides, &|name| env.get(name).cloned());
            let settings = match settings {
                Ok(settings) => settings,
                Err(e) => {
                    return Err(TestCaseError::fail(format!(
                        "{e:#} for\n{text}\nwith {env:?}"
                    )));
                }
            };
            for (key, typed, source) in &expected {
                prop_assert_eq!(
                    &resolved(&settings, key),
                    typed,
                    "{} from\n{}\nwith {:?}",
                    key,
                    text,
                    env
                );
                prop_assert_eq!(settings.config.values[key].source, *source, "{}", key);
            }
            prop_assert_eq!(&settings.plugins, &entries);
            prop_assert_eq!(&settings.limits, &limits);
            let keys: BTreeSet<&str> = settings.config.values.keys().copied().collect();
            prop_assert_eq!(
                keys,
                SETTINGS.iter().map(|s| s.key).collect::<BTreeSet<_>>()
            );
            Ok(())
        },
    );
}
