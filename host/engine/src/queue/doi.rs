//! Idempotency keys of work-queue artifacts. A DOI is one artifact however it is written, so
//! every common written form reduces to the bare DOI (`10.<registrant>/<suffix>`): a
//! `doi.org`, `dx.doi.org` or `www.doi.org` URL with or without its scheme, a `doi:` or
//! `DOI:` label (also before such a URL), percent-encoding. DOIs are case-insensitive for
//! ASCII letters (DOI Handbook §2.4), so the key is the bare DOI in lowercase. Any other id
//! is its own key (surrounding white space trimmed).

use percent_encoding::percent_decode_str;

/// Hosts that resolve DOIs, as written before the DOI in a URL.
const RESOLVERS: [&str; 3] = ["doi.org/", "dx.doi.org/", "www.doi.org/"];

/// Strips `prefix` from the start of `text`, ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])
}

/// The bare DOI written in `text` (case kept), or `None` when it is not a DOI.
pub fn bare_doi(text: &str) -> Option<String> {
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

/// The idempotency key of artifact `id`: its bare DOI in lowercase, or the id itself.
pub fn idempotency_key(id: &str) -> String {
    bare_doi(id).map_or_else(|| id.trim().to_string(), |doi| doi.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form_of_a_doi_is_one_key() {
        for form in [
            "10.1038/Nature12373",
            " 10.1038/nature12373 ",
            "doi:10.1038/nature12373",
            "DOI: 10.1038/NATURE12373",
            "https://doi.org/10.1038/nature12373",
            "http://dx.doi.org/10.1038/nature12373",
            "doi.org/10.1038/nature12373",
            "dx.doi.org/10.1038/nature12373",
            "DOI: https://doi.org/10.1038/nature12373",
            "https://doi.org/10.1038%2Fnature12373",
            "HTTPS://WWW.DOI.ORG/10.1038/nature12373",
        ] {
            assert_eq!(idempotency_key(form), "10.1038/nature12373", "{form}");
        }
        assert_eq!(
            bare_doi("doi:10.1000.10/ABC(1)").as_deref(),
            Some("10.1000.10/ABC(1)")
        );
    }

    #[test]
    fn other_ids_are_their_own_keys() {
        for id in [
            "arXiv:2101.00001",
            "https://example.org/a.pdf",
            "10.x/y",
            "10.1/",
            "isbn:123",
        ] {
            assert_eq!(idempotency_key(id), id);
        }
    }
}
