//! Turning a resolve request into the Unpaywall query: the settings, the DOI (normalised
//! from the payload's `doi` or the artifact id) and the request URL.
use baton_sdk::http::encode;
use baton_sdk::json::Object;
use baton_sdk::types::{Failure, ResolveRequest};
use baton_sdk::{api, doi};

const DEFAULT_BASE_URL: &str = "https://api.unpaywall.org";

pub struct Query {
    pub doi: String,
    base_url: String,
    email: String,
}

impl Query {
    pub fn from_request(request: &ResolveRequest) -> Result<Self, Failure> {
        let settings = Object::parse("settings", &request.settings)?;
        let base_url = api::base_url(&settings, DEFAULT_BASE_URL)?;
        let email = settings.required_str("email")?;
        let doi = doi::from_artifact(&request.artifact)?;
        Ok(Self {
            doi,
            base_url,
            email: email.to_string(),
        })
    }

    pub fn url(&self) -> String {
        let url = format!("{}/v2/{}", self.base_url, encode(&self.doi, "/"));
        api::with_email(url, "email", Some(&self.email))
    }
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
    fn url_from_payload_doi_with_encoding() {
        let query = Query::from_request(&request(
            "ignored",
            r#"{"doi": "10.1002/(SICI)1097-4636(199706)35:4<409::AID-JBM3>3.0.CO;2-D"}"#,
            r#"{"email": "a+b@example.org", "base-url": "http://127.0.0.1:8080/"}"#,
        ))
        .unwrap();
        assert_eq!(
            query.url(),
            "http://127.0.0.1:8080/v2/10.1002/%28SICI%291097-4636%28199706%2935%3A4%3C409%3A%3AAID-JBM3%3E3.0.CO%3B2-D?email=a%2Bb@example.org"
        );
    }

    #[test]
    fn id_fallback_default_base_and_errors() {
        let query =
            Query::from_request(&request("10.1/abc", "{}", r#"{"email": "e@x.org"}"#)).unwrap();
        assert_eq!(
            query.url(),
            "https://api.unpaywall.org/v2/10.1/abc?email=e@x.org"
        );

        let missing = Query::from_request(&request("10.1/abc", "{}", "{}"))
            .err()
            .unwrap();
        assert_eq!(missing, Failure::Fatal("settings.email is missing".into()));

        let not_doi = Query::from_request(&request("isbn:123", "", r#"{"email": "e@x.org"}"#));
        assert_eq!(
            not_doi.err().unwrap(),
            Failure::Skip("not a DOI: isbn:123".into())
        );
    }
}
