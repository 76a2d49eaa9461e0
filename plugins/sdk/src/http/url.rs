//! The little URL handling the client needs: splitting an absolute `http(s)` URL into the
//! parts wasi:http asks for, resolving a redirect's `Location` against the URL it came
//! from (RFC 3986 §5.2), and percent-encoding.
use crate::bindings::wasi::http::types::Scheme;

/// An absolute URL split for wasi:http.
pub(crate) struct Target {
    pub scheme: Scheme,
    pub authority: String,
    /// Path and query, starting with `/`; the fragment is dropped.
    pub path_with_query: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        let (scheme, rest) = split_scheme(url).ok_or("not an absolute URL")?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else {
            return Err("only http and https URLs are supported");
        };
        let rest = rest.strip_prefix("//").ok_or("not an absolute URL")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() {
            return Err("the URL has no host");
        }
        if authority.contains('@') {
            return Err("credentials in URLs are not supported");
        }
        if authority
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_control())
        {
            return Err("the host contains whitespace");
        }
        let tail = tail.split('#').next().unwrap_or_default();
        let path_with_query = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        Ok(Self {
            scheme,
            authority: authority.to_string(),
            path_with_query,
        })
    }
}

/// `scheme://authority` of an absolute URL, lower-cased, for comparing origins.
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = split_scheme(url)?;
    let rest = rest.strip_prefix("//")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(format!("{scheme}://{}", &rest[..end]).to_ascii_lowercase())
}

/// Resolves `reference` (e.g. a `Location` header) against the absolute URL `base`.
pub(crate) fn resolve(base: &str, reference: &str) -> Result<String, &'static str> {
    let reference = reference.trim();
    if split_scheme(reference).is_some() {
        return Ok(reference.to_string());
    }
    let (scheme, rest) = split_scheme(base).ok_or("not an absolute URL")?;
    if let Some(network_path) = reference.strip_prefix("//") {
        return Ok(format!("{scheme}://{network_path}"));
    }
    let rest = rest.strip_prefix("//").ok_or("not an absolute URL")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let base_path_query = tail.split('#').next().unwrap_or_default();
    let base_path = base_path_query.split('?').next().unwrap_or_default();
    let prefix = format!("{scheme}://{authority}");

    if reference.is_empty() || reference.starts_with('#') {
        return Ok(format!("{prefix}{base_path_query}"));
    }
    if reference.starts_with('?') {
        return Ok(format!("{prefix}{base_path}{reference}"));
    }
    let (ref_path, ref_rest) = match reference.find(['?', '#']) {
        Some(index) => reference.split_at(index),
        None => (reference, ""),
    };
    let merged = if ref_path.starts_with('/') {
        ref_path.to_string()
    } else {
        let directory = base_path
            .rfind('/')
            .map_or("/", |index| &base_path[..=index]);
        format!("{directory}{ref_path}")
    };
    Ok(format!(
        "{prefix}{}{ref_rest}",
        remove_dot_segments(&merged)
    ))
}

/// Encodes every byte of `text` except RFC 3986 unreserved characters and those in
/// `keep`, e.g. `encode(doi, "/")` for a path, `encode(email, "@")` for a query value.
pub fn encode(text: &str, keep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        if unreserved || (byte.is_ascii() && keep.as_bytes().contains(&byte)) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Splits `scheme:rest` when the text starts with a valid scheme.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some((scheme, rest))
}

fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match *segment {
            "." => {
                if last {
                    output.push("");
                }
            }
            ".." => {
                output.pop();
                if last {
                    output.push("");
                }
            }
            other => output.push(other),
        }
    }
    format!("/{}", output.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_for_wasi_http() {
        let target = Target::parse("HTTPS://api.example.org:8443/v2/x?y=1#frag").unwrap();
        assert!(matches!(target.scheme, Scheme::Https));
        assert_eq!(target.authority, "api.example.org:8443");
        assert_eq!(target.path_with_query, "/v2/x?y=1");
        assert_eq!(Target::parse("http://h?q").unwrap().path_with_query, "/?q");
        assert_eq!(Target::parse("http://h").unwrap().path_with_query, "/");
        assert!(Target::parse("ftp://h/x").is_err());
        assert!(Target::parse("http:///x").is_err());
        assert!(Target::parse("http://user:pw@h/").is_err());
        assert!(Target::parse("/relative").is_err());
    }

    #[test]
    fn resolve_redirect_locations() {
        let base = "https://a.org/dir/page?q=1#f";
        let cases = [
            ("http://b.org/x", "http://b.org/x"),
            ("//c.org/y", "https://c.org/y"),
            ("/root?z", "https://a.org/root?z"),
            ("?other", "https://a.org/dir/page?other"),
            ("next", "https://a.org/dir/next"),
            ("../up/./x", "https://a.org/up/x"),
            ("../../../top", "https://a.org/top"),
            ("sub/", "https://a.org/dir/sub/"),
            ("", "https://a.org/dir/page?q=1"),
        ];
        for (reference, expected) in cases {
            assert_eq!(resolve(base, reference).unwrap(), expected, "{reference}");
        }
        assert_eq!(resolve("http://h", "x").unwrap(), "http://h/x");
    }

    #[test]
    fn origin_and_encode() {
        assert_eq!(origin("HTTPS://A.org:443/x").unwrap(), "https://a.org:443");
        assert_eq!(encode("10.1/a b+c@d", "/"), "10.1/a%20b%2Bc%40d");
        assert_eq!(encode("é", ""), "%C3%A9");
    }
}
