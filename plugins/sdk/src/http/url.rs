//! The URL handling the client needs, on the `url` crate (WHATWG URL parsing, RFC 3986 §5
//! reference resolution): splitting an absolute `http(s)` URL into the parts wasi:http asks
//! for, resolving a redirect's `Location` against the URL it came from, comparing origins,
//! and percent-encoding (the `percent-encoding` crate).
use crate::bindings::wasi::http::types::Scheme;
use percent_encoding::percent_encode_byte;
use url::Url;

/// An absolute URL split for wasi:http.
pub(crate) struct Target {
    pub scheme: Scheme,
    pub authority: String,
    /// Path and query, starting with `/`; the fragment is dropped.
    pub path_with_query: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        let parsed = Url::parse(url.trim()).map_err(|_| "not an absolute URL")?;
        let scheme = match parsed.scheme() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            _ => return Err("only http and https URLs are supported"),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL has no host")?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("credentials in URLs are not supported");
        }
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let path_with_query = match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_string(),
        };
        Ok(Self {
            scheme,
            authority,
            path_with_query,
        })
    }
}

/// `scheme://host[:port]` of an absolute URL (its origin, RFC 6454), for comparing origins.
pub(crate) fn origin(url: &str) -> Option<String> {
    let parsed = Url::parse(url.trim()).ok()?;
    parsed
        .has_host()
        .then(|| parsed.origin().ascii_serialization())
}

/// Resolves `reference` (e.g. a `Location` header) against the absolute URL `base`, per
/// RFC 3986 §5; the fragment is dropped (it is never sent).
pub(crate) fn resolve(base: &str, reference: &str) -> Result<String, &'static str> {
    let base = Url::parse(base.trim()).map_err(|_| "not an absolute URL")?;
    let mut next = base
        .join(reference.trim())
        .map_err(|_| "not a valid URL reference")?;
    next.set_fragment(None);
    Ok(next.into())
}

/// Encodes every byte of `text` except RFC 3986 unreserved characters (§2.3) and those in
/// `keep`, e.g. `encode(doi, "/")` for a path, `encode(email, "@")` for a query value.
pub fn encode(text: &str, keep: &str) -> String {
    text.bytes()
        .map(|byte| {
            let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
            if unreserved || (byte.is_ascii() && keep.as_bytes().contains(&byte)) {
                char::from(byte).to_string()
            } else {
                percent_encode_byte(byte).to_string()
            }
        })
        .collect()
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
        // As browsers read it (WHATWG URL): the empty authority is skipped.
        assert_eq!(Target::parse("http:///x").unwrap().authority, "x");
        assert!(Target::parse("http://").is_err());
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
        // The default port is elided (RFC 6454 §6.2), so both spellings are one origin.
        assert_eq!(origin("HTTPS://A.org:443/x").unwrap(), "https://a.org");
        assert_eq!(origin("https://a.org/y"), origin("https://A.ORG:443/z"));
        assert_ne!(origin("https://a.org/"), origin("http://a.org/"));
        assert_eq!(encode("10.1/a b+c@d", "/"), "10.1/a%20b%2Bc%40d");
        assert_eq!(encode("é", ""), "%C3%A9");
    }
}
