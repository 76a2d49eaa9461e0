//! The publish stage's configuration, read once into a [`Config`] before any file is read or
//! sent. Every key is looked up in the stage's params (the pipeline's) first and in the
//! plugin's settings (the operator's `baton.toml`) second, and an error names the one it
//! came from (`params.method must be "PUT" or "POST", found "GET"`). The bearer token is the
//! granted environment variable [`TOKEN_VARIABLE`], never a setting.
//!
//! This module does not send anything, and does not look at the inputs (see `files`).
use std::collections::BTreeMap;
use std::time::Duration;

use baton_sdk::fatal;
use baton_sdk::http::Method;
use baton_sdk::json::Object;
use baton_sdk::params;
use baton_sdk::types::Failure;
use serde_json::Value;
use url::Url;

/// The environment variable holding the bearer token; the plugin asks for it in `describe`,
/// so the operator grants it (`env = ["PUBLISH_TOKEN"]`). Unset or empty: no
/// `Authorization` header.
pub const TOKEN_VARIABLE: &str = "PUBLISH_TOKEN";

/// Tries per file when none are configured (`attempts`).
pub const DEFAULT_ATTEMPTS: u64 = 4;
/// The longest wait before a retry the plugin sits out itself, in seconds (`max-wait`).
pub const DEFAULT_MAX_WAIT_SECONDS: u64 = 10;
/// The connect, first-byte and between-bytes timeout of one request, in seconds
/// (`timeout`).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// The receipt's file name in the output directory (`output`).
pub const DEFAULT_OUTPUT: &str = "receipt.json";

/// Everything a publish run needs to know, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The base URL; its path ends with `/`, and it has no query, fragment or credentials.
    pub base: Url,
    /// `PUT` (the default) or `POST`.
    pub method: Verb,
    /// Tries per file (at least 1): the first, then retries after 429, 5xx or a transient
    /// transport error.
    pub attempts: u32,
    /// The longest wait the plugin sits out before a retry; a longer `Retry-After` ends the
    /// call with a `retry` failure carrying the wait, for the host to decide.
    pub max_wait: Duration,
    /// The timeout of each request (connect, first byte, between bytes).
    pub timeout: Duration,
    /// Project directories the published paths are relative to (`root`); empty: the
    /// inputs' longest common directory. `""` stands for the project root.
    pub roots: Vec<String>,
    /// The receipt's path in the output directory.
    pub output: String,
    /// Content types by lowercase file extension (without the dot), over the built-in
    /// table.
    pub content_types: BTreeMap<String, String>,
    /// The bearer token, when [`TOKEN_VARIABLE`] is set and not blank.
    pub token: Option<String>,
}

/// The request method a deploy endpoint takes files with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `PUT` the file at its URL (the default).
    Put,
    /// `POST` the file to its URL.
    Post,
}

impl Verb {
    /// The method's name, e.g. `PUT`.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Put => "PUT",
            Verb::Post => "POST",
        }
    }

    /// The wasi:http method.
    pub fn method(self) -> Method {
        match self {
            Verb::Put => Method::Put,
            Verb::Post => Method::Post,
        }
    }
}

/// Where each key is looked up: the params, then the settings.
struct Sources {
    params: Object,
    settings: Object,
}

impl Sources {
    /// The object that has `key` (params first), or the params when neither has it.
    fn pick(&self, key: &str) -> &Object {
        if self.params.get(key).is_none() && self.settings.get(key).is_some() {
            &self.settings
        } else {
            &self.params
        }
    }
}

impl Config {
    /// Reads the stage's `params` and the plugin's `settings` (JSON object texts) and the
    /// token variable; fatal on the first key that is missing or wrong, naming it.
    pub fn read(params: &str, settings: &str) -> Result<Config, Failure> {
        let token = std::env::var(TOKEN_VARIABLE)
            .ok()
            .map(|token| token.trim().to_string())
            .filter(|token| !token.is_empty());
        Self::from_sources(
            Sources {
                params: Object::parse("params", params)?,
                settings: Object::parse("settings", settings)?,
            },
            token,
        )
    }

    fn from_sources(sources: Sources, token: Option<String>) -> Result<Config, Failure> {
        let base = base_url(&sources)?;
        let method = match sources.pick("method").str("method")? {
            None => Verb::Put,
            Some(name) if name.eq_ignore_ascii_case("PUT") => Verb::Put,
            Some(name) if name.eq_ignore_ascii_case("POST") => Verb::Post,
            Some(other) => {
                return Err(fatal(format!(
                    "{} must be \"PUT\" or \"POST\", found {other:?}",
                    sources.pick("method").field("method")
                )))
            }
        };
        let attempts = positive(&sources, "attempts", DEFAULT_ATTEMPTS)?;
        let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
        let max_wait = Duration::from_secs(
            sources
                .pick("max-wait")
                .u64("max-wait")?
                .unwrap_or(DEFAULT_MAX_WAIT_SECONDS),
        );
        let timeout = Duration::from_secs(positive(&sources, "timeout", DEFAULT_TIMEOUT_SECONDS)?);
        let output =
            params::output(sources.pick("output"), "output")?.unwrap_or(DEFAULT_OUTPUT.into());
        Ok(Config {
            base,
            method,
            attempts,
            max_wait,
            timeout,
            roots: roots(sources.pick("root"))?,
            output,
            content_types: content_types(sources.pick("content-types"))?,
            token,
        })
    }
}

/// `url`: an absolute http(s) URL with a host and no query, fragment or credentials; its
/// path gets a trailing `/`, so every file's path is appended to it.
fn base_url(sources: &Sources) -> Result<Url, Failure> {
    let object = sources.pick("url");
    let field = object.field("url");
    let Some(text) = object.non_blank_str("url")? else {
        return Err(fatal(format!(
            "{field} is missing: the base URL to publish to, e.g. \"https://deploy.example.org/site/\" (in the stage's params or the plugin's settings)"
        )));
    };
    let bad = |why: &str| fatal(format!("{field} {text:?} {why}"));
    let mut base = Url::parse(text).map_err(|error| bad(&format!("is not a URL: {error}")))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if base.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(bad(&format!(
            "must not carry credentials: grant the variable {TOKEN_VARIABLE} for a bearer token instead"
        )));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(bad("must not have a query or a fragment"));
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

/// A positive integer `key`, else `default`.
fn positive(sources: &Sources, key: &str, default: u64) -> Result<u64, Failure> {
    let object = sources.pick(key);
    match object.u64(key)? {
        None => Ok(default),
        Some(0) => Err(fatal(format!("{} must be at least 1", object.field(key)))),
        Some(value) => Ok(value),
    }
}

/// `root`: one project directory or a list of them, each relative and inside the project
/// (`.` or `""` for the project root), without trailing `/`.
fn roots(object: &Object) -> Result<Vec<String>, Failure> {
    let names = match object.get("root") {
        None => return Ok(Vec::new()),
        Some(Value::String(one)) => vec![one.clone()],
        Some(_) => object.strings("root")?.unwrap_or_default(),
    };
    names
        .iter()
        .map(|name| {
            let trimmed = name.trim().trim_end_matches('/');
            if trimmed.is_empty() || trimmed == "." {
                return Ok(String::new());
            }
            params::relative_path(trimmed).ok_or_else(|| {
                fatal(format!(
                    "{} must name directories inside the project, found {name:?}",
                    object.field("root")
                ))
            })
        })
        .collect()
}

/// `content-types`: `{"md": "text/markdown; charset=utf-8", ...}`, keys without the dot.
fn content_types(object: &Object) -> Result<BTreeMap<String, String>, Failure> {
    let field = object.field("content-types");
    match object.get("content-types") {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(extension, value)| match value {
                Value::String(kind) if !kind.trim().is_empty() => Ok((
                    extension.trim_start_matches('.').to_ascii_lowercase(),
                    kind.trim().to_string(),
                )),
                _ => Err(fatal(format!(
                    "{field}.{extension} must be a content type such as \"text/html\""
                ))),
            })
            .collect(),
        Some(_) => Err(fatal(format!(
            "{field} must be an object of file extension to content type, e.g. {{\"md\" = \"text/markdown\"}}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(params: &str, settings: &str) -> Result<Config, Failure> {
        Config::from_sources(
            Sources {
                params: Object::parse("params", params).unwrap(),
                settings: Object::parse("settings", settings).unwrap(),
            },
            None,
        )
    }

    #[test]
    fn settings_give_defaults_and_params_win() {
        let config = read("{}", r#"{"url": "http://127.0.0.1:8080/site"}"#).unwrap();
        assert_eq!(config.base.as_str(), "http://127.0.0.1:8080/site/");
        assert_eq!(config.method, Verb::Put);
        assert_eq!(config.attempts, 4);
        assert_eq!(config.max_wait, Duration::from_secs(10));
        assert_eq!(config.output, "receipt.json");
        assert!(config.roots.is_empty());

        let config = read(
            r#"{"url": "https://b.example/x/", "method": "post", "root": ["out/site/", "."], "output": "r/receipt.json"}"#,
            r#"{"url": "https://a.example/", "attempts": 2}"#,
        )
        .unwrap();
        assert_eq!(config.base.as_str(), "https://b.example/x/");
        assert_eq!(config.method, Verb::Post);
        assert_eq!(config.attempts, 2);
        assert_eq!(config.roots, vec!["out/site".to_string(), String::new()]);
        assert_eq!(config.output, "r/receipt.json");
    }

    #[test]
    fn errors_name_the_key_and_where_it_came_from() {
        let message = |params: &str, settings: &str| match read(params, settings) {
            Err(Failure::Fatal(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(message("{}", "{}").starts_with("params.url is missing"));
        assert_eq!(
            message(r#"{"url": "ftp://h/"}"#, "{}"),
            "params.url \"ftp://h/\" must be an http or https URL"
        );
        assert_eq!(
            message("{}", r#"{"url": "http://h/?a=1"}"#),
            "settings.url \"http://h/?a=1\" must not have a query or a fragment"
        );
        assert!(message("{}", r#"{"url": "http://u:p@h/"}"#).contains("PUBLISH_TOKEN"));
        assert_eq!(
            message(r#"{"url": "http://h/", "method": "GET"}"#, "{}"),
            "params.method must be \"PUT\" or \"POST\", found \"GET\""
        );
        assert_eq!(
            message(r#"{"url": "http://h/"}"#, r#"{"attempts": 0}"#),
            "settings.attempts must be at least 1"
        );
        assert_eq!(
            message(r#"{"url": "http://h/", "root": "../x"}"#, "{}"),
            "params.root must name directories inside the project, found \"../x\""
        );
        assert_eq!(
            message(r#"{"url": "http://h/", "content-types": {"md": 1}}"#, "{}"),
            "params.content-types.md must be a content type such as \"text/html\""
        );
    }
}
