//! Unpaywall's record (the documented fields this plugin reads) and the candidates made
//! from it: the best location's PDF, the other locations' PDFs, then landing pages with
//! lower scores and no content type, each URL once.
use baton_sdk::candidates::Candidates;
use baton_sdk::types::Candidate;
use serde::Deserialize;

const PDF: &str = "application/pdf";
const BEST_PDF_SCORE: u32 = 100;
const PDF_SCORE: u32 = 90;
const BEST_LANDING_SCORE: u32 = 40;
const LANDING_SCORE: u32 = 30;

#[derive(Debug, Deserialize)]
pub struct Record {
    #[serde(default)]
    is_oa: bool,
    best_oa_location: Option<Location>,
    oa_locations: Option<Vec<Location>>,
}

#[derive(Debug, Deserialize)]
struct Location {
    url_for_pdf: Option<String>,
    url_for_landing_page: Option<String>,
    host_type: Option<String>,
    license: Option<String>,
    version: Option<String>,
}

pub fn from_record(record: &Record) -> Vec<Candidate> {
    if !record.is_oa {
        return Vec::new();
    }
    let mut located: Vec<(String, &Location)> = Vec::new();
    if let Some(best) = &record.best_oa_location {
        located.push(("best_oa_location".into(), best));
    }
    for (index, location) in record.oa_locations.iter().flatten().enumerate() {
        located.push((format!("oa_locations[{index}]"), location));
    }

    let mut candidates = Candidates::default();
    let has_best = record.best_oa_location.is_some();
    for (rank, (name, location)) in located.iter().enumerate() {
        let (score, _) = scores(rank, rank == 0 && has_best);
        candidates.add(
            location.url_for_pdf.as_deref(),
            score,
            Some(PDF),
            note(name, location),
        );
    }
    for (rank, (name, location)) in located.iter().enumerate() {
        let (_, score) = scores(rank, rank == 0 && has_best);
        let note = format!("{} (landing page)", note(name, location));
        candidates.add(location.url_for_landing_page.as_deref(), score, None, note);
    }
    candidates.into_vec()
}

/// (PDF score, landing-page score) of the location at `rank`; every PDF outranks every
/// landing page.
fn scores(rank: usize, is_best: bool) -> (u32, u32) {
    if is_best {
        return (BEST_PDF_SCORE, BEST_LANDING_SCORE);
    }
    let step = u32::try_from(rank).unwrap_or(u32::MAX);
    (
        PDF_SCORE.saturating_sub(step).max(BEST_LANDING_SCORE + 1),
        LANDING_SCORE.saturating_sub(step).max(1),
    )
}

/// e.g. `oa_locations[1]: repository, acceptedVersion, cc-by`.
fn note(name: &str, location: &Location) -> String {
    let details: Vec<&str> = [&location.host_type, &location.version, &location.license]
        .into_iter()
        .filter_map(|detail| detail.as_deref())
        .collect();
    if details.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {}", details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn pdfs_first_then_landing_pages_deduplicated() {
        let record = record(
            r#"{
                "doi": "10.1/x", "is_oa": true,
                "best_oa_location": {"url": "https://pub/x.pdf", "url_for_pdf": "https://pub/x.pdf",
                    "url_for_landing_page": "https://pub/x", "host_type": "publisher",
                    "license": "cc-by", "version": "publishedVersion"},
                "oa_locations": [
                    {"url_for_pdf": "https://pub/x.pdf", "url_for_landing_page": "https://pub/x",
                     "host_type": "publisher"},
                    {"url_for_pdf": "https://repo/x.pdf", "url_for_landing_page": "https://repo/x",
                     "host_type": "repository", "version": "acceptedVersion", "license": null},
                    {"url_for_pdf": null, "url_for_landing_page": "https://other/x"}
                ]
            }"#,
        );
        let found: Vec<(String, u32, Option<String>, String)> = from_record(&record)
            .into_iter()
            .map(|c| (c.url, c.score, c.content_type, c.note.unwrap()))
            .collect();
        let pdf = Some(PDF.to_string());
        assert_eq!(
            found,
            vec![
                (
                    "https://pub/x.pdf".into(),
                    100,
                    pdf.clone(),
                    "best_oa_location: publisher, publishedVersion, cc-by".into()
                ),
                (
                    "https://repo/x.pdf".into(),
                    88,
                    pdf,
                    "oa_locations[1]: repository, acceptedVersion".into()
                ),
                (
                    "https://pub/x".into(),
                    40,
                    None,
                    "best_oa_location: publisher, publishedVersion, cc-by (landing page)".into()
                ),
                (
                    "https://repo/x".into(),
                    28,
                    None,
                    "oa_locations[1]: repository, acceptedVersion (landing page)".into()
                ),
                (
                    "https://other/x".into(),
                    27,
                    None,
                    "oa_locations[2] (landing page)".into()
                ),
            ]
        );
    }

    #[test]
    fn closed_or_empty_records_give_nothing() {
        let closed =
            record(r#"{"is_oa": false, "best_oa_location": {"url_for_pdf": "https://a"}}"#);
        assert!(from_record(&closed).is_empty());
        let empty = record(r#"{"is_oa": true, "best_oa_location": null, "oa_locations": []}"#);
        assert!(from_record(&empty).is_empty());
    }
}
