//! DOIs as artifacts carry them, in every common written form: bare
//! (`10.1038/nature12373`), a `doi.org`, `dx.doi.org` or `www.doi.org` URL with or without its
//! scheme, a `doi:` or `DOI:` label (also before such a URL), percent-encoded.
//! [`from_artifact`] takes the payload's `doi` field, else the artifact id, and reduces it
//! to the bare form. (The host reduces ids the same way for the queue's idempotency key.)
use crate::json;
use crate::skip;
use crate::types::{Artifact, Failure};
use percent_encoding::percent_decode_str;

/// Hosts that resolve DOIs, as written before the DOI in a URL.
const RESOLVERS: [&str; 3] = ["doi.org/", "dx.doi.org/", "www.doi.org/"];

/// Strips `prefix` from the start of `text`, ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])
}

/// The bare DOI of the artifact (its payload's `doi`, else its id); a skip
/// (`not a DOI: ...`) when that is not a DOI, a fatal failure when the payload is not valid.
pub fn from_artifact(artifact: &Artifact) -> Result<String, Failure> {
    let raw = json::payload_or_id(artifact, "doi")?;
    normalise(&raw).ok_or_else(|| skip(format!("not a DOI: {raw}")))
}

/// The bare DOI (`10.<registrant>/<suffix>`, case kept), or `None` when `text` is not one.
pub fn normalise(text: &str) -> Option<String> {
    let decoded = percent_decode_str(text.trim()).decode_utf8().ok()?;
    let mut rest = decoded.trim();
    if let Some(after) = strip_prefix_ignore_case(rest, "doi:") {
        rest = after.trim_start();
    }
    for scheme in ["https://", "http://"] {
        if let Some(after) = strip_prefix_ignore_case(rest, scheme) {
            rest = after;
            break;
        }
    }
    for host in RESOLVERS {
        if let Some(after) = strip_prefix_ignore_case(rest, host) {
            rest = after;
            break;
        }
    }
    let (registrant, suffix) = rest.split_once('/')?;
    let number = registrant.strip_prefix("10.")?;
    let valid = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !suffix.is_empty()
        && !suffix.contains(char::is_whitespace);
    valid.then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doi_forms() {
        assert_eq!(
            normalise("10.1038/nature12373").unwrap(),
            "10.1038/nature12373"
        );
        assert_eq!(normalise(" https://doi.org/10.1/x ").unwrap(), "10.1/x");
        assert_eq!(normalise("DOI:10.1/x").unwrap(), "10.1/x");
        for form in [
            "doi.org/10.1038/nature12373",
            "dx.doi.org/10.1038/nature12373",
            "DOI: https://doi.org/10.1038/nature12373",
            "doi: 10.1038/nature12373",
            "https://doi.org/10.1038%2Fnature12373",
            "HTTP://WWW.DOI.ORG/10.1038/nature12373",
        ] {
            assert_eq!(normalise(form).unwrap(), "10.1038/nature12373", "{form}");
        }
        assert_eq!(normalise("10.x/y"), None);
        assert_eq!(normalise("arXiv:1234.5678"), None);
        assert_eq!(normalise("10./x"), None);
        assert_eq!(normalise("10.1/"), None);
    }

    #[test]
    fn from_payload_or_id() {
        let artifact = |id: &str, payload: &str| Artifact {
            id: id.into(),
            payload: payload.into(),
        };
        assert_eq!(
            from_artifact(&artifact("ignored", r#"{"doi": "doi:10.1/x"}"#)).unwrap(),
            "10.1/x"
        );
        assert_eq!(
            from_artifact(&artifact("https://dx.doi.org/10.2/y", "")).unwrap(),
            "10.2/y"
        );
        assert_eq!(
            from_artifact(&artifact("isbn:123", "{}")).unwrap_err(),
            Failure::Skip("not a DOI: isbn:123".into())
        );
        assert_eq!(
            from_artifact(&artifact("10.1/x", "[]")).unwrap_err(),
            Failure::Fatal("payload must be an object, found an array".into())
        );
    }
}
