//! Crossref's answer (`{"status": "ok", "message-type": "work", "message": {...}}`, the
//! documented fields this plugin reads) and the candidates made from the work's `link`
//! list, each URL once at its best score: `application/pdf` links (90 for the version of
//! record, 80 otherwise, 5 more when meant for text mining), then `unspecified` links
//! (30, no content type). Links of any other type (e.g. `text/html`) are left out.
use core::cmp::Reverse;

use baton_sdk::retry;
use baton_sdk::types::{Candidate, Failure};
use serde::Deserialize;

const PDF: &str = "application/pdf";
const UNSPECIFIED: &str = "unspecified";
const VOR_PDF_SCORE: u32 = 90;
const PDF_SCORE: u32 = 80;
const TEXT_MINING_BONUS: u32 = 5;
const UNSPECIFIED_SCORE: u32 = 30;

#[derive(Debug, Deserialize)]
struct Envelope {
    status: Option<String>,
    #[serde(rename = "message-type")]
    message_type: Option<String>,
    #[serde(default)]
    message: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct Work {
    link: Option<Vec<Link>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Link {
    #[serde(rename = "URL")]
    url: Option<String>,
    content_type: Option<String>,
    content_version: Option<String>,
    intended_application: Option<String>,
}

impl Work {
    /// The work in a response body; an answer that is not one is retried, like any garbled
    /// response.
    pub fn from_body(body: &[u8]) -> Result<Self, Failure> {
        let unreadable = |error: serde_json::Error| {
            retry(format!("crossref sent an unreadable answer: {error}"))
        };
        let envelope: Envelope = serde_json::from_slice(body).map_err(unreadable)?;
        if let Some(status) = envelope.status.filter(|status| status != "ok") {
            return Err(retry(format!("crossref answered status {status}")));
        }
        if let Some(kind) = envelope.message_type.filter(|kind| kind != "work") {
            return Err(retry(format!("crossref answered a {kind}, not a work")));
        }
        serde_json::from_value(envelope.message).map_err(unreadable)
    }
}

pub fn from_work(work: &Work) -> Vec<Candidate> {
    let mut scored: Vec<Candidate> = Vec::new();
    for (index, link) in work.link.iter().flatten().enumerate() {
        let Some(url) = link
            .url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
        else {
            continue;
        };
        let media_type = link
            .content_type
            .as_deref()
            .map(|content_type| content_type.split(';').next().unwrap_or_default().trim());
        let (score, content_type) = match media_type {
            Some(media) if media.eq_ignore_ascii_case(PDF) => (pdf_score(link), Some(PDF)),
            Some(media) if media.eq_ignore_ascii_case(UNSPECIFIED) => (UNSPECIFIED_SCORE, None),
            _ => continue,
        };
        scored.push(Candidate {
            url: url.to_string(),
            content_type: content_type.map(str::to_string),
            score,
            headers: Vec::new(),
            note: Some(note(index, link)),
        });
    }
    // Best first (ties keep Crossref's order), then each URL once at its best score.
    scored.sort_by_key(|candidate| Reverse(candidate.score));
    let mut candidates: Vec<Candidate> = Vec::new();
    for candidate in scored {
        if !candidates.iter().any(|known| known.url == candidate.url) {
            candidates.push(candidate);
        }
    }
    candidates
}

fn pdf_score(link: &Link) -> u32 {
    let base = if link.content_version.as_deref() == Some("vor") {
        VOR_PDF_SCORE
    } else {
        PDF_SCORE
    };
    if link.intended_application.as_deref() == Some("text-mining") {
        base + TEXT_MINING_BONUS
    } else {
        base
    }
}

/// e.g. `link[0]: vor, text-mining`.
fn note(index: usize, link: &Link) -> String {
    let details: Vec<&str> = [&link.content_version, &link.intended_application]
        .into_iter()
        .filter_map(|detail| detail.as_deref())
        .collect();
    if details.is_empty() {
        format!("link[{index}]")
    } else {
        format!("link[{index}]: {}", details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(body: &str) -> Vec<(String, u32, Option<String>, String)> {
        from_work(&Work::from_body(body.as_bytes()).unwrap())
            .into_iter()
            .map(|c| (c.url, c.score, c.content_type, c.note.unwrap()))
            .collect()
    }

    #[test]
    fn pdf_links_by_version_and_use_then_unspecified_deduplicated() {
        let body = r#"{
            "status": "ok", "message-type": "work", "message-version": "1.0.0",
            "message": {
                "DOI": "10.1/x", "type": "journal-article", "title": ["X"],
                "license": [{"URL": "http://creativecommons.org/licenses/by/4.0/",
                    "content-version": "vor", "delay-in-days": 0,
                    "start": {"date-parts": [[2020, 1, 1]], "date-time": "2020-01-01T00:00:00Z", "timestamp": 1577836800000}}],
                "link": [
                    {"URL": "https://pub.example.org/x.html", "content-type": "text/html",
                     "content-version": "vor", "intended-application": "similarity-checking"},
                    {"URL": "https://pub.example.org/am.pdf", "content-type": "application/pdf",
                     "content-version": "am", "intended-application": "syndication"},
                    {"URL": "https://pub.example.org/x.pdf", "content-type": "application/pdf",
                     "content-version": "vor", "intended-application": "similarity-checking"},
                    {"URL": "https://pub.example.org/x.pdf", "content-type": "application/pdf",
                     "content-version": "vor", "intended-application": "text-mining"},
                    {"URL": "https://pub.example.org/x.xml", "content-type": "unspecified",
                     "content-version": "vor", "intended-application": "text-mining"},
                    {"URL": "https://pub.example.org/tdm.pdf", "content-type": "Application/PDF; charset=binary",
                     "content-version": "am", "intended-application": "text-mining"}
                ]
            }
        }"#;
        let pdf = Some(PDF.to_string());
        assert_eq!(
            summary(body),
            vec![
                (
                    "https://pub.example.org/x.pdf".into(),
                    95,
                    pdf.clone(),
                    "link[3]: vor, text-mining".into()
                ),
                (
                    "https://pub.example.org/tdm.pdf".into(),
                    85,
                    pdf.clone(),
                    "link[5]: am, text-mining".into()
                ),
                (
                    "https://pub.example.org/am.pdf".into(),
                    80,
                    pdf,
                    "link[1]: am, syndication".into()
                ),
                (
                    "https://pub.example.org/x.xml".into(),
                    30,
                    None,
                    "link[4]: vor, text-mining".into()
                ),
            ]
        );
    }

    #[test]
    fn works_without_usable_links_give_nothing() {
        let html_only = r#"{"status": "ok", "message-type": "work", "message": {"DOI": "10.1/x",
            "link": [{"URL": "https://pub/x", "content-type": "text/html", "content-version": "vor",
                      "intended-application": "similarity-checking"}]}}"#;
        assert!(summary(html_only).is_empty());
        let no_links = r#"{"status": "ok", "message-type": "work", "message": {"DOI": "10.1/x"}}"#;
        assert!(summary(no_links).is_empty());
    }

    #[test]
    fn answers_that_are_not_a_work_are_retried() {
        let reason = |body: &str| match Work::from_body(body.as_bytes()) {
            Err(Failure::Retry(retry)) => retry.reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(r#"{"status": "failed", "message-type": "validation-failure", "message": []}"#),
            "crossref answered status failed"
        );
        assert_eq!(
            reason(r#"{"status": "ok", "message-type": "work-list", "message": {"items": []}}"#),
            "crossref answered a work-list, not a work"
        );
        assert!(reason("Resource not found.").starts_with("crossref sent an unreadable answer"));
        assert!(reason(r#"{"status": "ok", "message": {"link": {}}}"#)
            .starts_with("crossref sent an unreadable answer"));
    }
}
