//! DOIs as artifacts carry them: bare (`10.1038/nature12373`), as a `doi.org` or
//! `dx.doi.org` URL, or with a `doi:` prefix. [`from_artifact`] takes the payload's `doi`
//! field, else the artifact id, and reduces it to the bare form.
use crate::json;
use crate::skip;
use crate::types::{Artifact, Failure};

/// Ways a DOI is commonly written around the bare `10.x/y` form.
const PREFIXES: [&str; 5] = [
    "https://doi.org/",
    "http://doi.org/",
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "doi:",
];

/// The bare DOI of the artifact (its payload's `doi`, else its id); a skip
/// (`not a DOI: ...`) when that is not a DOI, a fatal failure when the payload is not valid.
pub fn from_artifact(artifact: &Artifact) -> Result<String, Failure> {
    let raw = json::payload_or_id(artifact, "doi")?;
    normalise(&raw).ok_or_else(|| skip(format!("not a DOI: {raw}")))
}

/// The bare DOI (`10.<registrant>/<suffix>`), or `None` when `text` is not one.
pub fn normalise(text: &str) -> Option<String> {
    let text = text.trim();
    let bare = PREFIXES
        .iter()
        .find_map(|prefix| {
            text.get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .map(|_| text[prefix.len()..].trim_start())
        })
        .unwrap_or(text);
    let (registrant, suffix) = bare.split_once('/')?;
    (registrant.starts_with("10.") && registrant.len() > 3 && !suffix.is_empty())
        .then(|| bare.to_string())
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
