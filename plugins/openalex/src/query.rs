//! Turning a resolve request into the OpenAlex query: the settings, the DOI (normalised
//! from the payload's `doi` or the artifact id) and the request URL.
use baton_sdk::http::encode;
use baton_sdk::json::Object;
use baton_sdk::skip;
use baton_sdk::types::{Failure, ResolveRequest};

const DEFAULT_BASE_URL: &str = "https://api.openalex.org";
/// Ways a DOI is commonly written around the bare `10.x/y` form.
const DOI_PREFIXES: [&str; 5] = [
    "https://doi.org/",
    "http://doi.org/",
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "doi:",
];

pub struct Query {
    pub doi: String,
    base_url: String,
    mailto: Option<String>,
}

impl Query {
    pub fn from_request(request: &ResolveRequest) -> Result<Self, Failure> {
        let settings = Object::parse("settings", &request.settings)?;
        let base_url = settings.str("base-url")?.unwrap_or(DEFAULT_BASE_URL);
        let mailto = settings
            .str("mailto")?
            .map(str::trim)
            .filter(|mailto| !mailto.is_empty());
        let payload = Object::parse("payload", &request.artifact.payload)?;
        let raw = payload.str("doi")?.unwrap_or(&request.artifact.id);
        let doi = normalise_doi(raw).ok_or_else(|| skip(format!("not a DOI: {raw}")))?;
        Ok(Self {
            doi,
            base_url: base_url.trim_end_matches('/').to_string(),
            mailto: mailto.map(str::to_string),
        })
    }

    pub fn url(&self) -> String {
        let url = format!("{}/works/doi:{}", self.base_url, encode(&self.doi, "/"));
        match &self.mailto {
            Some(mailto) => format!("{url}?mailto={}", encode(mailto, "@")),
            None => url,
        }
    }
}

/// The bare DOI (`10.<registrant>/<suffix>`), or `None` when `text` is not one.
fn normalise_doi(text: &str) -> Option<String> {
    let text = text.trim();
    let bare = DOI_PREFIXES
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
    use baton_sdk::types::Artifact;

    fn request(id: &str, payload: &str, settings: &str) -> ResolveRequest {
        ResolveRequest {
            artifact: Artifact {
                id: id.into(),
                payload: payload.into(),
            },
            settings: settings.into(),
            attempt: 1,
        }
    }

    #[test]
    fn doi_forms() {
        assert_eq!(
            normalise_doi("10.1038/nature12373").unwrap(),
            "10.1038/nature12373"
        );
        assert_eq!(normalise_doi(" https://doi.org/10.1/x ").unwrap(), "10.1/x");
        assert_eq!(normalise_doi("DOI:10.1/x").unwrap(), "10.1/x");
        assert_eq!(normalise_doi("arXiv:1234.5678"), None);
        assert_eq!(normalise_doi("10./x"), None);
        assert_eq!(normalise_doi("10.1/"), None);
    }

    #[test]
    fn url_from_payload_doi_with_encoding_and_mailto() {
        let query = Query::from_request(&request(
            "ignored",
            r#"{"doi": "doi:10.1002/(SICI)1097-4636(199706)35:4<409::AID-JBM3>3.0.CO;2-D"}"#,
            r#"{"mailto": "a+b@example.org", "base-url": "http://127.0.0.1:8080/"}"#,
        ))
        .unwrap();
        assert_eq!(
            query.url(),
            "http://127.0.0.1:8080/works/doi:10.1002/%28SICI%291097-4636%28199706%2935%3A4%3C409%3A%3AAID-JBM3%3E3.0.CO%3B2-D?mailto=a%2Bb@example.org"
        );
    }

    #[test]
    fn id_fallback_default_base_and_errors() {
        let query = Query::from_request(&request("https://doi.org/10.1/abc", "{}", "")).unwrap();
        assert_eq!(query.url(), "https://api.openalex.org/works/doi:10.1/abc");

        let bad_setting = Query::from_request(&request("10.1/abc", "{}", r#"{"mailto": true}"#));
        assert_eq!(
            bad_setting.err().unwrap(),
            Failure::Fatal("settings.mailto must be a string, found a boolean".into())
        );

        let not_doi = Query::from_request(&request("isbn:123", "", ""));
        assert_eq!(
            not_doi.err().unwrap(),
            Failure::Skip("not a DOI: isbn:123".into())
        );
    }
}
