//! The artifact's URL (the payload's `url`, else the artifact id), accepted only when it is
//! an absolute http(s) URL with a host, and the payload's optional `content-type`.
use baton_sdk::fatal;
use baton_sdk::json::Object;
use baton_sdk::types::{Failure, ResolveRequest};

pub struct Target {
    pub url: String,
    pub content_type: Option<String>,
}

impl Target {
    pub fn from_request(request: &ResolveRequest) -> Result<Self, Failure> {
        let payload = Object::parse("payload", &request.artifact.payload)?;
        let raw = payload.str("url")?.unwrap_or(&request.artifact.id);
        let url = absolute_http_url(raw)
            .ok_or_else(|| fatal(format!("not an absolute http(s) URL: {raw}")))?;
        let content_type = payload.non_blank_str("content-type")?.map(str::to_string);
        Ok(Self {
            url: url.to_string(),
            content_type,
        })
    }
}

/// `text` without surrounding whitespace when it is `http(s)://host[:port][/...]`.
fn absolute_http_url(text: &str) -> Option<&str> {
    let text = text.trim();
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = text.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, after)| after);
    // An IPv6 literal keeps its colons inside the brackets.
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (literal, after) = bracketed.split_once(']')?;
            (literal, after.strip_prefix(':').unwrap_or(after))
        }
        None => host_port.split_once(':').unwrap_or((host_port, "")),
    };
    let port_ok = port.bytes().all(|byte| byte.is_ascii_digit());
    (!host.is_empty() && port_ok).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::types::Artifact;

    fn request(id: &str, payload: &str) -> ResolveRequest {
        ResolveRequest {
            artifact: Artifact {
                id: id.into(),
                payload: payload.into(),
            },
            settings: "{}".into(),
            attempt: 1,
        }
    }

    #[test]
    fn urls_accepted_and_refused() {
        for good in [
            "https://example.org/a.pdf",
            " HTTP://example.org ",
            "http://127.0.0.1:8080/x?y=1#z",
            "https://[::1]:8443/x",
            "https://user@example.org/",
        ] {
            assert_eq!(absolute_http_url(good), Some(good.trim()), "{good}");
        }
        for bad in [
            "",
            "example.org/a.pdf",
            "/a.pdf",
            "ftp://example.org/a",
            "file:///etc/passwd",
            "http:///x",
            "http://:80/x",
            "http://h:8o/x",
            "https://exa mple.org/",
            "10.1234/abc",
            "mailto:someone@example.org",
        ] {
            assert_eq!(absolute_http_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn payload_url_wins_over_the_id() {
        let target = Target::from_request(&request(
            "https://id.example.org/",
            r#"{"url": "https://cdn.example.org/x.pdf", "content-type": " application/pdf "}"#,
        ))
        .unwrap();
        assert_eq!(target.url, "https://cdn.example.org/x.pdf");
        assert_eq!(target.content_type.as_deref(), Some("application/pdf"));

        let target = Target::from_request(&request("https://id.example.org/x", "")).unwrap();
        assert_eq!(target.url, "https://id.example.org/x");
        assert_eq!(target.content_type, None);
    }

    #[test]
    fn anything_else_is_fatal_and_named() {
        let failure = |id: &str, payload: &str| Target::from_request(&request(id, payload)).err();
        assert_eq!(
            failure("10.1234/abc", "{}"),
            Some(Failure::Fatal(
                "not an absolute http(s) URL: 10.1234/abc".into()
            ))
        );
        assert_eq!(
            failure("https://ok.example.org/", r#"{"url": "ftp://x/y"}"#),
            Some(Failure::Fatal(
                "not an absolute http(s) URL: ftp://x/y".into()
            ))
        );
        assert_eq!(
            failure("https://ok.example.org/", r#"{"content-type": 5}"#),
            Some(Failure::Fatal(
                "payload.content-type must be a string, found a non-negative integer".into()
            ))
        );
    }
}
