//! OpenAlex's work (the documented fields this plugin reads) and the candidates made from
//! it, each URL once: the best open-access location's PDF, the other open locations' PDFs,
//! the work's `open_access.oa_url`, then the open locations' landing pages. A work that is
//! not open access gives candidates only when some location still names a PDF.
use baton_sdk::candidates::Candidates;
use baton_sdk::types::Candidate;
use serde::Deserialize;

const PDF: &str = "application/pdf";
const BEST_PDF_SCORE: u32 = 100;
const PDF_SCORE: u32 = 80;
const OA_URL_SCORE: u32 = 60;
const LANDING_SCORE: u32 = 10;

#[derive(Debug, Deserialize)]
pub struct Work {
    /// The OpenAlex id, e.g. `https://openalex.org/W2741809807`.
    pub id: Option<String>,
    open_access: Option<OpenAccess>,
    best_oa_location: Option<Location>,
    primary_location: Option<Location>,
    locations: Option<Vec<Location>>,
}

#[derive(Debug, Deserialize)]
struct OpenAccess {
    is_oa: Option<bool>,
    oa_status: Option<String>,
    oa_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Location {
    is_oa: Option<bool>,
    pdf_url: Option<String>,
    landing_page_url: Option<String>,
    source: Option<Source>,
    version: Option<String>,
    license: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Source {
    display_name: Option<String>,
}

pub fn from_work(work: &Work) -> Vec<Candidate> {
    let mut located: Vec<(String, &Location)> = Vec::new();
    if let Some(best) = &work.best_oa_location {
        located.push(("best_oa_location".into(), best));
    }
    if let Some(primary) = work.primary_location.as_ref().filter(|l| is_open(l)) {
        located.push(("primary_location".into(), primary));
    }
    for (index, location) in work.locations.iter().flatten().enumerate() {
        if is_open(location) {
            located.push((format!("locations[{index}]"), location));
        }
    }

    let mut candidates = Candidates::default();
    let has_best = work.best_oa_location.is_some();
    for (rank, (name, location)) in located.iter().enumerate() {
        let score = if rank == 0 && has_best {
            BEST_PDF_SCORE
        } else {
            PDF_SCORE
        };
        candidates.add(
            location.pdf_url.as_deref(),
            score,
            Some(PDF),
            note(name, location),
        );
    }
    let open_access = work.open_access.as_ref();
    if let Some(open_access) = open_access {
        let content_type = open_access
            .oa_url
            .as_deref()
            .is_some_and(names_a_pdf)
            .then_some(PDF);
        let note = match &open_access.oa_status {
            Some(status) => format!("open_access.oa_url: {status}"),
            None => "open_access.oa_url".into(),
        };
        candidates.add(
            open_access.oa_url.as_deref(),
            OA_URL_SCORE,
            content_type,
            note,
        );
    }
    for (name, location) in &located {
        let note = format!("{} (landing page)", note(name, location));
        candidates.add(
            location.landing_page_url.as_deref(),
            LANDING_SCORE,
            None,
            note,
        );
    }

    let is_oa = open_access.and_then(|open| open.is_oa).unwrap_or(false);
    let has_pdf = candidates
        .iter()
        .any(|candidate| candidate.content_type.is_some());
    if !is_oa && !has_pdf {
        return Vec::new();
    }
    candidates.into_vec()
}

fn is_open(location: &Location) -> bool {
    location.is_oa == Some(true)
}

/// Whether the URL's path ends in `.pdf` (any case), ignoring its query and fragment.
fn names_a_pdf(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    path.len() >= 4 && path[path.len() - 4..].eq_ignore_ascii_case(".pdf")
}

/// e.g. `locations[1]: arXiv (Cornell University), submittedVersion, cc-by`.
fn note(name: &str, location: &Location) -> String {
    let source = location
        .source
        .as_ref()
        .and_then(|s| s.display_name.as_ref());
    let details: Vec<&str> = [source, location.version.as_ref(), location.license.as_ref()]
        .into_iter()
        .flatten()
        .map(String::as_str)
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

    fn work(json: &str) -> Work {
        serde_json::from_str(json).unwrap()
    }

    fn summary(work: &Work) -> Vec<(String, u32, Option<String>, String)> {
        from_work(work)
            .into_iter()
            .map(|c| (c.url, c.score, c.content_type, c.note.unwrap()))
            .collect()
    }

    #[test]
    fn best_pdf_then_other_pdfs_oa_url_and_landing_pages() {
        let work = work(
            r#"{
                "id": "https://openalex.org/W1", "doi": "https://doi.org/10.1/x",
                "open_access": {"is_oa": true, "oa_status": "green",
                    "oa_url": "https://mirror.example.org/x.PDF?download=1", "any_repository_has_fulltext": true},
                "best_oa_location": {"is_oa": true, "pdf_url": "https://repo.example.org/x.pdf",
                    "landing_page_url": "https://repo.example.org/x",
                    "source": {"id": "https://openalex.org/S1", "display_name": "Repo", "type": "repository"},
                    "license": "cc-by", "version": "acceptedVersion"},
                "primary_location": {"is_oa": false, "pdf_url": null,
                    "landing_page_url": "https://publisher.example.org/x", "source": null},
                "locations": [
                    {"is_oa": false, "pdf_url": "https://publisher.example.org/x.pdf",
                     "landing_page_url": "https://publisher.example.org/x"},
                    {"is_oa": true, "pdf_url": "https://repo.example.org/x.pdf",
                     "landing_page_url": "https://repo.example.org/x"},
                    {"is_oa": true, "pdf_url": "https://arxiv.example.org/pdf/x",
                     "landing_page_url": "https://arxiv.example.org/abs/x",
                     "source": {"display_name": "arXiv"}, "version": "submittedVersion", "license": null},
                    {"is_oa": true, "pdf_url": null, "landing_page_url": "https://other.example.org/x"}
                ]
            }"#,
        );
        let pdf = Some(PDF.to_string());
        assert_eq!(
            summary(&work),
            vec![
                (
                    "https://repo.example.org/x.pdf".into(),
                    100,
                    pdf.clone(),
                    "best_oa_location: Repo, acceptedVersion, cc-by".into()
                ),
                (
                    "https://arxiv.example.org/pdf/x".into(),
                    80,
                    pdf.clone(),
                    "locations[2]: arXiv, submittedVersion".into()
                ),
                (
                    "https://mirror.example.org/x.PDF?download=1".into(),
                    60,
                    pdf,
                    "open_access.oa_url: green".into()
                ),
                (
                    "https://repo.example.org/x".into(),
                    10,
                    None,
                    "best_oa_location: Repo, acceptedVersion, cc-by (landing page)".into()
                ),
                (
                    "https://arxiv.example.org/abs/x".into(),
                    10,
                    None,
                    "locations[2]: arXiv, submittedVersion (landing page)".into()
                ),
                (
                    "https://other.example.org/x".into(),
                    10,
                    None,
                    "locations[3] (landing page)".into()
                ),
            ]
        );
    }

    #[test]
    fn oa_url_without_pdf_suffix_has_no_content_type() {
        let work = work(
            r#"{"open_access": {"is_oa": true, "oa_status": "bronze", "oa_url": "https://pub.example.org/x"},
                "best_oa_location": null, "primary_location": null, "locations": []}"#,
        );
        assert_eq!(
            summary(&work),
            vec![(
                "https://pub.example.org/x".into(),
                60,
                None,
                "open_access.oa_url: bronze".into()
            )]
        );
    }

    #[test]
    fn closed_works_without_a_pdf_give_nothing() {
        let closed = work(
            r#"{"open_access": {"is_oa": false, "oa_status": "closed", "oa_url": null},
                "best_oa_location": null,
                "primary_location": {"is_oa": false, "pdf_url": null, "landing_page_url": "https://pub/x"},
                "locations": [{"is_oa": false, "pdf_url": "https://pub/x.pdf", "landing_page_url": "https://pub/x"}]}"#,
        );
        assert!(from_work(&closed).is_empty());
        let landing_only = work(
            r#"{"open_access": {"is_oa": false}, "best_oa_location":
                {"is_oa": true, "pdf_url": null, "landing_page_url": "https://repo/x"}}"#,
        );
        assert!(from_work(&landing_only).is_empty());
        assert!(from_work(&work("{}")).is_empty());
    }

    #[test]
    fn a_closed_flag_with_an_open_pdf_still_offers_it() {
        let work = work(
            r#"{"open_access": {"is_oa": false}, "locations":
                [{"is_oa": true, "pdf_url": "https://repo/x.pdf", "landing_page_url": "https://repo/x"}]}"#,
        );
        let found = summary(&work);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].1, 80);
    }

    #[test]
    fn pdf_suffix() {
        assert!(names_a_pdf("https://a/b.pdf"));
        assert!(names_a_pdf("https://a/b.Pdf#page=2"));
        assert!(!names_a_pdf("https://a/b.pdf/view"));
        assert!(!names_a_pdf("https://a/pdf"));
    }
}
