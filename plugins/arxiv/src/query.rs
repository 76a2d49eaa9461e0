//! Turning a resolve request into the PDF's URL: the settings' `base-url` and the arXiv id
//! (the payload's `arxiv`, else the artifact id).
use baton_sdk::json::{self, Object};
use baton_sdk::types::{Failure, ResolveRequest};
use baton_sdk::{api, skip};

use crate::id;

const DEFAULT_BASE_URL: &str = "https://arxiv.org";

pub struct Query {
    pub id: String,
    base_url: String,
}

impl Query {
    pub fn from_request(request: &ResolveRequest) -> Result<Self, Failure> {
        let settings = Object::parse("settings", &request.settings)?;
        let base_url = api::base_url(&settings, DEFAULT_BASE_URL)?;
        let raw = json::payload_or_id(&request.artifact, "arxiv")?;
        let id = id::parse(&raw).ok_or_else(|| skip(format!("not an arXiv id: {raw}")))?;
        Ok(Self { id, base_url })
    }

    /// The id needs no encoding: it is only letters, digits, `.`, `-` and `/`.
    pub fn url(&self) -> String {
        format!("{}/pdf/{}", self.base_url, self.id)
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
    fn url_from_id_or_payload() {
        let query = Query::from_request(&request("arXiv:2101.00001v2", "", "")).unwrap();
        assert_eq!(query.url(), "https://arxiv.org/pdf/2101.00001v2");

        let query = Query::from_request(&request(
            "10.1234/abc",
            r#"{"arxiv": "https://arxiv.org/abs/hep-th/9901001"}"#,
            r#"{"base-url": "http://127.0.0.1:9000/"}"#,
        ))
        .unwrap();
        assert_eq!(query.url(), "http://127.0.0.1:9000/pdf/hep-th/9901001");
    }

    #[test]
    fn not_an_id_is_skipped_bad_settings_are_fatal() {
        let skipped = Query::from_request(&request("10.1000/not-arxiv", "{}", "{}"));
        assert_eq!(
            skipped.err().unwrap(),
            Failure::Skip("not an arXiv id: 10.1000/not-arxiv".into())
        );
        let from_payload = Query::from_request(&request("2101.00001", r#"{"arxiv": "x"}"#, ""));
        assert_eq!(
            from_payload.err().unwrap(),
            Failure::Skip("not an arXiv id: x".into())
        );
        let settings = Query::from_request(&request("2101.00001", "", r#"{"base-url": 1}"#));
        assert_eq!(
            settings.err().unwrap(),
            Failure::Fatal(
                "settings.base-url must be a string, found a non-negative integer".into()
            )
        );
    }
}
