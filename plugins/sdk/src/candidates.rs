//! Building a resolver's answer: candidates in the order found, each URL once (the first time
//! it appears wins), blank or missing URLs left out.

use crate::types::Candidate;

#[derive(Debug, Default)]
pub struct Candidates(Vec<Candidate>);

impl Candidates {
    /// Adds `url` unless it is missing, blank or already there.
    pub fn add(&mut self, url: Option<&str>, score: u32, content_type: Option<&str>, note: String) {
        let Some(url) = url.map(str::trim).filter(|url| !url.is_empty()) else {
            return;
        };
        if self.0.iter().any(|known| known.url == url) {
            return;
        }
        self.0.push(Candidate {
            url: url.to_string(),
            content_type: content_type.map(str::to_string),
            score,
            headers: Vec::new(),
            note: Some(note),
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Candidate> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<Candidate> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_url_once_first_wins_blanks_dropped() {
        let mut found = Candidates::default();
        found.add(
            Some(" https://a/x.pdf "),
            100,
            Some("application/pdf"),
            "first".into(),
        );
        found.add(Some("https://a/x.pdf"), 10, None, "again".into());
        found.add(Some("  "), 5, None, "blank".into());
        found.add(None, 5, None, "missing".into());
        found.add(Some("https://b/"), 10, None, "landing".into());
        let found = found.into_vec();
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].url.as_str(), found[0].score),
            ("https://a/x.pdf", 100)
        );
        assert_eq!(found[0].note.as_deref(), Some("first"));
        assert_eq!(found[1].url, "https://b/");
    }
}
