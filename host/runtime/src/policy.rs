//! The capability model's two locks: what a plugin asks for in `describe` and what the
//! operator grants in config. Parses `scheme://host:port` patterns, checks at load that every
//! ask is granted, and decides at run time whether one HTTP request or program run is allowed.

use super::grants::Grants;
use std::fmt;

/// A `scheme://host:port` pattern. `*` as the scheme, the port or the whole host matches
/// anything; a host starting with `*.` matches one or more leading labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: Option<u16>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    /// `*.example.org` stores `.example.org`.
    Suffix(String),
}

impl HostPattern {
    /// Parses `scheme://host[:port]`: scheme `http`, `https` or `*`; host exact, `*` or `*.suffix`;
    /// port a number or `*`, by default 80 or 443 for http or https and any for `*`. The error
    /// says what is wrong, with an example.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let invalid = |why: &str| {
            format!(
                "`{text}` is not a `scheme://host:port` pattern ({why}; e.g. `https://api.example.org:443` or `http://127.0.0.1:*`)"
            )
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid("missing `://`"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => None,
            s @ ("http" | "https") => Some(s.to_string()),
            _ => return Err(invalid("the scheme must be http, https or *")),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') || rest.is_empty() {
            return Err(invalid("give only a host and an optional port"));
        }
        let (host, port) = split_host_port(rest);
        let port = match port {
            None => match scheme.as_deref() {
                Some("http") => Some(80),
                Some("https") => Some(443),
                _ => None,
            },
            Some("*") => None,
            Some(digits) => Some(digits.parse().map_err(|_| invalid("bad port"))?),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostMatch::Suffix(format!(".{suffix}"))
        } else if host.contains('*') {
            return Err(invalid("`*` may only stand alone or as the first label"));
        } else {
            HostMatch::Exact(host)
        };
        Ok(HostPattern {
            scheme,
            host,
            port,
            text: text.to_string(),
        })
    }

    /// Whether a concrete request target matches.
    pub fn matches(&self, target: &Target) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == target.scheme)
            && self.port.is_none_or(|p| p == target.port)
            && match &self.host {
                HostMatch::Any => true,
                HostMatch::Exact(host) => *host == target.host,
                HostMatch::Suffix(suffix) => target.host.ends_with(suffix.as_str()),
            }
    }

    /// Whether every target `other` matches is also matched by `self`.
    pub fn covers(&self, other: &HostPattern) -> bool {
        let scheme = match (&self.scheme, &other.scheme) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        let port = match (self.port, other.port) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        let host = match (&self.host, &other.host) {
            (HostMatch::Any, _) => true,
            (HostMatch::Exact(a), HostMatch::Exact(b)) => a == b,
            (HostMatch::Suffix(a), HostMatch::Exact(b)) => b.ends_with(a.as_str()),
            (HostMatch::Suffix(a), HostMatch::Suffix(b)) => b.ends_with(a.as_str()),
            _ => false,
        };
        scheme && port && host
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal: [::1]:8080
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':'));
        }
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// One concrete outbound request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URI's scheme, lowercase, e.g. `https`.
    pub scheme: String,
    /// The host name or IP address, lowercase (IPv6 without brackets).
    pub host: String,
    /// The URI's port, else 443 for `https` and 80 for anything else.
    pub port: u16,
}

impl Target {
    /// The target of `uri`; `None` when it has no scheme or no host.
    pub fn from_uri(uri: &http::Uri) -> Option<Target> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri
            .host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(match scheme.as_str() {
            "https" => 443,
            _ => 80,
        });
        Some(Target { scheme, host, port })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// What a plugin asked for in `describe`, in host terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Asks {
    /// Outbound HTTP patterns (WIT `capabilities.http`), `*` for whatever the operator grants.
    pub http: Vec<String>,
    /// Directories as (absolute guest path, writable) (WIT `capabilities.files`).
    pub files: Vec<(String, bool)>,
    /// Programs for `exec` by name (WIT `capabilities.exec`), `*` for whatever is granted.
    pub exec: Vec<String>,
    /// Names of environment variables to read (WIT `capabilities.env`).
    pub env: Vec<String>,
    /// Whether the plugin uses the `state` import (WIT `capabilities.state`).
    pub state: bool,
}

/// The HTTP lock at run time: a request must match a granted pattern and an asked one.
#[derive(Debug, Clone, Default)]
pub struct HttpPolicy {
    granted: Vec<HostPattern>,
    /// `None` when the plugin asked for `*` (whatever is granted).
    asked: Option<Vec<HostPattern>>,
}

impl HttpPolicy {
    /// Parses the granted and asked patterns; an ask of `*` leaves the grants alone deciding.
    /// Fails with [`HostPattern::parse`]'s message for the first invalid pattern.
    pub fn new(granted: &[String], asked: &[String]) -> Result<HttpPolicy, String> {
        let granted = granted
            .iter()
            .map(|p| HostPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let asked = if asked.iter().any(|a| a == "*") {
            None
        } else {
            Some(
                asked
                    .iter()
                    .map(|p| HostPattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        Ok(HttpPolicy { granted, asked })
    }

    /// Whether `target` matches a granted pattern and an asked one (any, if `*` was asked).
    pub fn allows(&self, target: &Target) -> bool {
        self.granted.iter().any(|g| g.matches(target))
            && self
                .asked
                .as_ref()
                .is_none_or(|asked| asked.iter().any(|a| a.matches(target)))
    }
}

/// Lists every ask that the grants do not cover, each with the config line that would.
pub fn missing_grants(plugin: &str, asks: &Asks, grants: &Grants) -> Vec<String> {
    let mut missing = Vec::new();
    let table = format!("[plugins.{plugin}.grants]");
    let granted_http: Vec<HostPattern> = grants
        .http
        .iter()
        .filter_map(|p| HostPattern::parse(p).ok())
        .collect();
    for ask in &asks.http {
        if ask == "*" {
            if granted_http.is_empty() {
                missing.push(format!(
                    "http (any host the operator chooses): grant at least one with `http = [\"https://host:443\"]` in {table}"
                ));
            }
            continue;
        }
        match HostPattern::parse(ask) {
            Ok(pattern) if granted_http.iter().any(|g| g.covers(&pattern)) => {}
            Ok(_) => missing.push(format!("http {ask}: add `http = [\"{ask}\"]` to {table}")),
            Err(e) => missing.push(format!("http: the plugin asks for an invalid pattern: {e}")),
        }
    }
    for (path, writable) in &asks.files {
        let granted = grants
            .files
            .iter()
            .any(|f| f.guest == *path && (f.writable || !writable));
        if !granted {
            let mode = if *writable { "read-write" } else { "read-only" };
            missing.push(format!(
                "files {path} ({mode}): add `files = [{{ host = \"DIR\", guest = \"{path}\"{} }}]` to {table}",
                if *writable { ", writable = true" } else { "" }
            ));
        }
    }
    for program in &asks.exec {
        if program == "*" {
            if grants.exec.is_empty() {
                missing.push(format!(
                    "exec (any program the operator chooses): grant one with `exec = [{{ program = \"NAME\", args = [\"*\"] }}]` in {table}"
                ));
            }
        } else if !grants.exec.iter().any(|e| e.program == *program) {
            missing.push(format!(
                "exec {program}: add `exec = [{{ program = \"{program}\", args = [\"*\"] }}]` to {table}"
            ));
        }
    }
    for name in &asks.env {
        let granted = grants
            .env
            .iter()
            .any(|e| e.split_once('=').map(|(n, _)| n).unwrap_or(e) == name);
        if !granted {
            missing.push(format!("env {name}: add `env = [\"{name}\"]` to {table}"));
        }
    }
    if asks.state && !grants.state {
        missing.push(format!("state: add `state = true` to {table}"));
    }
    missing
}

/// Whether `text` matches a glob where `*` stands for any run of characters.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::{ExecGrant, FileGrant};

    fn target(url: &str) -> Target {
        Target::from_uri(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn patterns_match_scheme_host_and_port() {
        let p = HostPattern::parse("https://*.example.org").unwrap();
        assert!(p.matches(&target("https://api.example.org/x")));
        assert!(p.matches(&target("https://a.b.example.org:443/")));
        assert!(!p.matches(&target("https://example.org/")));
        assert!(!p.matches(&target("http://api.example.org/")));
        assert!(!p.matches(&target("https://api.example.org:8443/")));
        let any_port = HostPattern::parse("http://127.0.0.1:*").unwrap();
        assert!(any_port.matches(&target("http://127.0.0.1:9999/")));
        assert!(!any_port.matches(&target("http://127.0.0.2:9999/")));
        let v6 = HostPattern::parse("http://[::1]:8080").unwrap();
        assert!(v6.matches(&target("http://[::1]:8080/")));
    }

    #[test]
    fn bad_patterns_are_refused_with_an_example() {
        for bad in [
            "example.org",
            "ftp://x",
            "https://a.*.org",
            "https://x/path",
            "http://h:port",
        ] {
            let e = HostPattern::parse(bad).unwrap_err();
            assert!(e.contains("e.g."), "{bad}: {e}");
        }
    }

    #[test]
    fn coverage_is_containment() {
        let wide = HostPattern::parse("https://*.example.org:*").unwrap();
        assert!(wide.covers(&HostPattern::parse("https://api.example.org").unwrap()));
        assert!(!wide.covers(&HostPattern::parse("http://api.example.org").unwrap()));
        let narrow = HostPattern::parse("https://api.example.org").unwrap();
        assert!(!narrow.covers(&wide));
    }

    #[test]
    fn both_locks_apply_at_run_time() {
        let policy = HttpPolicy::new(
            &[
                "http://127.0.0.1:*".into(),
                "https://api.example.org".into(),
            ],
            &["https://api.example.org".into()],
        )
        .unwrap();
        assert!(policy.allows(&target("https://api.example.org/v1")));
        // Granted but not asked for:
        assert!(!policy.allows(&target("http://127.0.0.1:80/")));
        let any = HttpPolicy::new(&["http://127.0.0.1:*".into()], &["*".into()]).unwrap();
        assert!(any.allows(&target("http://127.0.0.1:80/")));
        assert!(!any.allows(&target("http://127.0.0.2:80/")));
    }

    #[test]
    fn missing_grants_name_every_gap_with_a_remedy() {
        let asks = Asks {
            http: vec!["https://api.example.org:443".into()],
            files: vec![("/data".into(), true)],
            exec: vec!["curl".into()],
            env: vec!["TOKEN".into()],
            state: true,
        };
        let missing = missing_grants("p", &asks, &Grants::default());
        assert_eq!(missing.len(), 5, "{missing:?}");
        assert!(missing[0].contains("[plugins.p.grants]"));
        let grants = Grants {
            http: vec!["https://*.example.org".into()],
            files: vec![FileGrant {
                host: "d".into(),
                guest: "/data".into(),
                writable: true,
            }],
            exec: vec![ExecGrant {
                program: "curl".into(),
                path: None,
                args: vec![],
                timeout: None,
            }],
            env: vec!["TOKEN=x".into()],
            state: true,
        };
        assert!(missing_grants("p", &asks, &grants).is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob_matches("--print", "--print"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("--model=*", "--model=opus"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXcYYb"));
        assert!(!glob_matches("--model=*", "--other"));
    }
}
